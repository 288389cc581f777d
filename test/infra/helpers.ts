import type { StackRun } from "../../infra/run";

/** What an engineer stack's StackReference sees, taken from a staging-base run. */
export function baseStackReferenceFrom(base: StackRun) {
  return {
    "organization/plue/staging-base": { outputs: base.outputs, secretOutputNames: base.secretOutputNames },
  };
}
