import * as fs from "node:fs";
import * as path from "node:path";
import * as pulumi from "@pulumi/pulumi";
import { LocalWorkspace, PulumiCommand, type Stack } from "@pulumi/pulumi/automation";
import type { ControlPlaneInfo } from "./control-plane";

/**
 * A bare API server has no kubelet and no controllers: nothing ever becomes ready, and a foreground
 * delete waits for a garbage collector that is not there. For this tier only, every Kubernetes
 * object skips Pulumi's await and is deleted with background propagation.
 *
 * `deleteBeforeReplace` is handed back only when true: the Node.js SDK gives a transform
 * `deleteBeforeReplace: false` for an option never set, and handing that back sets it, which
 * overrides the delete-before-replace pulumi-kubernetes asks for when a replaced object keeps its
 * name (the replacement's create then fails with a Server-Side Apply conflict).
 */
export function forBareApiServer(args: pulumi.ResourceTransformArgs): pulumi.ResourceTransformResult | undefined {
  if (!args.type.startsWith("kubernetes:")) return undefined;
  const metadata = pulumi.output(args.props.metadata as pulumi.Input<Record<string, unknown>> | undefined);
  const annotated = metadata.apply((m) => ({
    ...m,
    annotations: {
      ...(m?.annotations as Record<string, string> | undefined),
      "pulumi.com/skipAwait": "true",
      "pulumi.com/deletionPropagationPolicy": "background",
    },
  }));
  const { deleteBeforeReplace, ...opts } = args.opts as pulumi.CustomResourceOptions;
  const kept: pulumi.CustomResourceOptions = deleteBeforeReplace ? { ...opts, deleteBeforeReplace } : opts;
  return { props: { ...args.props, metadata: annotated }, opts: kept };
}

/** An inline-program stack of this tier, with its own state backend, under `dir` ({@link inlineStack}). */
export interface TierStack {
  stack: Stack;
  /** Holds `state/` (the file backend), `work/` and `pulumi-home/`. */
  dir: string;
}

/**
 * A stack whose program runs inline (no `pulumi-language-nodejs` is available here) against the tier's
 * API server, with the pulumi CLI and pulumi-resource-kubernetes built for it, a local file backend and
 * a passphrase secrets provider, and every Kubernetes object adapted by {@link forBareApiServer}.
 */
export async function inlineStack(info: ControlPlaneInfo, home: string, project: string, program: () => Record<string, unknown>): Promise<TierStack> {
  const dir = fs.mkdtempSync(path.join(home, `${project}-`));
  fs.mkdirSync(path.join(dir, "state"));
  fs.mkdirSync(path.join(dir, "work"));
  const envVars = {
    PULUMI_HOME: path.join(dir, "pulumi-home"),
    PULUMI_CONFIG_PASSPHRASE: "control-plane-tier-only",
    PULUMI_SKIP_UPDATE_CHECK: "true",
    PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION: "true",
    PULUMI_IGNORE_AMBIENT_PLUGINS: "false", // a developer's setting would hide the plugin below
    KUBECONFIG: info.kubeconfig,
    // pulumi-resource-kubernetes is found here, as an ambient plugin.
    PATH: `${path.dirname(info.binaries["pulumi-resource-kubernetes"])}${path.delimiter}${process.env.PATH ?? ""}`,
  };
  const stack = await LocalWorkspace.createOrSelectStack(
    {
      stackName: "control-plane",
      projectName: project,
      program: () => {
        pulumi.runtime.registerResourceTransform(forBareApiServer);
        return Promise.resolve(program());
      },
    },
    {
      workDir: path.join(dir, "work"),
      pulumiHome: envVars.PULUMI_HOME,
      envVars,
      secretsProvider: "passphrase",
      pulumiCommand: await PulumiCommand.get({ root: path.dirname(path.dirname(info.binaries.pulumi)), skipVersionCheck: true }),
      projectSettings: { name: project, runtime: "nodejs", backend: { url: `file://${path.join(dir, "state")}` } },
    },
  );
  return { stack, dir };
}
