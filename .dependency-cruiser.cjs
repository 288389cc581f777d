/**
 * The layer rules of the codebase (docs/architecture.md draws them). `npm run depcruise` checks them, and the
 * README's test command runs it: a forbidden import fails CI with the rule's name and the import.
 *
 * Type-only imports count: a service that names an HTTP type still depends on the HTTP layer.
 */
const SERVICES = "^app/(auth|dispatch|runs|sessions|events|git|workflows|issues|pulls)/";

module.exports = {
  forbidden: [
    {
      name: "wire-is-a-leaf",
      comment:
        "app/wire is the contract every side imports (server, runner, web, CLI): it imports nothing else of the codebase.",
      severity: "error",
      from: { path: "^app/wire/" },
      to: { path: "^(app|runner|web|edge|constructs|stacks|policies|infra)/", pathNot: "^app/wire/" },
    },
    {
      name: "services-not-http",
      comment:
        "Services throw AppError (app/errors.ts) and know nothing of HTTP; the HTTP layer calls them, never the reverse.",
      severity: "error",
      from: { path: SERVICES },
      to: { path: "^(app/http|app/cli|web)/" },
    },
    {
      name: "services-not-composition-root",
      comment:
        "Only app/platform.ts and the entry points build the platform; services declare the narrow dependencies they need.",
      severity: "error",
      from: { path: SERVICES },
      to: { path: "^app/(compose|platform)\\.ts$" },
    },
    {
      name: "runner-only-wire",
      comment: "The runner runs in a sandboxed pod: from the app it shares only the wire protocol.",
      severity: "error",
      from: { path: "^runner/" },
      to: { path: "^(app|web|edge|constructs|stacks|policies|infra)/", pathNot: "^app/wire/" },
    },
    {
      name: "clients-only-wire",
      comment: "app/client is what the browser and the CLI share: it speaks the API through app/wire alone.",
      severity: "error",
      from: { path: "^app/client/" },
      to: {
        path: "^(app|runner|web|edge|constructs|stacks|policies|infra)/",
        pathNot: "^app/(wire|client)/",
      },
    },
    {
      name: "web-only-wire-and-client",
      comment: "The web UI is a browser bundle: it imports app/wire, app/client and its own files.",
      severity: "error",
      from: { path: "^web/" },
      to: { path: "^(app|runner|edge|constructs|stacks|policies|infra)/", pathNot: "^app/(wire|client)/" },
    },
    {
      name: "no-circular",
      comment:
        "No import cycles: they make start-up order and layering fragile. The workflow interpreter is exempt inside itself (its evaluator and values call each other, as starlark-go's do).",
      severity: "error",
      from: { pathNot: "^app/workflows/" },
      to: { circular: true },
    },
    {
      name: "not-to-tests",
      comment: "Production code never imports test helpers.",
      severity: "error",
      from: { pathNot: "^(test|bench)/" },
      to: { path: "^test/" },
    },
  ],
  options: {
    doNotFollow: { path: "node_modules" },
    exclude: { path: "^(node_modules|dist)/" },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: "tsconfig.json" },
    enhancedResolveOptions: {
      exportsFields: ["exports"],
      conditionNames: ["import", "require", "node", "default", "types"],
      extensions: [".ts", ".mts", ".js", ".mjs", ".cjs", ".json"],
    },
    reporterOptions: { text: { highlightFocused: true } },
  },
};
