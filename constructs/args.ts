/** One problem with a component's Args, naming the property so the fix is obvious. */
export interface ArgsProblem {
  readonly property: string;
  readonly message: string;
}

/** Thrown when a component's Args are invalid; collects every problem rather than the first. */
export class ArgsError extends Error {
  constructor(
    readonly component: string,
    readonly problems: readonly ArgsProblem[],
  ) {
    super(
      `${component}: invalid args:\n${problems.map((p) => `  - ${p.property}: ${p.message}`).join("\n")}`,
    );
    this.name = "ArgsError";
  }
}

/** Collects problems; `throwIfAny` raises them together. */
export class ArgsCheck {
  private readonly problems: ArgsProblem[] = [];
  constructor(private readonly component: string) {}

  require(ok: boolean, property: string, message: string): this {
    if (!ok) this.problems.push({ property, message });
    return this;
  }

  throwIfAny(): void {
    if (this.problems.length > 0) throw new ArgsError(this.component, this.problems);
  }
}
