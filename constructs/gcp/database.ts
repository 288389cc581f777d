import * as gcp from "@pulumi/gcp";
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import * as random from "@pulumi/random";
import { ArgsCheck } from "../args";

export interface AppDatabaseArgs {
  readonly project: pulumi.Input<string>;
  /** Name of the Cloud SQL instance (possibly from a StackReference). */
  readonly instanceName: pulumi.Input<string>;
  /** Private IP of the instance. */
  readonly host: pulumi.Input<string>;
  /** Database and user name: a Postgres identifier (`plue_alice`). */
  readonly database: string;
  /** Where the credentials go: a Secret of this name in this namespace. */
  readonly secret: { readonly namespace: pulumi.Input<string>; readonly name: string; readonly key: string };
  readonly kubernetesProvider: k8s.Provider;
}

const PG_IDENTIFIER = /^[a-z_][a-z0-9_]{0,62}$/;

/**
 * A database and its owner on a shared Cloud SQL instance, with a generated password that never
 * leaves Pulumi's encrypted state except as a Kubernetes Secret in the app's namespace.
 */
export class AppDatabase extends pulumi.ComponentResource {
  readonly database: gcp.sql.Database;
  readonly user: gcp.sql.User;
  readonly secret: k8s.core.v1.Secret;

  constructor(name: string, args: AppDatabaseArgs, opts?: pulumi.ComponentResourceOptions) {
    super("plue:gcp:AppDatabase", name, {}, opts);
    new ArgsCheck("AppDatabase")
      .require(
        PG_IDENTIFIER.test(args.database),
        "database",
        `"${args.database}" is not a lowercase Postgres identifier`,
      )
      .throwIfAny();
    const child = { parent: this };
    // Alphanumeric only, so the password can sit in a URL without escaping.
    const password = new random.RandomPassword(`${name}-password`, { length: 32, special: false }, child);
    this.user = new gcp.sql.User(
      `${name}-user`,
      { project: args.project, instance: args.instanceName, name: args.database, password: password.result },
      child,
    );
    // The user will own the tables in the database, and Postgres refuses to drop a role that owns
    // objects: depending on the user makes `destroy` drop the database (and its tables) first.
    this.database = new gcp.sql.Database(
      `${name}-db`,
      { project: args.project, instance: args.instanceName, name: args.database },
      { ...child, dependsOn: [this.user] },
    );
    const url = pulumi.interpolate`postgres://${args.database}:${password.result}@${args.host}:5432/${args.database}?sslmode=require`;
    this.secret = new k8s.core.v1.Secret(
      `${name}-secret`,
      {
        metadata: { name: args.secret.name, namespace: args.secret.namespace },
        type: "Opaque",
        stringData: { [args.secret.key]: pulumi.secret(url) },
      },
      { ...child, provider: args.kubernetesProvider, dependsOn: [this.database] },
    );
    this.registerOutputs({ database: this.database.name, user: this.user.name });
  }
}
