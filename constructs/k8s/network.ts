import * as kplus from "cdk8s-plus-32";
import { Construct } from "constructs";
import { ANY_IPV4_CIDR, DNS_PORT, FORBIDDEN_EGRESS_CIDRS, HTTPS_PORT } from "../sandbox";
import { KUBE_DNS, RUNNER_SELECTOR } from "./labels";

export interface RunnerNetworkPoliciesProps {
  readonly namespace: string;
}

/**
 * Locks down a runner namespace: everything is denied both ways, then runner pods may resolve names
 * through kube-dns and open TCP 443 to public addresses only. Runners pull their work (long-poll), so
 * they never need ingress; the private ranges and the metadata server stay unreachable.
 */
export class RunnerNetworkPolicies extends Construct {
  constructor(scope: Construct, id: string, props: RunnerNetworkPoliciesProps) {
    super(scope, id);
    new kplus.NetworkPolicy(this, "DefaultDeny", {
      metadata: { name: "default-deny", namespace: props.namespace },
      selector: kplus.Pods.all(this, "AllPods"),
      ingress: { default: kplus.NetworkPolicyTrafficDefault.DENY },
      egress: { default: kplus.NetworkPolicyTrafficDefault.DENY },
    });
    const kubeDns = kplus.Pods.select(this, "KubeDns", {
      labels: KUBE_DNS.labels,
      namespaces: kplus.Namespaces.select(this, "KubeSystem", { names: [KUBE_DNS.namespace] }),
    });
    const publicInternet = kplus.NetworkPolicyIpBlock.ipv4(this, "PublicInternet", ANY_IPV4_CIDR, [
      ...FORBIDDEN_EGRESS_CIDRS,
    ]);
    new kplus.NetworkPolicy(this, "RunnerEgress", {
      metadata: { name: "runner-egress", namespace: props.namespace },
      selector: kplus.Pods.select(this, "Runners", { labels: RUNNER_SELECTOR }),
      egress: {
        rules: [
          {
            peer: kubeDns,
            ports: [kplus.NetworkPolicyPort.udp(DNS_PORT), kplus.NetworkPolicyPort.tcp(DNS_PORT)],
          },
          { peer: publicInternet, ports: [kplus.NetworkPolicyPort.tcp(HTTPS_PORT)] },
        ],
      },
    });
  }
}

export interface AppNetworkPoliciesProps {
  readonly namespace: string;
  /** Labels of the API pods that receive traffic from the load balancer. */
  readonly apiSelector: Readonly<Record<string, string>>;
  readonly apiPort: number;
}

/**
 * The app namespace denies ingress by default and admits only the API port (from the load balancer
 * and its health checks). Egress stays open: the API talks to Cloud SQL, the Kubernetes API and
 * model providers, whose addresses are not stable enough to list.
 */
export class AppNetworkPolicies extends Construct {
  constructor(scope: Construct, id: string, props: AppNetworkPoliciesProps) {
    super(scope, id);
    new kplus.NetworkPolicy(this, "DefaultDeny", {
      metadata: { name: "default-deny-ingress", namespace: props.namespace },
      selector: kplus.Pods.all(this, "AllPods"),
      ingress: { default: kplus.NetworkPolicyTrafficDefault.DENY },
    });
    new kplus.NetworkPolicy(this, "ApiIngress", {
      metadata: { name: "api-ingress", namespace: props.namespace },
      selector: kplus.Pods.select(this, "Api", { labels: props.apiSelector }),
      ingress: {
        rules: [
          {
            peer: kplus.NetworkPolicyIpBlock.anyIpv4(this, "Anywhere"),
            ports: [kplus.NetworkPolicyPort.tcp(props.apiPort)],
          },
        ],
      },
    });
  }
}
