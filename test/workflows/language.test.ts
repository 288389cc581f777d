/** The dialect itself: Python semantics that matter, what is forbidden, syntax errors, budgets. */
import { errorOf, errorsOf, HEADER, inBody, planOf, pyValue } from "./helpers";

describe("Python semantics", () => {
  it.each([
    ["7 / 2", 3.5],
    ["7 // 2", 3],
    ["-7 // 2", -4],
    ["-7 % 3", 2],
    ["7 % -3", -2],
    ["2 ** 10", 1024],
    ["2 ** -1", 0.5],
    ["True + 1", 2],
    ["1 == 1.0", true],
    ["1 < 2 < 3", true],
    ["3 > 2 > 2", false],
    ["0 < 1 == 1", true],
    ["[1, 2] < [1, 3]", true],
    ["not []", true],
    ["[] or 'd'", "d"],
    ["0 and 1", 0],
    ["1 if None else 2", 2],
    ["'a' * 3", "aaa"],
    ["[1, 2] * 2", [1, 2, 1, 2]],
    ["(1,) + (2,)", [1, 2]],
    ["str(1.0)", "1.0"],
    ["str(1e16)", "1e+16"],
    ["str(0.00001)", "1e-05"],
    ["str(None) + str(True)", "NoneTrue"],
    ["repr('it\\'s')", `"it's"`],
    ["repr([1, 'a', (2,), {'k': None}])", "[1, 'a', (2,), {'k': None}]"],
    ["f'{1 + 1}x{2.5:.3f}|{\"a\"!r}|{3:>4}|{7:03d}|{{}}'", "2x2.500|'a'|   3|007|{}"],
    ["f'{ctx.event.branch=}'", "ctx.event.branch='main'"],
    ["'x' 'y' f'{1}'", "xy1"],
    ["'tab\\there\\x41\\u00e9'", "tab\thereAé"],
    ["r'a\\nb'", "a\\nb"],
    ["'''multi\nline'''", "multi\n    line"], // inBody indents the second line
    ["'a,b,,c'.split(',')", ["a", "b", "", "c"]],
    ["' a  b '.split()", ["a", "b"]],
    ["'a b c'.split(' ', 1)", ["a", "b c"]],
    ["'-'.join(['a', 'b'])", "a-b"],
    ["'  x '.strip() + '|' + 'xxaxx'.strip('x')", "x|a"],
    ["'refs/heads/main'.removeprefix('refs/heads/')", "main"],
    ["'aaa'.replace('a', 'b', 2)", "bba"],
    ["'Hello {}! {name}'.format('a', name='b')", "Hello a! b"],
    ["'release/1.2'.startswith(('hot', 'release/'))", true],
    ["'abc'[::-1] + 'abc'[-1] + 'abcdef'[1:4]", "cbacbcd"],
    ["len('héllo')", 5],
    ["[len('😀😀'), 'h😀x'[1], '😀ab'[1:], ''[1:], 'abcdef'[1:5:2]]", [2, "😀", "ab", "", "bd"]],
    ["[x * x for x in range(5) if x % 2]", [1, 9]],
    [
      "[(i, j) for i in range(2) for j in 'ab']",
      [
        [0, "a"],
        [0, "b"],
        [1, "a"],
        [1, "b"],
      ],
    ],
    ["{k: v for k, v in [('a', 1), ('b', 2)]}", { a: 1, b: 2 }],
    ["{'a': 1, **{'b': 2}}", { a: 1, b: 2 }],
    ["[*[1, 2], 3]", [1, 2, 3]],
    ["sorted([3, 1, 2], reverse=True)", [3, 2, 1]],
    ["sorted(['bb', 'a', 'ccc'], key=lambda s: len(s))", ["a", "bb", "ccc"]],
    ["max([1, 5, 3]) + min(4, 2)", 7],
    [
      "list(zip([1, 2], 'ab'))",
      [
        [1, "a"],
        [2, "b"],
      ],
    ],
    [
      "list(enumerate('ab', 1))",
      [
        [1, "a"],
        [2, "b"],
      ],
    ],
    ["any(x > 2 for x in [1, 3]) and all([1, True])", true],
    ["sum([1, 2, 3]) + abs(-4)", 10],
    ["int('42') + int(3.9) + int('ff', 16)", 300],
    ["round(2.5) + round(3.5)", 6],
    ["{'a': 1}.get('b', 0)", 0],
    [
      "sorted({'b': 1, 'a': 2}.items())",
      [
        ["a", 2],
        ["b", 1],
      ],
    ],
    ["'k' in {'k': 1} and 2 in [1, 2] and 'a' in 'cat' and 3 not in (1,)", true],
    ["None is None and 1 is not None", true],
    ["dict(a=1, b=[2])", { a: 1, b: [2] }],
    ["list(range(10, 0, -3))", [10, 7, 4, 1]],
  ])("%s", (expr, expected) => {
    expect(pyValue(expr)).toEqual(expected);
  });

  it("runs statements: loops with break/continue/else, unpacking, mutation, closures, defaults", () => {
    const plan = planOf(`from plue import workflow, push

SUITES = ["unit", "e2e"]

def scale(n, by=2):
    def times(x):
        return x * by
    return times(n)

@workflow(triggers=[push()])
def w(ctx):
    total = 0
    for i in range(10):
        if i == 5:
            break
        elif i % 2:
            continue
        total += i
    else:
        total = -1
    found = "none"
    for s in SUITES:
        pass
    else:
        found = "all"
    a, (b, c) = 1, [2, 3]
    d = {"x": [1]}
    d["y"] = 2
    d["x"] += [5]
    xs = []
    xs.append(1)
    xs += [2]
    xs.extend((3,))
    add = lambda y, z=2: y + z
    assert total == 6, "loop arithmetic"
    return ctx.success(total=total, found=found, abc=[a, b, c], d=d, xs=xs, add=add(1), scaled=scale(3), again=scale(3, by=3))
`);
    expect(plan.result.outputs).toEqual({
      total: 6,
      found: "all",
      abc: [1, 2, 3],
      d: { x: [1, 5], y: 2 },
      xs: [1, 2, 3],
      add: 3,
      scaled: 6,
      again: 9,
    });
  });

  it("reports runtime errors with the position of the failing part", () => {
    expect(errorOf("1 < 'a'")).toBe(".plue/workflows/t.py:4:28: `<` is not supported between int and str");
    expect(errorOf("[1][5]")).toBe(".plue/workflows/t.py:4:29: index 5 is out of range (length 1)");
    expect(errorOf("{'a': 1}['b']")).toMatch(/4:34: key 'b' is not in the dict$/);
    expect(errorOf("undefined_name")).toMatch(/4:26: name `undefined_name` is not defined$/);
    expect(errorOf("ctx.evnt")).toMatch(/4:30: `ctx` has no attribute `evnt` \(did you mean `event`\?\)$/);
    expect(errorOf("'ab'.uper()")).toMatch(/a str has no attribute `uper` \(did you mean `upper`\?\)$/);
    expect(errorOf("ctx.event.pull_request.base")).toMatch(
      /4:49: `ctx.event.pull_request` is None, so it has no attribute `base`$/,
    );
    expect(errorOf("1 / 0")).toMatch(/division by zero$/);
    expect(errorOf("'%s' % 1")).toMatch(/`%` formatting is not supported: use an f-string$/);
    expect(errorOf("10 ** 20")).toMatch(/integer overflow/);
    expect(errorsOf(inBody("assert 1 == 2, 'math broke'"))).toEqual([
      ".plue/workflows/t.py:4:5: assertion failed: math broke",
    ]);
  });

  it("freezes module-level values so evaluations cannot leak into each other", () => {
    const errors = errorsOf(`from plue import workflow, push
SEEN = []
@workflow(triggers=[push()])
def w(ctx):
    SEEN.append(1)
`);
    expect(errors).toEqual([
      ".plue/workflows/t.py:5:5: this list is read-only (module-level values are frozen once the file has loaded); copy it first",
    ]);
  });
});

describe("forbidden constructs", () => {
  const src = `from plue import workflow, push
import os
from plue import *

class A: pass

@workflow(triggers=[push()])
def w(ctx):
    while True:
        pass
    try:
        x = 1
    except:
        pass
    with open("f") as f:
        pass
    global g
    eval("1")
    exec("1")
    __import__("os")
    x = ctx.__class__
    del x
    raise x
    y = {1, 2}
    z = (q := 3)
    async def f(): pass
    yield 1
    return x | 1
`;

  it("names every construct with its position, even on code that never runs", () => {
    expect(errorsOf(src)).toEqual(
      [
        "2:1: only `plue` and `plue.prompts` can be imported, not `os`",
        "3:18: `import *` is not allowed: name what you import",
        "5:1: `class` definitions are not allowed",
        "9:5: `while` loops are not allowed: loop with `for` over a list or range()",
        "11:5: `try` is not allowed: return ctx.failure(...) to fail the workflow",
        "15:5: `with` is not allowed",
        "17:5: `global` and `nonlocal` are not allowed",
        "18:5: `eval` is not allowed: workflows cannot run dynamic code",
        "19:5: `exec` is not allowed: workflows cannot run dynamic code",
        "20:5: names starting with `_` are not allowed: `__import__`",
        "21:13: names starting with `_` are not allowed: `__class__`",
        "22:5: `del` is not allowed",
        "23:5: `raise` is not allowed: return ctx.failure(...) to fail the workflow",
        "24:9: sets are not supported: use a list",
        "25:10: assignment expressions (`:=`) are not allowed",
        "26:5: `async def` is not allowed",
        "27:5: `yield` (generators) is not allowed",
        "28:14: the bitwise operator `|` is not supported",
      ].map((e) => `.plue/workflows/t.py:${e}`),
    );
  });

  it.each([
    ["open('x')", "`open` is not allowed: workflows cannot read or write files"],
    ["nonlocal_thing = getattr(ctx, 'run')", "`getattr` is not allowed"],
    ["x = _private", "names starting with `_` are not allowed: `_private`"],
    ["for _ in [1]: pass", "names starting with `_` are not allowed: `_`"],
    ["x = ctx.run(name='a', cmd='b').__dict__", "names starting with `_` are not allowed: `__dict__`"],
    ["match x:\n    case 1: pass", "`match` is not supported"],
    ["x = ...", "`...` is not supported"],
    ["def f(*args): pass", "`*` parameters are not supported"],
    ["x = b'bytes'", "bytes literals are not supported"],
    ["x = 1j", "complex numbers are not supported"],
    ["x = 0777", "leading zeros in integers are not allowed"],
    ["x = f'a}b'", "single `}` is not allowed in an f-string"],
    ["x = {x for x in []}", "sets are not supported"],
    ["x = '\\N{DASH}'", "\\N{...} escapes are not supported"],
  ])("%s", (code, message) => {
    expect(errorsOf(inBody(code)).join("\n")).toContain(message);
  });

  it("allows imports only at the top of the file", () => {
    expect(errorsOf(inBody("from plue import push"))).toEqual([
      ".plue/workflows/t.py:4:5: imports belong at the top of the file",
    ]);
  });

  it("refuses recursion, direct, mutual and through lambdas", () => {
    expect(errorsOf(inBody("def r(n):\n    return r(n)\nr(1)"))).toEqual([
      ".plue/workflows/t.py:5:16: recursion is not allowed: `r` calls itself",
    ]);
    const mutual = `from plue import workflow, push
def f(n):
    return g(n)
def g(n):
    return f(n) if n else 0
@workflow(triggers=[push()])
def w(ctx):
    return ctx.success(v=f(3))
`;
    expect(errorsOf(mutual)).toEqual([
      ".plue/workflows/t.py:5:12: recursion is not allowed: `f` → `g` → `f`",
    ]);
    expect(errorsOf(inBody("f = lambda g: g(g)\nf(lambda g: g(g))"))).toEqual([
      ".plue/workflows/t.py:5:17: recursion is not allowed: `<lambda>` calls itself",
    ]);
  });
});

describe("syntax errors", () => {
  it("points at each broken line once", () => {
    const src = `${HEADER}    x = (1 +\n    y = 2 2 3\n    return x[\n`;
    expect(errorsOf(src)).toEqual([
      ".plue/workflows/t.py:5:7: syntax error: unexpected `=`",
      ".plue/workflows/t.py:7:1: syntax error: unexpected end of file",
    ]);
  });

  it("reports missing colons, bad indentation and unterminated strings", () => {
    expect(errorsOf("def f(:\n  pass\nx = = 2\nif x\n  y = 1\n")).toEqual([
      ".plue/workflows/t.py:1:7: syntax error: unexpected `:`",
      ".plue/workflows/t.py:3:5: syntax error: unexpected `=`",
      ".plue/workflows/t.py:4:5: syntax error: unexpected end of line",
    ]);
    expect(errorsOf(`${HEADER}return 1\n`)).toEqual([
      ".plue/workflows/t.py:4:1: syntax error: unexpected `return`",
    ]);
    expect(errorsOf(inBody('x = "abc'))).toEqual([
      ".plue/workflows/t.py:4:9: syntax error: unterminated string",
    ]);
  });

  it("requires at least one workflow in a file", () => {
    expect(errorsOf("x = 1\n")).toEqual([
      ".plue/workflows/t.py:1:1: no workflow here: define a function decorated with @workflow(triggers=[...])",
    ]);
  });
});

describe("budgets end evaluation with an error, never a hang", () => {
  it("stops long loops by counting steps", () => {
    const started = performance.now();
    const errors = errorsOf(
      inBody("n = 0\nfor i in range(10000):\n    for j in range(10000):\n        n += 1"),
    );
    expect(errors).toEqual([
      ".plue/workflows/t.py:7:18: evaluation took more than 100000 steps (is a loop too long?)",
    ]);
    expect(performance.now() - started).toBeLessThan(5000); // 10^8 iterations otherwise
  });

  it("stops on wall time", () => {
    const errors = errorsOf(
      inBody("n = 0\nfor i in range(10000):\n    for j in range(10000):\n        n += 1"),
      {
        limits: { maxSteps: 1e9, maxMillis: 50 },
      },
    );
    expect(errors.join()).toMatch(/evaluation took longer than 50 ms/);
  });

  it("bounds strings, lists, ranges and total allocation", () => {
    expect(errorOf("'x' * 10 ** 7")).toMatch(/a string of 10000000 characters is over the limit of 1000000$/);
    expect(errorsOf(inBody("s = 'x'\nfor i in range(40):\n    s = s + s")).join()).toMatch(
      /6:15: a string of 1048576 characters is over the limit/,
    );
    expect(errorOf("list(range(100000))")).toMatch(
      /a collection of 100000 items is over the limit of 10000$/,
    );
    expect(errorsOf(inBody("xs = []\nfor i in range(10001):\n    xs.append(i)")).join()).toMatch(
      /a collection of 10001 items is over the limit of 10000/,
    );
    expect(errorOf("[0] * 20000")).toMatch(/over the limit of 10000/);
    expect(errorsOf(inBody("xs = ['x' * 900000 for i in range(30)]")).join()).toMatch(
      /evaluation created more than 20000000 characters and items/,
    );
  });

  it("bounds the text of values shared many times", () => {
    expect(errorOf("str(['x' * 900000] * 5000)")).toMatch(
      /the text of this value would be larger than 2097152 characters$/,
    );
    expect(errorOf("['x' * 900000] * 5000")).toMatch(
      /this value in the plan would be larger than 1048576 characters$/,
    );
  });

  it("bounds nesting in the source and in values", () => {
    const deep = `${HEADER}    x = ${"[".repeat(500)}${"]".repeat(500)}\n`;
    expect(errorsOf(deep)).toEqual([
      ".plue/workflows/t.py:4:109: nesting deeper than 100 levels (brackets, f-string braces and prefix operators count)",
    ]);
    const nested = inBody("x = []\nfor i in range(200):\n    x = [x]\nreturn ctx.success(v=x)");
    expect(errorsOf(nested)).toEqual([
      ".plue/workflows/t.py:7:12: a value is nested more than 100 levels deep",
    ]);
  });

  it("bounds call depth", () => {
    const defs = Array.from({ length: 40 }, (_, i) => `def f${i}(n):\n    return f${i + 1}(n)`).join("\n");
    const src = `from plue import workflow, push\n${defs}\ndef f40(n):\n    return n\n@workflow(triggers=[push()])\ndef w(ctx):\n    return ctx.success(v=f0(1))\n`;
    expect(errorsOf(src).join()).toMatch(/calls are nested more than 32 deep/);
  });

  it("bounds the file size", () => {
    const big = `${HEADER}    x = 1\n${"# padding\n".repeat(30000)}`;
    expect(errorsOf(big)).toEqual([
      `.plue/workflows/t.py:1:1: the file is ${Buffer.byteLength(big)} bytes; the limit is 256 KiB`,
    ]);
  });
});
