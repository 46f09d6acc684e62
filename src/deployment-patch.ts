import { clone } from "./clone";
/**
 * Merges `patch` into `target` the way `proxy.deploymentPatch` documents, after Kubernetes'
 * strategic merge patch for the fields a Deployment has
 * (https://kubernetes.io/docs/tasks/manage-kubernetes-objects/update-api-object-kubectl-patch/):
 * objects merge key by key; a list whose items are all objects with a `name` (containers,
 * volumes, env, volumeMounts, ports) merges item by item on `name`, new names appended; any other
 * list, and any other value, replaces; `null` removes the key. Neither argument is modified.
 *
 * @example
 * mergePatch({ a: { b: 1, c: 2 } }, { a: { c: null, d: 3 } }) // { a: { b: 1, d: 3 } }
 */
export function mergePatch(target: unknown, patch: unknown): unknown {
    if (isPlainObject(patch)) {
        const out: Record<string, unknown> = isPlainObject(target) ? { ...target } : {};
        for (const [key, value] of Object.entries(patch)) {
            if (value === null) delete out[key];
            else if (value !== undefined) out[key] = mergePatch(out[key], value);
        }
        return out;
    }
    if (Array.isArray(patch) && Array.isArray(target) && isNamedList(patch) && isNamedList(target)) {
        const out = target.map((item) => clone(item));
        for (const item of patch) {
            const at = out.findIndex((t) => t.name === item.name);
            if (at >= 0) out[at] = mergePatch(out[at], item) as { name: unknown };
            else out.push(mergePatch(undefined, item) as { name: unknown });
        }
        return out;
    }
    return clone(patch);
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
    return typeof value === "object" && value !== null && !Array.isArray(value);
}

function isNamedList(list: unknown[]): list is { name: unknown }[] {
    return list.every((item) => isPlainObject(item) && typeof item.name === "string");
}
