/** Every router of the API, in mounting order. Each area adds its own line. */
import type { Router } from "express";
import type { AppContext } from "../context";

export function routers(_ctx: AppContext): Router[] {
  return [];
}
