/**
 * Gateway API `Duration` (GEP-2257): one to four `<number><unit>` pairs, units h, m, s, ms,
 * for example `10s`, `1m30s`, `500ms`. `0s` means "no timeout".
 * https://gateway-api.sigs.k8s.io/geps/gep-2257/
 */
const DURATION = /^(?:[0-9]{1,5}(?:h|m|s|ms)){1,4}$/;
const PART = /([0-9]{1,5})(h|ms|m|s)/g;
const UNIT_MS: Record<string, number> = { h: 3_600_000, m: 60_000, s: 1_000, ms: 1 };

/** Milliseconds of a Gateway API duration, or `undefined` when the text is not one. */
export function parseGatewayDuration(text: string): number | undefined {
  if (!DURATION.test(text)) return undefined;
  let total = 0;
  for (const [, amount, unit] of text.matchAll(PART)) total += Number(amount) * (UNIT_MS[unit!] ?? 0);
  return total;
}
