import { clone } from "./clone";
/**
 * Merges `patch` into `target` the way `proxy.deploymentPatch` documents, after Kubernetes'
 * strategic merge patch for the fields a Deployment has
 * (https://kubernetes.io/docs/tasks/manage-kubernetes-objects/update-api-object-kubectl-patch/):
 * objects merge key by key; a list whose items are all objects with a `name` (containers,
 * volumes, env, volumeMounts, ports) merges item by item on `name`, new names appended; any other
 * list, and any other value, replaces; `null` removes the key. The Deployment's `strategy` and each
 * item of `volumes` keep only the keys the patch gives them (Kubernetes' `retainKeys`: they are unions,
 * so `strategy: { type: "Recreate" }` drops `rollingUpdate`, and a volume given a `configMap` loses its
 * `secret`). Neither argument is modified.
 *
 * @example
 * mergePatch({ a: { b: 1, c: 2 } }, { a: { c: null, d: 3 } }) // { a: { b: 1, d: 3 } }
 */
export function mergePatch(target: unknown, patch: unknown, key?: string): unknown {
    if (isPlainObject(patch)) {
        const base = isPlainObject(target) ? target : {};
        const out: Record<string, unknown> = key !== undefined && RETAIN_KEYS_OBJECTS.has(key) ? retained(base, patch) : { ...base };
        for (const [k, value] of Object.entries(patch)) {
            if (value === null) delete out[k];
            else if (value !== undefined) out[k] = mergePatch(out[k], value, k);
        }
        return out;
    }
    if (Array.isArray(patch) && Array.isArray(target) && isNamedList(patch) && isNamedList(target)) {
        const out = target.map((item) => clone(item));
        const retain = key !== undefined && RETAIN_KEYS_ITEMS.has(key);
        for (const item of patch) {
            const at = out.findIndex((t) => t.name === item.name);
            if (at >= 0) out[at] = mergePatch(retain ? retained(out[at]!, item) : out[at], item) as { name: unknown };
            else out.push(mergePatch(undefined, item) as { name: unknown });
        }
        return out;
    }
    return clone(patch);
}

/** Objects patched with `retainKeys` (DeploymentSpec `strategy`), and lists whose items are (PodSpec `volumes`). */
const RETAIN_KEYS_OBJECTS: ReadonlySet<string> = new Set(["strategy"]);
const RETAIN_KEYS_ITEMS: ReadonlySet<string> = new Set(["volumes"]);

/** The keys of `target` that `patch` also has. */
function retained(target: Record<string, unknown>, patch: Record<string, unknown>): Record<string, unknown> {
    return Object.fromEntries(Object.entries(target).filter(([k]) => k in patch));
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
    return typeof value === "object" && value !== null && !Array.isArray(value);
}

function isNamedList(list: unknown[]): list is { name: unknown }[] {
    return list.every((item) => isPlainObject(item) && typeof item.name === "string");
}
