import { mkdtempSync, readFileSync } from "node:fs";
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
