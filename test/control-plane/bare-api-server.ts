import * as pulumi from "@pulumi/pulumi";

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
