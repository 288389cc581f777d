export * from "./app";
export * from "./environment";
export * from "./labels";
export * from "./namespaces";
export * from "./network";
export * from "./runner-pod";
export * from "./warm-pool";
