import { existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { parse } from "yaml";
import { DEFAULT_REGISTRY, parseStackConfig, StackConfigError } from "../../stacks/config";
import { InvalidEngineerNameError, validateEngineerName } from "../../stacks/engineer";
import { listStacks, readStackFile, writeEngineerStackFile } from "../../stacks/files";
import { idleStacks } from "../../stacks/idle";
import { engineerStackName, stackKind } from "../../stacks/kind";
import { engineerEnvironment } from "../../stacks/names";

const tmp = () => mkdtempSync(path.join(tmpdir(), "plue-stacks-"));

describe("validateEngineerName", () => {
  it.each(["alice", "bob-2", "a", "x".repeat(20)])("accepts %s", (name) => {
    expect(validateEngineerName(name)).toBe(name);
  });

  it.each([
    ["", /empty/],
    ["x".repeat(21), /21 characters; at most 20/],
    ["Alice", /lowercase/],
    ["al_ice", /DNS-1123/],
    ["-alice", /DNS-1123/],
    ["alice-", /DNS-1123/],
    ["2fast", /start with a letter/],
    ["base", /"base" is reserved/],
    ["production", /reserved/],
    ["www", /reserved/],
    ["api", /reserved/],
    ["kube-alice", /"kube-" are reserved/],
  ])("refuses %j saying why", (name, reason) => {
    expect(() => validateEngineerName(name)).toThrow(InvalidEngineerNameError);
    expect(() => validateEngineerName(name)).toThrow(reason);
  });
});

describe("stackKind", () => {
  it("tells the three kinds apart", () => {
    expect(stackKind("staging-base")).toEqual({ kind: "staging-base", stack: "staging-base" });
    expect(stackKind("production")).toEqual({ kind: "production", stack: "production" });
    expect(stackKind("staging-alice")).toEqual({
      kind: "staging-engineer",
      stack: "staging-alice",
      engineer: "alice",
    });
    expect(engineerStackName("alice")).toBe("staging-alice");
  });

  it("refuses other names and bad engineers through the same check", () => {
    expect(() => stackKind("dev")).toThrow(/expected staging-base, production or staging-<engineer>/);
    expect(() => stackKind("staging-www")).toThrow(/reserved/);
  });

  it("derives one engineer's names", () => {
    expect(engineerEnvironment("mary-jo")).toEqual({
      namespace: "plue-mary-jo",
      host: "mary-jo.staging.plue.dev",
      database: "plue_mary_jo",
    });
  });
});

describe("parseStackConfig", () => {
  const image = `${DEFAULT_REGISTRY}/plue-app:0.1.0`;

  it("applies defaults and coerces numbers", () => {
    const c = parseStackConfig("staging-engineer", "staging-alice", {
      "plue:appImage": image,
      "plue:runnerImage": image,
      "plue:warmPoolSize": "3",
    });
    expect(c).toMatchObject({
      "plue:warmPoolSize": 3,
      "plue:appReplicas": 1,
      "plue:registry": DEFAULT_REGISTRY,
    });
  });

  it("lists every problem by its full key", () => {
    let error: StackConfigError | undefined;
    try {
      parseStackConfig("production", "production", {
        "gcp:project": "X",
        "plue:appImage": "not an image",
        "plue:sandboxMaxNodes": "0",
        "plue:sizee": "1",
      });
    } catch (err) {
      error = err as StackConfigError;
    }
    expect(error).toBeInstanceOf(StackConfigError);
    const keys = error!.problems.map((p) => p.split(":").slice(0, 2).join(":"));
    expect(keys).toEqual(
      expect.arrayContaining([
        "plue:sizee",
        "gcp:project",
        "plue:appImage",
        "plue:runnerImage",
        "plue:sandboxMaxNodes",
      ]),
    );
    expect(error!.message).toContain("invalid configuration for stack production");
  });

  it("accepts the committed stack files", () => {
    for (const stack of listStacks(process.cwd())) {
      const kind = stackKind(stack).kind;
      expect(() => parseStackConfig(kind, stack, readStackFile(process.cwd(), stack).config)).not.toThrow();
    }
  });
});

describe("stack files", () => {
  it("lists shared stacks first", () => {
    const dir = tmp();
    for (const s of ["staging-zed", "production", "staging-alice", "staging-base"])
      writeFileSync(path.join(dir, `Pulumi.${s}.yaml`), "config: {}\n");
    writeFileSync(path.join(dir, "Pulumi.yaml"), "name: plue\n");
    expect(listStacks(dir)).toEqual(["staging-base", "production", "staging-alice", "staging-zed"]);
  });

  it("flattens config the way Pulumi hands it to programs", () => {
    const dir = tmp();
    writeFileSync(
      path.join(dir, "Pulumi.production.yaml"),
      "config:\n  plue:appReplicas: 3\n  plue:list: [a, b]\n  plue:token:\n    secure: AAABAx==\n",
    );
    expect(readStackFile(dir, "production")).toEqual({
      config: {
        "plue:appReplicas": "3",
        "plue:list": '["a","b"]',
        "plue:token": "offline-placeholder-for-a-secure-value",
      },
      secretKeys: ["plue:token"],
    });
  });

  it("writes a new engineer's file with defaults the program accepts, once", () => {
    const dir = tmp();
    const { stack, file } = writeEngineerStackFile(dir, "carol");
    expect(stack).toBe("staging-carol");
    const doc = parse(readFileSync(file, "utf8"));
    expect(doc.config["plue:warmPoolSize"]).toBe(2);
    expect(() => parseStackConfig("staging-engineer", stack, readStackFile(dir, stack).config)).not.toThrow();
    expect(() => writeEngineerStackFile(dir, "carol")).toThrow(/already exists/);
    expect(() => writeEngineerStackFile(dir, "Carol")).toThrow(InvalidEngineerNameError);
    expect(existsSync(path.join(dir, "Pulumi.staging-Carol.yaml"))).toBe(false);
  });
});

describe("idleStacks", () => {
  it("expires only engineer stacks older than the TTL (or never deployed)", () => {
    const now = new Date("2026-01-10T00:00:00Z");
    const day = 24 * 3600 * 1000;
    const stacks = [
      { name: "org/plue/staging-alice", lastUpdate: "2026-01-01T00:00:00Z" },
      { name: "staging-bob", lastUpdate: "2026-01-09T12:00:00Z" },
      { name: "staging-carol" },
      { name: "staging-base", lastUpdate: "2025-01-01T00:00:00Z" },
      { name: "production", lastUpdate: "2025-01-01T00:00:00Z" },
    ];
    expect(idleStacks(stacks, 3 * day, now).map((s) => s.name)).toEqual([
      "org/plue/staging-alice",
      "staging-carol",
    ]);
  });
});
