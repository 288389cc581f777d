#!/usr/bin/env node
// The `plue` command. From a checkout it runs the TypeScript sources through tsx; a container
// image runs the esbuild bundle (dist/plue.js) instead and never reaches this file.
import { register } from "tsx/esm/api";

register();
const { main } = await import("../app/cli/main.ts");
process.exitCode = await main(process.argv.slice(2));
