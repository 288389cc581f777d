export * from "./cluster";
export * from "./database";
export * from "./environment";
export * from "./network";
export * from "./postgres";
export * from "./sandbox-pool";
