/**
 * The gVisor sandbox as GKE exposes it, and the network a runner in it may reach. The node pool
 * (constructs/gcp) carries the taint, the runner pod (constructs/k8s) tolerates it and selects the
 * RuntimeClass, the runner namespace's NetworkPolicy (constructs/k8s/network.ts) allows the egress,
 * and the policies check all of them, so the names, ports and ranges live here once.
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

/** Runners may resolve names through kube-dns on this port (UDP and TCP)… */
export const DNS_PORT = 53;
/** …and open TCP connections on this one, to public addresses only. */
export const HTTPS_PORT = 443;
/** Every IPv4 address: runner egress allows it less FORBIDDEN_EGRESS_CIDRS. */
export const ANY_IPV4_CIDR = "0.0.0.0/0";
