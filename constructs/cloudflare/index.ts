export * from "./edge-worker";
