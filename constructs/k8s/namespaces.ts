import * as kplus from "cdk8s-plus-32";
import { Construct } from "constructs";
import { LABEL, POD_SECURITY_RESTRICTED, RUNNER_TIER } from "./labels";

export interface RestrictedNamespaceProps {
  readonly name: string;
  /** Holds runner pods; policies then require default deny and the runner egress policy in it. */
  readonly runners?: boolean;
  readonly labels?: Readonly<Record<string, string>>;
}

/** A namespace that admits only pods meeting the Pod Security `restricted` profile. */
export class RestrictedNamespace extends Construct {
  readonly name: string;

  constructor(scope: Construct, id: string, props: RestrictedNamespaceProps) {
    super(scope, id);
    this.name = props.name;
    new kplus.Namespace(this, "Resource", {
      metadata: {
        name: props.name,
        labels: {
          ...props.labels,
          ...(props.runners ? { [LABEL.tier]: RUNNER_TIER } : {}),
          // Last, so no caller label can weaken the profile.
          ...POD_SECURITY_RESTRICTED,
        },
      },
    });
  }
}
