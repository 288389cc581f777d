/**
 * Checks on plans beyond their schema (plan.ts), and the order they run in. `validatePlan` is what the
 * app runs on every plan it builds and the runner on every plan it receives: unique step names, known
 * `needs`, references only to outputs that exist and are listed in `needs`, no dependency cycles, and
 * the size bound. `validateJson` checks agent inputs and outputs against a prompt's schema.
 */
import {
  collectRefs,
  type JsonSchema,
  PLAN_LIMITS,
  type Plan,
  PlanSchema,
  type PlanValue,
  parseRef,
  type Step,
  stepOutputs,
} from "./plan";

export type PlanIssue = {
  /** Where in the plan, e.g. `steps[2].needs`. */
  path: string;
  message: string;
  /** Index of the step concerned, if any. */
  step?: number;
};

export type PlanValidation = { ok: true; plan: Plan } | { ok: false; errors: PlanIssue[] };

/**
 * Parses and checks a plan: the schema, unique step names, known `needs`, references to existing
 * outputs of steps listed in `needs`, no cycles, and the size bound.
 */
export function validatePlan(input: unknown): PlanValidation {
  const parsed = PlanSchema.safeParse(input);
  if (!parsed.success) {
    return {
      ok: false,
      errors: parsed.error.issues.map((i) => {
        const step = i.path[0] === "steps" && typeof i.path[1] === "number" ? i.path[1] : undefined;
        return { path: formatPath(i.path), message: i.message, ...(step === undefined ? {} : { step }) };
      }),
    };
  }
  const plan = parsed.data;
  const errors = [...checkSteps(plan.steps), ...checkResult(plan)];
  if (errors.length === 0) errors.push(...checkAcyclic(plan.steps));
  const bytes = JSON.stringify(plan).length;
  if (bytes > PLAN_LIMITS.maxPlanBytes) {
    errors.push({
      path: "",
      message: `the plan is ${bytes} bytes; the limit is ${PLAN_LIMITS.maxPlanBytes}`,
    });
  }
  return errors.length ? { ok: false, errors } : { ok: true, plan };
}

function formatPath(path: readonly PropertyKey[]): string {
  return path.map((p, i) => (typeof p === "number" ? `[${p}]` : `${i ? "." : ""}${String(p)}`)).join("");
}

/** The values of a step that may hold references. */
function stepValues(step: Step): [string, PlanValue][] {
  switch (step.kind) {
    case "run":
      return [
        ["cmd", step.cmd],
        ...Object.entries(step.env).map(([k, v]): [string, PlanValue] => [`env.${k}`, v]),
      ];
    case "git_diff":
      return [
        ["base", step.base],
        ["head", step.head],
      ];
    case "agent":
      return Object.entries(step.inputs).map(([k, v]): [string, PlanValue] => [`inputs.${k}`, v]);
  }
}

function checkRef(ref: string, byName: Map<string, Step>): string | undefined {
  const { step, output } = parseRef(ref);
  const target = byName.get(step);
  if (!target) return `reference to unknown step "${step}"`;
  if (output !== undefined && !stepOutputs(target).includes(output)) {
    const outs = stepOutputs(target);
    return `step "${step}" has no output "${output}" (outputs: ${outs.join(", ") || "none"})`;
  }
  return undefined;
}

function checkSteps(steps: Step[]): PlanIssue[] {
  const errors: PlanIssue[] = [];
  const byName = new Map<string, Step>();
  steps.forEach((s, i) => {
    if (byName.has(s.name))
      errors.push({ path: `steps[${i}].name`, step: i, message: `duplicate step name "${s.name}"` });
    else byName.set(s.name, s);
  });
  steps.forEach((s, i) => {
    const at = `steps[${i}]`;
    const seen = new Set<string>();
    for (const n of s.needs) {
      if (n === s.name) errors.push({ path: `${at}.needs`, step: i, message: `step "${n}" needs itself` });
      else if (!byName.has(n))
        errors.push({ path: `${at}.needs`, step: i, message: `needs unknown step "${n}"` });
      if (seen.has(n)) errors.push({ path: `${at}.needs`, step: i, message: `"${n}" is listed twice` });
      seen.add(n);
    }
    for (const [field, value] of stepValues(s)) {
      for (const ref of collectRefs(value)) {
        const problem = checkRef(ref, byName);
        if (problem) errors.push({ path: `${at}.${field}`, step: i, message: problem });
        else if (!s.needs.includes(parseRef(ref).step)) {
          errors.push({
            path: `${at}.${field}`,
            step: i,
            message: `references "${ref}" but does not list "${parseRef(ref).step}" in needs`,
          });
        }
      }
    }
    if (s.kind === "agent" && s.prompt.output_schema.type !== "object") {
      errors.push({
        path: `${at}.prompt.output_schema`,
        step: i,
        message: "an agent's output schema is an object",
      });
    }
  });
  return errors;
}

function checkResult(plan: Plan): PlanIssue[] {
  const byName = new Map(plan.steps.map((s) => [s.name, s]));
  const errors: PlanIssue[] = [];
  const values: [string, PlanValue][] = [
    ["result.message", plan.result.message],
    ...Object.entries(plan.result.outputs).map(([k, v]): [string, PlanValue] => [`result.outputs.${k}`, v]),
  ];
  for (const [path, value] of values) {
    for (const ref of collectRefs(value)) {
      const problem = checkRef(ref, byName);
      if (problem) errors.push({ path, message: problem });
    }
  }
  return errors;
}

function checkAcyclic(steps: Step[]): PlanIssue[] {
  const index = new Map(steps.map((s, i) => [s.name, i]));
  const state = new Array<0 | 1 | 2>(steps.length).fill(0); // 0 new, 1 on the stack, 2 done
  const stack: string[] = [];
  const visit = (i: number): PlanIssue | undefined => {
    if (state[i] === 2) return undefined;
    const s = steps[i]!;
    if (state[i] === 1) {
      const cycle = [...stack.slice(stack.indexOf(s.name)), s.name].join(" → ");
      return { path: `steps[${i}].needs`, step: i, message: `dependency cycle: ${cycle}` };
    }
    state[i] = 1;
    stack.push(s.name);
    for (const n of s.needs) {
      const found = visit(index.get(n)!);
      if (found) return found;
    }
    stack.pop();
    state[i] = 2;
    return undefined;
  };
  for (let i = 0; i < steps.length; i++) {
    const found = visit(i);
    if (found) return [found];
  }
  return [];
}

/** Step names in an order where every step comes after all of its needs (plan must be valid). */
export function stepOrder(plan: Pick<Plan, "steps">): string[] {
  const done = new Set<string>();
  const order: string[] = [];
  const byName = new Map(plan.steps.map((s) => [s.name, s]));
  const visit = (s: Step) => {
    if (done.has(s.name)) return;
    done.add(s.name);
    for (const n of s.needs) visit(byName.get(n)!);
    order.push(s.name);
  };
  for (const s of plan.steps) visit(s);
  return order;
}

/** Checks a JSON value against a {@link JsonSchema}; returns messages like `output.approved: expected boolean`. */
export function validateJson(schema: JsonSchema, value: unknown, at = "value"): string[] {
  const errors: string[] = [];
  const typeOk = (() => {
    switch (schema.type) {
      case "string":
        return typeof value === "string";
      case "number":
        return typeof value === "number" && Number.isFinite(value);
      case "integer":
        return typeof value === "number" && Number.isInteger(value);
      case "boolean":
        return typeof value === "boolean";
      case "null":
        return value === null;
      case "array":
        return Array.isArray(value);
      case "object":
        return typeof value === "object" && value !== null && !Array.isArray(value);
    }
  })();
  if (!typeOk) return [`${at}: expected ${schema.type}, got ${jsonTypeName(value)}`];
  if (schema.enum && !schema.enum.includes(value as string)) {
    errors.push(`${at}: expected one of ${schema.enum.map((e) => JSON.stringify(e)).join(", ")}`);
  }
  if (Array.isArray(value) && schema.items) {
    for (const [i, v] of value.entries()) errors.push(...validateJson(schema.items, v, `${at}[${i}]`));
  }
  if (schema.type === "object") {
    const obj = value as Record<string, unknown>;
    for (const r of schema.required ?? []) if (!Object.hasOwn(obj, r)) errors.push(`${at}.${r}: is required`);
    for (const [k, s] of Object.entries(schema.properties ?? {})) {
      if (Object.hasOwn(obj, k)) errors.push(...validateJson(s, obj[k], `${at}.${k}`));
    }
  }
  return errors;
}

function jsonTypeName(v: unknown): string {
  if (v === null) return "null";
  if (Array.isArray(v)) return "array";
  if (typeof v === "number" && Number.isInteger(v)) return "integer";
  return typeof v;
}
