/** The offline synth as people run it: `tsx infra/synth.ts …` in a child process. */
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { parseAllDocuments } from "yaml";
import { parseSynthArgs, plan, summary } from "../../infra/synth";
import type { Violation } from "../../policies/types";

function synth(...args: string[]) {
  const env = { ...process.env };
  delete env.NODE_OPTIONS;
  const r = spawnSync(process.execPath, ["--import", "tsx", "infra/synth.ts", ...args], {
    encoding: "utf8",
    env,
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe("npm run synth -- --all", () => {
  const out = mkdtempSync(path.join(tmpdir(), "plue-synth-"));
  let result: ReturnType<typeof synth>;
  beforeAll(() => {
    result = synth("--all", "--out", out);
  });
  const read = (stack: string, file: string) => readFileSync(path.join(out, stack, file), "utf8");

  it("succeeds and prints one clean row per stack", () => {
    expect(result.stderr).toBe("");
    expect(result.code).toBe(0);
    for (const stack of ["staging-base", "staging-alice", "production"]) {
      expect(result.stdout).toMatch(
        new RegExp(`^${stack}\\s+\\d+\\s+\\d+\\s+0\\s+0\\s+[\\d.]+s\\s+ok$`, "m"),
      );
    }
  });

  it("writes hardened runner pods and the network policies as YAML", () => {
    const docs = parseAllDocuments(read("staging-alice", "manifests.yaml")).map((d) => d.toJS());
    const pool = docs.find((d) => d.kind === "Deployment" && d.metadata.name === "plue-runner-pool");
    expect(pool.spec.template.spec).toMatchObject({
      runtimeClassName: "gvisor",
      automountServiceAccountToken: false,
    });
    expect(
      docs
        .filter((d) => d.kind === "NetworkPolicy")
        .map((d) => d.metadata.name)
        .sort(),
    ).toEqual(["api-ingress", "default-deny", "default-deny-ingress", "runner-egress"]);
  });

  it("records every resource with its parent and provider, secrets redacted", () => {
    const text = read("staging-alice", "resources.json");
    const resources = JSON.parse(text) as {
      type: string;
      name: string;
      parent?: string;
      provider?: string;
      inputs: Record<string, unknown>;
    }[];
    const db = resources.find((r) => r.type === "gcp:sql/database:Database")!;
    expect(db.parent).toMatch(/plue:gcp:AppDatabase::alice-database$/);
    expect(db.provider).toMatch(/pulumi:providers:gcp::gcp$/);
    expect(resources.find((r) => r.type === "gcp:sql/user:User")!.inputs.password).toBe("[secret]");
    expect(text).not.toMatch(/postgres:\/\/plue_alice:[A-Za-z0-9]/);
    expect(JSON.parse(read("staging-base", "outputs.json")).secretOutputNames).toEqual(["kubeconfig"]);
    expect(JSON.parse(read("staging-alice", "report.json")).violations).toEqual([]);
  });
});

describe("the summary", () => {
  const report = (violations: Violation[], invalid: { object: string; problems: string[] }[] = []) => ({
    stack: "production",
    resources: 3,
    kubernetesObjects: 1,
    invalid,
    violations,
    durationMs: 1200,
  });

  it("fails on a mandatory violation, an invalid object or a stack that could not run", () => {
    const violation: Violation = {
      policy: "ingress-tls",
      enforcementLevel: "mandatory",
      resource: "k::i",
      message: "has no tls",
    };
    expect(summary([{ stack: "production", report: report([]) }]).failed).toBe(false);
    const failed = summary([{ stack: "production", report: report([violation]) }]);
    expect(failed.failed).toBe(true);
    expect(failed.text).toMatch(/^production\s+3\s+1\s+0\s+1\s+1\.2s\s+FAIL$/m);
    expect(failed.text).toContain("production: [mandatory] ingress-tls k::i: has no tls");
    expect(
      summary([{ stack: "production", report: report([], [{ object: "o", problems: ["bad"] }]) }]).failed,
    ).toBe(true);
    expect(summary([{ stack: "staging-alice", error: "boom" }]).text).toMatch(
      /staging-alice.*ERROR[\s\S]*could not synthesise:\nboom/,
    );
  });

  it("lets advisory violations through", () => {
    const advisory: Violation = { policy: "x", enforcementLevel: "advisory", message: "consider" };
    expect(summary([{ stack: "production", report: report([advisory]) }]).failed).toBe(false);
  });
});

describe("synth arguments", () => {
  it("needs --all or --stack", () => {
    expect(() => parseSynthArgs([])).toThrow(/usage: npm run synth/);
    expect(() => parseSynthArgs(["--stack"])).toThrow(/--stack needs a value/);
    expect(() => parseSynthArgs(["--config", "noequals"])).toThrow(/<namespace:key>=<value>/);
  });

  it("runs staging-base first, adding it when an engineer stack needs its outputs", () => {
    const out = mkdtempSync(path.join(tmpdir(), "plue-plan-"));
    const available = ["staging-base", "production", "staging-alice"];
    expect(plan(parseSynthArgs(["--stack", "staging-alice", "--out", out]), available)).toEqual([
      "staging-base",
      "staging-alice",
    ]);
    expect(plan(parseSynthArgs(["--all", "--out", out]), available)).toEqual(available);
    expect(() => plan(parseSynthArgs(["--stack", "staging-zed", "--out", out]), available)).toThrow(
      /no Pulumi.staging-zed.yaml/,
    );
  });
});
