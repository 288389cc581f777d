import { containsBlock, parseIpv4Cidr } from "../../policies/cidr";
import { RESOURCE_RULES, runPolicies, STACK_RULES } from "../../policies/rules";
import { context, environmentResources, gkeCluster, mutate, runnerJobResource } from "./fixtures";

const rules = [...RESOURCE_RULES, ...STACK_RULES];

describe("the rule set", () => {
  it("names every rule uniquely in kebab-case, as CrossGuard requires", () => {
    expect(new Set(rules.map((r) => r.name)).size).toBe(rules.length);
    for (const r of rules) expect(r.name).toMatch(/^[a-z0-9]+(-[a-z0-9]+)*$/);
  });

  it("describes every rule in one sentence and makes it mandatory", () => {
    for (const r of rules) {
      expect(r.description).toMatch(/^[A-Z][^.]*(\.[^.]+)*\.$/);
      expect(r.description.length).toBeLessThanOrEqual(160);
      expect(r.enforcementLevel).toBe("mandatory");
    }
  });
});

describe("runPolicies", () => {
  it("passes a clean environment and reports each violation with its rule and resource", () => {
    const resources = [...environmentResources(), runnerJobResource(), gkeCluster()];
    expect(runPolicies(resources, context)).toEqual([]);
    const broken = [...resources, mutate(gkeCluster(), (p) => (p.enableLegacyAbac = true))];
    expect(runPolicies(broken, context)).toEqual([
      {
        policy: "gke-cluster-hardened",
        enforcementLevel: "mandatory",
        resource: "gcp:container/cluster:Cluster::staging",
        message: "enableLegacyAbac must be off: ABAC grants bypass RBAC",
      },
    ]);
  });

  it("reports stack-rule violations without a resource", () => {
    const resources = environmentResources().filter((r) => r.props.metadata?.name !== "default-deny");
    const [violation] = runPolicies(resources, context);
    expect(violation?.policy).toBe("runner-namespace-isolated");
    expect(violation).not.toHaveProperty("resource");
  });
});

describe("IPv4 CIDR arithmetic", () => {
  const block = (c: string) => parseIpv4Cidr(c)!;

  it("normalises host bits and rejects malformed blocks", () => {
    expect(parseIpv4Cidr("10.1.2.3/8")).toEqual({ base: 10 * 2 ** 24, prefix: 8 });
    for (const bad of ["10.0.0.0", "256.0.0.0/8", "10.0.0.0/33", "a.b.c.d/8"])
      expect(parseIpv4Cidr(bad)).toBeUndefined();
  });

  it("knows which blocks contain which", () => {
    expect(containsBlock(block("0.0.0.0/0"), block("169.254.0.0/16"))).toBe(true);
    expect(containsBlock(block("172.16.0.0/12"), block("172.31.255.0/24"))).toBe(true);
    expect(containsBlock(block("172.16.0.0/12"), block("172.32.0.0/16"))).toBe(false);
    expect(containsBlock(block("10.0.0.0/16"), block("10.0.0.0/8"))).toBe(false);
  });
});
