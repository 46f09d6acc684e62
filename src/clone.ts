/**
 * A deep copy of plain data (objects, arrays, primitives). Unlike `structuredClone`, the copies are
 * made in the caller's realm, so `instanceof Array` holds for them everywhere, including in the
 * Pulumi SDK's serializer when it runs in another realm (a jest sandbox, say).
 */
export function clone<T>(value: T): T {
    if (Array.isArray(value)) return value.map((v: unknown) => clone(v)) as T;
    if (typeof value === "object" && value !== null) {
        return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, clone(v as unknown)])) as T;
    }
    return value;
}
