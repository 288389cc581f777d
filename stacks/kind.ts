import { validateEngineerName } from "./engineer";

export const BASE_STACK = "staging-base";
export const PRODUCTION_STACK = "production";
const ENGINEER_PREFIX = "staging-";

/** The three kinds of stack; the program builds a different set of resources for each. */
export type StackKind =
  | { readonly kind: "staging-base"; readonly stack: string }
  | { readonly kind: "staging-engineer"; readonly stack: string; readonly engineer: string }
  | { readonly kind: "production"; readonly stack: string };

/** Maps a stack name to its kind, refusing names that fit none. */
export function stackKind(stack: string): StackKind {
  if (stack === BASE_STACK) return { kind: "staging-base", stack };
  if (stack === PRODUCTION_STACK) return { kind: "production", stack };
  if (stack.startsWith(ENGINEER_PREFIX)) {
    return {
      kind: "staging-engineer",
      stack,
      engineer: validateEngineerName(stack.slice(ENGINEER_PREFIX.length)),
    };
  }
  throw new Error(
    `unknown stack "${stack}": expected ${BASE_STACK}, ${PRODUCTION_STACK} or ${ENGINEER_PREFIX}<engineer>`,
  );
}

export function engineerStackName(engineer: string): string {
  return `${ENGINEER_PREFIX}${validateEngineerName(engineer)}`;
}
