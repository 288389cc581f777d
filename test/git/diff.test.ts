/** app/git/diff.ts against real repositories: merge bases, commits, paged file diffs, lines. */
import { changedPaths, diffFiles, diffLines, listCommits, mergeBase } from "../../app/git/diff";
import { InvalidCommitIdError } from "../../app/git/run";
import { FixtureRepo, lines } from "./pulls-fixture";

let r: FixtureRepo;
let base: string;
let head: string;
const NON_UTF8 = Buffer.from([0x6c, 0x61, 0x74, 0x69, 0x6e, 0xe9, 0x2e, 0x74, 0x78, 0x74]); // "latin\xe9.txt"

beforeAll(async () => {
  r = await FixtureRepo.create();
  base = await r.commit({
    branch: "main",
    parent: null,
    message: "base",
    files: [
      ["moved.txt", lines(40)],
      ["image.bin", Buffer.from([0, 1, 2, 3, 0, 255])],
      ["gone.txt", "bye\n"],
      ["edit.txt", lines(30)],
    ],
  });
  await r.run(["update-ref", "refs/heads/feature", base]);
  await r.commit({
    branch: "feature",
    message: "first on feature\n\nwith a body",
    author: { name: "Ada Lovelace", email: "ada@example.com" },
    files: [
      ["moved.txt", null],
      ["renamed/moved.txt", lines(40).replace("line 20\n", "line twenty\n")],
      ["image.bin", Buffer.from([0, 1, 2, 3, 0, 254, 7])],
    ],
  });
  head = await r.commit({
    branch: "feature",
    message: "second on feature",
    files: [
      ["gone.txt", null],
      ["edit.txt", lines(30).replace("line 15\n", "line fifteen\nan extra line\n")],
      ["with space.txt", "a b\n"],
      ["new\nline.txt", "nl\n"],
      ["-rf", "dash\n"],
      [NON_UTF8, "é\n"],
    ],
  });
});
afterAll(() => r.cleanup());

describe("mergeBase", () => {
  it("finds the fork point and null for unrelated histories", async () => {
    expect(await mergeBase(r.dir, base, head)).toBe(base);
    const lonely = await r.commit({ branch: "lonely", parent: null, files: { "x.txt": "x\n" } });
    expect(await mergeBase(r.dir, lonely, head)).toBeNull();
  });

  it.each(["main", "--upload-pack=touch /tmp/x", "abc123", `${"a".repeat(40)} `])(
    "refuses %j as a commit id",
    async (bad) => {
      await expect(mergeBase(r.dir, bad, head)).rejects.toBeInstanceOf(InvalidCommitIdError);
    },
  );
});

describe("listCommits", () => {
  it("lists base..head oldest first with authors, dates, parents and messages", async () => {
    const { commits, total } = await listCommits(r.dir, base, head);
    expect(total).toBe(2);
    expect(commits.map((c) => c.title)).toEqual(["first on feature", "second on feature"]);
    const [first, second] = commits;
    expect(first?.message).toBe("first on feature\n\nwith a body");
    expect(first?.author).toEqual({
      name: "Ada Lovelace",
      email: "ada@example.com",
      date: expect.stringMatching(/^2024-01-01T\d\d:\d\d:\d\dZ$/),
    });
    expect(first?.parents).toEqual([base]);
    expect(second?.parents).toEqual([first?.sha]);
    expect(second?.sha).toBe(head);
  });

  it("stops at the limit but counts them all", async () => {
    const { commits, total } = await listCommits(r.dir, base, head, { limit: 1 });
    expect(total).toBe(2);
    expect(commits.map((c) => c.title)).toEqual(["first on feature"]);
    expect((await listCommits(r.dir, head, head)).total).toBe(0);
  });
});

describe("diffFiles", () => {
  it("lists every kind of change with counts, blob ids and patches", async () => {
    const d = await diffFiles(r.dir, base, head);
    const byName = new Map(d.files.map((f) => [f.filename, f]));
    expect(d.total).toBe(8);
    expect([...byName.keys()].sort()).toEqual(
      [
        "-rf",
        "edit.txt",
        "gone.txt",
        "image.bin",
        "latin\uFFFD.txt",
        "new\nline.txt",
        "renamed/moved.txt",
        "with space.txt",
      ].sort(),
    );
    const moved = byName.get("renamed/moved.txt");
    expect(moved).toMatchObject({
      status: "renamed",
      previous_filename: "moved.txt",
      additions: 1,
      deletions: 1,
      binary: false,
    });
    expect(moved?.patch).toMatch(/^@@ -17,7 \+17,7 @@/);
    expect(moved?.patch).toContain("-line 20\n+line twenty");
    const bin = byName.get("image.bin");
    expect(bin).toMatchObject({ status: "modified", binary: true, summary: "binary file", additions: 0 });
    expect(bin?.patch).toBeUndefined();
    expect(byName.get("gone.txt")).toMatchObject({
      status: "removed",
      deletions: 1,
      new_sha: null,
      patch: "@@ -1 +0,0 @@\n-bye",
    });
    expect(byName.get("gone.txt")?.old_sha).toMatch(/^[0-9a-f]{40}$/);
    expect(byName.get("edit.txt")).toMatchObject({
      status: "modified",
      additions: 2,
      deletions: 1,
      changes: 3,
    });
    for (const name of ["with space.txt", "new\nline.txt", "-rf", "latin\uFFFD.txt"]) {
      const f = byName.get(name);
      expect(f).toMatchObject({ status: "added", additions: 1, old_sha: null });
      expect(f?.patch).toMatch(/^@@ -0,0 \+1 @@\n\+/);
    }
    expect(byName.get("latin\uFFFD.txt")?.patch).toBe("@@ -0,0 +1 @@\n+é");
    expect(d.additions).toBe(1 + 2 + 4);
    expect(d.deletions).toBe(1 + 1 + 1);
  });

  it("summarises a file with too many lines and one whose patch is too big", async () => {
    const b = await r.commit({ branch: "big", parent: base, files: { "small.txt": "s\n" } });
    const wide = Array.from({ length: 4 }, (_, i) => `${String(i).repeat(200_000)}\n`).join("");
    const h = await r.commit({
      branch: "big",
      files: {
        "long.txt": lines(12_000),
        "wide.txt": wide,
        "small.txt": "t\n",
        "empty.txt": "",
        "one-line.min.js": `${"x".repeat(3 * 1024 * 1024)}\n`,
      },
    });
    const d = await diffFiles(r.dir, b, h);
    const byName = new Map(d.files.map((f) => [f.filename, f]));
    expect(byName.get("long.txt")).toMatchObject({
      additions: 12_000,
      summary: "too large to show: 12,000 lines",
    });
    expect(byName.get("long.txt")?.patch).toBeUndefined();
    expect(byName.get("wide.txt")).toMatchObject({
      additions: 4,
      binary: false,
      summary: "too large to show: 781.3 KiB",
    });
    expect(byName.get("wide.txt")?.patch).toBeUndefined();
    expect(byName.get("one-line.min.js")).toMatchObject({
      additions: 1,
      summary: "too large to show: 3.0 MiB",
    });
    expect(byName.get("one-line.min.js")?.patch).toBeUndefined();
    expect(byName.get("small.txt")?.patch).toBe("@@ -1 +1 @@\n-s\n+t");
    expect(byName.get("empty.txt")).toEqual({
      filename: "empty.txt",
      status: "added",
      additions: 0,
      deletions: 0,
      changes: 0,
      binary: false,
      old_sha: null,
      new_sha: "e69de29bb2d1d6434b8b29ae775ad8c2e48c5391",
    });
    expect(d.additions).toBe(12_006);
  });

  it("pages over the files in git's order, patches only for the page", async () => {
    const files: Record<string, string> = {};
    for (let i = 0; i < 250; i++) files[`dir/f${String(i).padStart(3, "0")}.txt`] = `content ${i}\n`;
    const h = await r.commit({ branch: "many", parent: base, files });
    const all = [];
    for (let page = 1; page <= 3; page++) {
      const d = await diffFiles(r.dir, base, h, { page, perPage: 100 });
      expect(d.total).toBe(250);
      expect(d.additions).toBe(250);
      expect(d.files.length).toBe(page === 3 ? 50 : 100);
      for (const f of d.files)
        expect(f.patch).toBe(`@@ -0,0 +1 @@\n+content ${Number(f.filename.slice(5, 8))}`);
      all.push(...d.files.map((f) => f.filename));
    }
    expect(all).toEqual(Object.keys(files).sort());
    expect((await diffFiles(r.dir, base, h, { page: 4, perPage: 100 })).files).toEqual([]);
  });
});

describe("a page whose raw part spans many pipe chunks", () => {
  it("still gives every file its own patch", async () => {
    const files: Record<string, string> = {};
    for (let i = 0; i < 300; i++) files[`${"long-name-".repeat(22)}${i}.txt`] = `body ${i}\n`;
    const h = await r.commit({ branch: "long-names", parent: base, files });
    const d = await diffFiles(r.dir, base, h, { page: 1, perPage: 300 });
    expect(d.files).toHaveLength(300);
    for (const f of d.files)
      expect(f.patch).toBe(`@@ -0,0 +1 @@\n+body ${/(\d+)\.txt$/.exec(f.filename)?.[1]}`);
  });
});

describe("pathspec magic in names", () => {
  it("treats names that look like pathspec magic or globs literally", async () => {
    const names = [":(top)weird", ":!x", "*star", "[ab].txt", "a"];
    const h = await r.commit({
      branch: "magic",
      parent: base,
      files: Object.fromEntries(names.map((n) => [n, `${n}\n`])),
    });
    const seen: string[] = [];
    for (let page = 1; page <= names.length; page++) {
      const [f] = (await diffFiles(r.dir, base, h, { page, perPage: 1 })).files;
      expect(f?.patch).toBe(`@@ -0,0 +1 @@\n+${f?.filename}`);
      seen.push(f?.filename ?? "");
      const lines = await diffLines(r.dir, base, h, f?.filename ?? "");
      expect([...lines.right]).toEqual([1]);
    }
    expect(seen.sort()).toEqual([...names].sort());
  });
});

describe("changedPaths and diffLines", () => {
  it("names both sides of a rename, and gives up past max", async () => {
    const paths = await changedPaths(r.dir, base, head);
    expect(paths).toEqual(expect.arrayContaining(["moved.txt", "renamed/moved.txt", "new\nline.txt", "-rf"]));
    expect(paths).toHaveLength(9);
    expect(await changedPaths(r.dir, base, head, 3)).toBeUndefined();
  });

  it("gives the lines the hunks show, context included", async () => {
    const { left, right } = await diffLines(r.dir, base, head, "edit.txt");
    // line 15 became two lines: the hunk is old 12-18, new 12-19
    expect([...left].sort((a, b) => a - b)).toEqual([12, 13, 14, 15, 16, 17, 18]);
    expect([...right].sort((a, b) => a - b)).toEqual([12, 13, 14, 15, 16, 17, 18, 19]);
    expect(right.has(1)).toBe(false);
    const added = await diffLines(r.dir, base, head, "-rf");
    expect([...added.right]).toEqual([1]);
    expect(added.left.size).toBe(0);
  });

  it("compares a renamed file with its old name, found or told", async () => {
    for (const [path, previousPath] of [
      ["renamed/moved.txt", undefined],
      ["moved.txt", undefined],
      ["renamed/moved.txt", "moved.txt"],
    ] as const) {
      const { left, right } = await diffLines(r.dir, base, head, path, { previousPath });
      expect([...left].sort((a, b) => a - b)).toEqual([17, 18, 19, 20, 21, 22, 23]);
      expect([...right].sort((a, b) => a - b)).toEqual([17, 18, 19, 20, 21, 22, 23]);
    }
    const removed = await diffLines(r.dir, base, head, "gone.txt");
    expect([...removed.left]).toEqual([1]);
    expect(removed.right.size).toBe(0);
    const untouched = await diffLines(r.dir, base, head, "not-there.txt");
    expect(untouched.left.size + untouched.right.size).toBe(0);
  });
});
