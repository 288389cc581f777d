export * from "./config";
export * from "./engineer";
export * from "./kind";
