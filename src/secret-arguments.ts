import * as pulumi from "@pulumi/pulumi";
import { argumentPath } from "./validation";

/**
 * The arguments of `args` given as Pulumi secrets, by path as validation messages name them
 * (`apiKeySecretName`, `route.hostnames[1]`, `labels.team`; `""` when `args` itself is one), so
 * that the rules checking them once they resolve never show their values (`withSecretArguments`).
 * An Output is a secret or not as a whole; plain objects and arrays are searched for Outputs.
 *
 * @param args the arguments as given, Outputs included
 * @param at the path of `args` itself
 */
export async function secretArgumentPaths(args: unknown, at = ""): Promise<string[]> {
    if (pulumi.Output.isInstance(args)) return (await pulumi.isSecret(args)) ? [at] : [];
    let entries: [string | number, unknown][];
    if (Array.isArray(args)) entries = args.map((v: unknown, i) => [i, v]);
    else if (typeof args === "object" && args !== null && [Object.prototype, null].includes(Object.getPrototypeOf(args) as object | null)) {
        entries = Object.entries(args);
    } else return [];
    const found = await Promise.all(entries.map(([key, v]) => secretArgumentPaths(v, argumentPath(at, key))));
    return found.flat();
}
