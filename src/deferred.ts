import * as pulumi from "@pulumi/pulumi";

/** Whether `value` is known only later: an Output or a Promise (a plain value is known at construction). */
export function isDeferred(value: unknown): value is pulumi.Output<unknown> | Promise<unknown> {
    return pulumi.Output.isInstance(value) || value instanceof Promise;
}
