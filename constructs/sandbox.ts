/**
 * The gVisor sandbox as GKE exposes it. The node pool (constructs/gcp) carries the taint, the runner
 * pod (constructs/k8s) tolerates it and selects the RuntimeClass, and the policies check both, so
 * the names live here once.
 */
export const GVISOR = {
  /** RuntimeClass GKE creates when a node pool has `sandboxConfig: gvisor`. */
  runtimeClassName: "gvisor",
  /** Taint key and value GKE puts on sandbox nodes (and label it adds to them). */
  taintKey: "sandbox.gke.io/runtime",
  taintValue: "gvisor",
} as const;

/** The label the sandbox node pool's nodes carry; policies find sandbox pools by it. */
export const SANDBOX_POOL_LABEL = { key: "plue.dev/pool", value: "sandbox" } as const;

/** Where a runner may never connect: RFC 1918 private ranges and link-local (the metadata server). */
export const FORBIDDEN_EGRESS_CIDRS = [
  "10.0.0.0/8",
  "172.16.0.0/12",
  "192.168.0.0/16",
  "169.254.0.0/16",
] as const;
