// Pulumi.yaml's `main`. Pulumi calls the default export and uses its result as the stack's outputs.
import { program } from "./program";

export default program;
