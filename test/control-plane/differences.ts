/** A Secret's values are never printed: `data` and `stringData` at the top level. */
function isSecretField(at: string, key: string): boolean {
  return at === "" && (key === "data" || key === "stringData");
}

/**
 * Where `actual` fails to contain `expected`: every field given must read back equal; fields the
 * server added (defaults, metadata) are ignored; arrays must match element by element. Values
 * under a Secret's `data` or `stringData` are named but never shown.
 */
export function differences(expected: unknown, actual: unknown, at = "", redact = false): string[] {
  const show = (value: unknown): string => (redact ? "(value not shown)" : JSON.stringify(value) ?? "nothing");
  const differ = (): string[] => [`${at || "."}: applied ${show(expected)}, read back ${show(actual)}`];
  if (Array.isArray(expected)) {
    if (!Array.isArray(actual) || actual.length !== expected.length) return differ();
    return expected.flatMap((item, i) => differences(item, actual[i], `${at}[${i}]`, redact));
  }
  if (expected !== null && typeof expected === "object") {
    if (actual === null || typeof actual !== "object" || Array.isArray(actual)) return differ();
    return Object.entries(expected).flatMap(([key, value]) =>
      differences(value, (actual as Record<string, unknown>)[key], at ? `${at}.${key}` : key,
        redact || isSecretField(at, key)),
    );
  }
  return Object.is(expected, actual) ? [] : differ();
}
