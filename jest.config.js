// Jest runs TypeScript as native ESM through @swc/jest (see DESIGN.md §7: PGlite needs
// --experimental-vm-modules, which `npm run test:unit` sets).
export default {
  testEnvironment: "node",
  extensionsToTreatAsEsm: [".ts"],
  transform: {
    "^.+\\.ts$": [
      "@swc/jest",
      {
        jsc: { parser: { syntax: "typescript" }, target: "es2022" },
        module: { type: "es6" },
      },
    ],
  },
  testMatch: ["<rootDir>/test/**/*.test.ts"],
  testTimeout: 60000,
  maxWorkers: 2,
  forceExit: false,
};
