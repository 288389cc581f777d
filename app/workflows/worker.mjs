// The workflow pool's worker from a checkout (`npm start` under tsx, jest under @swc/jest): a worker
// thread gets neither loader, so this registers tsx's and loads the TypeScript worker. The bundle
// uses its prebuilt dist/workflow-worker.js instead and never loads this file (tsx is a dev tool).
import { register } from "tsx/esm/api";

register();
const worker = await import("./worker.ts");
export default worker.default;
