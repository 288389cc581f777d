// `npm run stack:init -- <engineer>`: the same code as `plue stack init <engineer>`.
import { main } from "../app/cli/stack";

process.exitCode = await main(["init", ...process.argv.slice(2)]);
