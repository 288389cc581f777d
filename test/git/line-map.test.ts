/** app/git/line-map.ts: where a commented line is after the head moved. */
import { hunkRanges, relocateLine, relocateLines, relocatePosition, shiftLine } from "../../app/git/line-map";
import { FixtureRepo, lines } from "./pulls-fixture";

let r: FixtureRepo;
let v1: string;
beforeAll(async () => {
  r = await FixtureRepo.create();
  v1 = await r.commit({
    branch: "pr",
    parent: null,
    files: { "f.txt": lines(50), "other.txt": lines(5), "-n x.txt": lines(3) },
  });
});
afterAll(() => r.cleanup());

describe("shiftLine (pure)", () => {
  const hunks = hunkRanges("@@ -3,0 +4,2 @@\n+a\n+b\n@@ -10,2 +12 @@\n-x\n-y\n+z\n@@ -20 +21,0 @@\n-q\n");
  it.each([
    [1, 1],
    [3, 3],
    [4, 6],
    [9, 11],
    [10, null],
    [11, null],
    [12, 13],
    [19, 20],
    [20, null],
    [21, 21],
  ])("old line %i is at %p", (line, expected) => {
    expect(shiftLine(hunks, line)).toBe(expected);
  });
  it("reads counts that git leaves out as 1", () => {
    expect(hunkRanges("@@ -7 +7 @@ fn()")).toEqual([{ oldStart: 7, oldCount: 1, newStart: 7, newCount: 1 }]);
  });
});

describe("relocateLine", () => {
  it("shifts a line down when lines are inserted above it, and keeps lines above", async () => {
    const v2 = await r.commit({ branch: "pr", files: { "f.txt": `new 1\nnew 2\nnew 3\n${lines(50)}` } });
    expect(await relocateLine(r.dir, v1, v2, "f.txt", 10)).toBe(13);
    expect(await relocateLine(r.dir, v1, v2, "f.txt", 1)).toBe(4);
    expect(await relocateLine(r.dir, v1, v2, "other.txt", 2)).toBe(2); // untouched file
  });

  it("gives null for a changed or removed line, shifts up after a removal", async () => {
    const text = lines(50).replace("line 20\n", "changed 20\n").replace("line 5\n", "");
    const v2 = await r.commit({ branch: "pr", parent: v1, files: { "f.txt": text } });
    const { path, lines: at } = await relocateLines(r.dir, v1, v2, "f.txt", [4, 5, 6, 20, 21]);
    expect(path).toBe("f.txt");
    expect(at).toEqual([4, null, 5, null, 20]);
  });

  it("gives null once the file is deleted", async () => {
    const v2 = await r.commit({ branch: "pr", parent: v1, files: { "f.txt": null } });
    expect(await relocateLine(r.dir, v1, v2, "f.txt", 3)).toBeNull();
    expect(await relocatePosition(r.dir, v1, v2, "f.txt", 3)).toBeNull();
    expect(await relocateLine(r.dir, v1, v2, "never-there.txt", 3)).toBeNull();
  });

  it("follows a rename", async () => {
    const v2 = await r.commit({
      branch: "pr",
      parent: v1,
      files: { "f.txt": null, "moved/f.txt": `top\n${lines(50).replace("line 30\n", "thirty\n")}` },
    });
    expect(await relocatePosition(r.dir, v1, v2, "f.txt", 10)).toEqual({ path: "moved/f.txt", line: 11 });
    expect(await relocateLine(r.dir, v1, v2, "f.txt", 30)).toBeNull();
  });

  it("handles a name with a leading dash and a space", async () => {
    const v2 = await r.commit({ branch: "pr", parent: v1, files: { "-n x.txt": `zero\n${lines(3)}` } });
    expect(await relocateLine(r.dir, v1, v2, "-n x.txt", 2)).toBe(3);
  });
});
