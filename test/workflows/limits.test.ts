/** Limits a hostile workflow file meets before and during evaluation: size, nesting, caps, formats. */
import { errorOf, errorsOf, HEADER, inBody, planOf } from "./helpers";

const DEEP_MESSAGE = "nesting deeper than 100 levels (brackets, f-string braces and prefix operators count)";

describe("the parser's input is bounded", () => {
  it("refuses a file over the size limit, saying the size and the limit", () => {
    const big = `${HEADER}    x = 1\n${"# padding\n".repeat(30000)}`;
    expect(errorsOf(big)).toEqual([
      `.plue/workflows/t.py:1:1: the file is ${Buffer.byteLength(big)} bytes; the limit is 256 KiB`,
    ]);
  });

  it("reports deep brackets at the bracket that crosses the limit, fast, for any size", () => {
    // 100 000 brackets: lezer took seconds on these and said "syntax error: unexpected `[`".
    for (const n of [101, 3000, 100_000]) {
      const started = performance.now();
      const src = `${HEADER}    x = ${"[".repeat(n)}${"]".repeat(n)}\n`;
      expect(errorsOf(src)).toEqual([`.plue/workflows/t.py:4:${9 + 100}: ${DEEP_MESSAGE}`]);
      // A functional bound with a wide margin (the scan is linear; lezer took 1.8 s at 60 000).
      expect(performance.now() - started).toBeLessThan(1000);
    }
  });

  it("counts every kind of bracket, unclosed ones, and f-string braces", () => {
    const mixed = `${HEADER}    x = ${"[(".repeat(60)}\n`;
    expect(errorsOf(mixed)).toEqual([`.plue/workflows/t.py:4:${9 + 100}: ${DEEP_MESSAGE}`]);
    const fstr = `${HEADER}    x = ${"(".repeat(99)}f"{(1)}"${")".repeat(99)}\n`;
    expect(errorsOf(fstr)).toEqual([`.plue/workflows/t.py:4:${9 + 99 + 3}: ${DEEP_MESSAGE}`]);
  });

  it("counts long runs of prefix operators", () => {
    const nots = `${HEADER}    x = ${"not ".repeat(20_000)}True\n`;
    expect(errorsOf(nots)).toEqual([`.plue/workflows/t.py:4:${9 + 400}: ${DEEP_MESSAGE}`]);
    const negs = `${HEADER}    x = ${"-".repeat(200_000)}1\n`;
    expect(errorsOf(negs)).toEqual([`.plue/workflows/t.py:4:${9 + 100}: ${DEEP_MESSAGE}`]);
  });

  it("does not count brackets in strings and comments, nor ordinary code", () => {
    const src = inBody(
      [
        `# ${"(".repeat(500)}`,
        `a = "${"[".repeat(500)}"`,
        `b = '''${"{".repeat(500)}\n${"(".repeat(500)}'''`,
        `c = f"{{${"(".repeat(200)}}}"`,
        `d = r"\\${"(".repeat(300)}"`,
        `e = 1 - -1 + (-2) - (not True) * 3`,
        `return ctx.success(n=len(a) + len(b) + len(c) + len(d) + e)`,
      ].join("\n"),
    );
    expect(planOf(src).result.outputs.n).toBe(500 + 1001 + 204 + 301 + 2);
  });

  it("accepts nesting up to the limit", () => {
    const src = inBody(`x = ${"[".repeat(95)}1${"]".repeat(95)}\nreturn ctx.success(ok=True)`);
    expect(planOf(src).result.outputs.ok).toBe(true);
  });
});

describe("caps and unbounded builtins", () => {
  it("refuses more workflows in one file than the cap, at the one over it", () => {
    const defs = (n: number) =>
      Array.from({ length: n }, (_, i) => `@workflow(triggers=[push()])\ndef w${i}(ctx):\n    pass\n`).join(
        "",
      );
    const src = `from plue import workflow, push\n${defs(21)}`;
    expect(errorsOf(src)).toEqual([
      ".plue/workflows/t.py:63:5: more than 20 workflows in one file (PLUE_WORKFLOWS_PER_FILE): split the file",
    ]);
    expect(errorsOf(`from plue import workflow, push\n${defs(3)}`, { limits: { maxWorkflows: 2 } })).toEqual([
      ".plue/workflows/t.py:9:5: more than 2 workflows in one file (PLUE_WORKFLOWS_PER_FILE): split the file",
    ]);
  });

  it("bounds format widths and precisions before building the text", () => {
    expect(errorOf(`f"{1:>1000000000}"`)).toMatch(
      /a format width of 1000000000 is over the limit of 1000000$/,
    );
    expect(errorOf(`"{:<1000000000}".format(1)`)).toMatch(/a format width of 1000000000 is over/);
    expect(errorOf(`f"{1.5:.1000f}"`)).toMatch(/a format precision of 1000 is over the limit of 100$/);
  });

  it("bounds repetition and integers", () => {
    expect(errorOf(`"a" * 10**9`)).toMatch(/a string of 1000000000 characters is over the limit of 1000000$/);
    expect(errorOf(`10**10**10`)).toMatch(/integer overflow/);
    expect(errorOf(`[x for x in range(10**9)]`)).toMatch(/over the limit of 10000$/);
  });

  it("freezes a module-level value that shares one list many times in linear time", () => {
    const src = `x = [[1] * 10000] * 10000\n${HEADER}    return ctx.success(n=len(x))\n`;
    const started = performance.now();
    expect(planOf(src).result.outputs.n).toBe(10000);
    expect(performance.now() - started).toBeLessThan(2000); // 5 s before (10^8 visits)
  });
});
