// Entry of the bundled CLI (dist/plue.js), used by container images instead of bin/plue.js.
import { main } from "../app/cli/main";

process.exitCode = await main(process.argv.slice(2));
