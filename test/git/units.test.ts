/** Name validation and pkt-line parsing: the pure parts of app/git. */

import { ReceivePackCommands, ReportStatus } from "../../app/git/pktline";
import {
  fullOid,
  NameError,
  validateOwner,
  validateRefName,
  validateRepoName,
  validateTreePath,
} from "../../app/wire/names";

const pkt = (s: string | Buffer) => {
  const b = Buffer.isBuffer(s) ? s : Buffer.from(s);
  return Buffer.concat([Buffer.from((b.length + 4).toString(16).padStart(4, "0")), b]);
};
const A = "a".repeat(40);
const B = "b".repeat(40);
const Z = "0".repeat(40);

describe("names", () => {
  it("accepts ordinary owner and repository names", () => {
    expect(validateOwner("demo")).toBe("demo");
    expect(validateRepoName("hello.world_2-x")).toBe("hello.world_2-x");
  });

  it.each([
    ["", "1-100 characters"],
    ["..", "start with a letter or digit"],
    [".hidden", "start with a letter or digit"],
    ["a..b", "must not contain '..'"],
    ["a/b", "may contain only"],
    ["a\0b", "may contain only"],
    ["x.git", "must not end in .git"],
    ["-rf", "start with a letter or digit"],
    ["x".repeat(101), "1-100 characters"],
  ])("refuses repository name %j", (name, message) => {
    expect(() => validateRepoName(name)).toThrow(NameError);
    expect(() => validateRepoName(name)).toThrow(message);
  });

  it("reserves owners that are URL segments of the platform", () => {
    expect(() => validateOwner("api")).toThrow("reserved");
    expect(() => validateOwner("Repos")).toThrow("reserved");
  });

  it("accepts full object ids only, lower-casing them", () => {
    expect(fullOid(A.toUpperCase())).toBe(A);
    expect(fullOid("c".repeat(64))).toBe("c".repeat(64));
    expect(fullOid("abc123")).toBeUndefined();
    expect(fullOid(`${A}0`)).toBeUndefined();
    expect(fullOid("g".repeat(40))).toBeUndefined();
  });

  it.each(["main", "feature/x", "v1.0", "refs/heads/main", "HEAD", "release-2024_01"])(
    "accepts ref %s",
    (ref) => {
      expect(validateRefName(ref)).toBe(ref);
    },
  );

  it.each([
    "main~1",
    "main^",
    "a..b",
    "@{yesterday}",
    "-x",
    "a//b",
    "a/.b",
    "x.lock",
    "a:b",
    "a b",
    "/a",
    "a/",
  ])("refuses ref %j (revision syntax or invalid name)", (ref) => {
    expect(() => validateRefName(ref)).toThrow(NameError);
  });

  it("canonicalises tree paths and refuses traversal", () => {
    expect(validateTreePath(undefined)).toBe("");
    expect(validateTreePath(["src", "lib", "x.ts"])).toBe("src/lib/x.ts");
    expect(validateTreePath(["src", ""])).toBe("src");
    for (const bad of [
      ["..", "etc"],
      ["a", ".", "b"],
      ["", "etc", "passwd"],
      ["a%00".replace("%00", "\0")],
      ["a\nb"],
    ]) {
      expect(() => validateTreePath(bad)).toThrow(NameError);
    }
    // A decoded %2F inside one segment is still split and checked.
    expect(() => validateTreePath(["a/../../b"])).toThrow("'.' or '..'");
  });
});

describe("receive-pack commands", () => {
  it("reads updates and capabilities up to the flush, ignoring the pack", () => {
    const c = new ReceivePackCommands();
    const body = Buffer.concat([
      pkt(`${Z} ${A} refs/heads/new\0report-status side-band-64k agent=git/2.39\n`),
      pkt(`${A} ${B} refs/heads/main\n`),
      pkt(`${A} ${Z} refs/tags/old\n`),
      Buffer.from("0000"),
      Buffer.from("PACK\x00\x00\x00\x02 binary pack data that is not pkt-line"),
    ]);
    // Split at every byte to prove the parser is incremental.
    for (let i = 0; i < body.length; i++) c.push(body.subarray(i, i + 1));
    expect(c.complete).toBe(true);
    expect(c.updates).toEqual([
      { before: Z, after: A, ref: "refs/heads/new" },
      { before: A, after: B, ref: "refs/heads/main" },
      { before: A, after: Z, ref: "refs/tags/old" },
    ]);
    expect([...c.capabilities]).toEqual(["report-status", "side-band-64k", "agent=git/2.39"]);
  });
});

describe("report-status", () => {
  it("reads ok/ng lines from inside side-band channel 1, skipping progress", () => {
    const inner = Buffer.concat([
      pkt("unpack ok\n"),
      pkt("ok refs/heads/main\n"),
      pkt("ng refs/heads/other non-fast-forward\n"),
      Buffer.from("0000"),
    ]);
    const outer = Buffer.concat([
      pkt(Buffer.concat([Buffer.from([2]), Buffer.from("Resolving deltas: 100%\n")])),
      pkt(Buffer.concat([Buffer.from([1]), inner.subarray(0, 7)])),
      pkt(Buffer.concat([Buffer.from([1]), inner.subarray(7)])),
      Buffer.from("0000"),
    ]);
    const r = new ReportStatus(true);
    r.push(outer);
    expect(r.unpackOk).toBe(true);
    expect([...r.ok]).toEqual(["refs/heads/main"]);
    expect(r.rejected.get("refs/heads/other")).toBe("non-fast-forward");
  });

  it("reads a plain report and notices a failed unpack", () => {
    const r = new ReportStatus(false);
    r.push(
      Buffer.concat([pkt("unpack index-pack abnormal exit\n"), pkt("ng refs/heads/main unpacker error\n")]),
    );
    expect(r.unpackOk).toBe(false);
    expect(r.ok.size).toBe(0);
  });
});
