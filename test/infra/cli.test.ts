import { existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { jest } from "@jest/globals";
import { main } from "../../app/cli/stack";

function capture() {
  const out: string[] = [];
  const err: string[] = [];
  const into = (sink: string[]) => (s: unknown) => {
    sink.push(String(s));
    return true;
  };
  const o = jest.spyOn(process.stdout, "write").mockImplementation(into(out));
  const e = jest.spyOn(process.stderr, "write").mockImplementation(into(err));
  return {
    out: () => out.join(""),
    err: () => err.join(""),
    restore: () => {
      o.mockRestore();
      e.mockRestore();
    },
  };
}

describe("plue stack", () => {
  it("init writes Pulumi.staging-<engineer>.yaml", async () => {
    const dir = mkdtempSync(path.join(tmpdir(), "plue-cli-"));
    const io = capture();
    const code = await main(["init", "dana", "--dir", dir]);
    io.restore();
    expect(code).toBe(0);
    expect(io.out()).toContain("pulumi stack init staging-dana");
    expect(readFileSync(path.join(dir, "Pulumi.staging-dana.yaml"), "utf8")).toContain("plue:runnerImage:");
  });

  it("refuses a reserved or malformed name with the reason", async () => {
    const io = capture();
    const reserved = await main(["init", "api"]);
    const malformed = await main(["up", "Dana"]);
    io.restore();
    expect([reserved, malformed]).toEqual([2, 2]);
    expect(io.err()).toContain('"api" is reserved');
    expect(io.err()).toContain("lowercase");
  });

  it("says clearly when the pulumi CLI is absent", async () => {
    const path0 = process.env.PATH;
    process.env.PATH = mkdtempSync(path.join(tmpdir(), "plue-empty-path-"));
    const io = capture();
    const code = await main(["preview", "dana"]);
    io.restore();
    process.env.PATH = path0;
    expect(code).toBe(127);
    expect(io.err()).toContain("the pulumi CLI is not on PATH");
    expect(io.err()).toContain("npm run synth -- --stack staging-dana");
  });

  it("prints usage for unknown verbs", async () => {
    const io = capture();
    const code = await main(["frobnicate", "dana"]);
    io.restore();
    expect(code).toBe(2);
    expect(io.err()).toContain('unknown verb "frobnicate"');
  });
});

describe("plue stack idle (the TTL sweep)", () => {
  // The Pulumi service cannot run here: a stand-in `pulumi` on PATH answers `stack ls --json` in
  // the CLI's format and records every other call.
  function fakePulumi(stacks: unknown) {
    const dir = mkdtempSync(path.join(tmpdir(), "plue-fake-pulumi-"));
    const log = path.join(dir, "calls.log");
    const script = `#!/bin/sh\necho "$*" >> "${log}"\nif [ "$1" = stack ] && [ "$2" = ls ]; then cat <<'JSON'\n${JSON.stringify(stacks)}\nJSON\nfi\n`;
    writeFileSync(path.join(dir, "pulumi"), script, { mode: 0o755 });
    return { dir, calls: () => (existsSync(log) ? readFileSync(log, "utf8").trim().split("\n") : []) };
  }
  const recent = new Date(Date.now() - 3600_000).toISOString();
  const old = new Date(Date.now() - 30 * 86_400_000).toISOString();
  const stacks = [
    { name: "staging-base", lastUpdate: old },
    { name: "production", lastUpdate: old },
    { name: "staging-alice", lastUpdate: recent },
    { name: "staging-bob", lastUpdate: old },
    { name: "staging-carol" },
  ];

  async function withPath<T>(dir: string, fn: () => Promise<T>): Promise<T> {
    const path0 = process.env.PATH;
    process.env.PATH = `${dir}${path.delimiter}${path0}`;
    try {
      return await fn();
    } finally {
      process.env.PATH = path0;
    }
  }

  it("lists engineer stacks idle past the TTL and destroys nothing without --destroy", async () => {
    const fake = fakePulumi(stacks);
    const io = capture();
    const code = await withPath(fake.dir, () => main(["idle", "--ttl", "7d"]));
    io.restore();
    expect(code).toBe(0);
    expect(io.out()).toContain("staging-bob");
    expect(io.out()).toContain("staging-carol");
    expect(io.out()).not.toContain("staging-alice");
    expect(io.out()).not.toContain("staging-base");
    expect(fake.calls()).toEqual(["stack ls --all --json"]);
  });

  it("--destroy destroys and removes exactly the idle ones", async () => {
    const fake = fakePulumi(stacks);
    const io = capture();
    const code = await withPath(fake.dir, () => main(["idle", "--ttl", "2w", "--destroy"]));
    io.restore();
    expect(code).toBe(0);
    expect(fake.calls().slice(1)).toEqual([
      "destroy --yes --remove --stack staging-bob",
      "destroy --yes --remove --stack staging-carol",
    ]);
  });

  it("refuses a TTL it cannot read", async () => {
    const io = capture();
    const code = await main(["idle", "--ttl", "soon"]);
    io.restore();
    expect(code).toBe(2);
    expect(io.err()).toContain("expected a duration such as 12h, 7d or 2w");
  });
});

it("init on an existing file keeps it (safe to re-run)", async () => {
  const dir = mkdtempSync(path.join(tmpdir(), "plue-cli-"));
  await main(["init", "erin", "--dir", dir]);
  const file = path.join(dir, "Pulumi.staging-erin.yaml");
  writeFileSync(file, `${readFileSync(file, "utf8")}# my edit\n`);
  const io = capture();
  const code = await main(["init", "erin", "--dir", dir]);
  io.restore();
  expect(code).toBe(0);
  expect(io.out()).toContain("already exists; kept as it is");
  expect(readFileSync(file, "utf8")).toContain("# my edit");
});
