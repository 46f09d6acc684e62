/**
 * Replaces the top-level `model` of a JSON request body and leaves every other byte as it was
 * (agentgateway's "passthrough" parsing: only the field that changes is touched). Key order, number
 * spelling, escapes, whitespace and unknown fields all survive.
 *
 * The body is validated with the native `JSON.parse`; the value spans of the top-level `model` key
 * are then located by a scanner that relies on that validity and jumps over strings with `indexOf`,
 * so its cost grows linearly with the body and stays small for chat-sized ones.
 */
import { Buffer } from "node:buffer";

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACKET = 0x5d;
const COMMA = 0x2c;

export type ParsedBody = { ok: true; value: Record<string, unknown> } | { ok: false; code: "invalid_json" | "invalid_body" };

/** Bodies from this size on are scanned for {@link MAX_JSON_CONTAINERS} before they are parsed. */
export const JSON_SCAN_FROM_BYTES = 256 * 1024;
/**
 * The most `{`, `[` and `:` a body over {@link JSON_SCAN_FROM_BYTES} may hold: objects, arrays and object
 * members (a 1 MB chat of 20,000 messages holds 60,000).
 */
export const MAX_JSON_CONTAINERS = 200_000;

/**
 * Whether `body` holds more than {@link MAX_JSON_CONTAINERS} `{`, `[` and `:`, counted with `indexOf` (about
 * 1 ms for 10 MB of an image sent inline). `JSON.parse` runs on the event loop and its time grows with
 * the values it builds: 1.5 s for a 10 MiB body of `[`, 0.6 s and more for one object of a million keys
 * (one `{`, each key a `:`), during which the proxy serves no one.
 */
export function tooManyJsonContainers(body: Buffer): boolean {
  let count = 0;
  for (const opener of [0x5b /* [ */, 0x7b /* { */, 0x3a /* : */]) {
    for (let i = body.indexOf(opener); i !== -1; i = body.indexOf(opener, i + 1)) {
      if (++count > MAX_JSON_CONTAINERS) return true;
    }
  }
  return false;
}

/** Parses a request body that must be a JSON object. */
export function parseJsonObject(text: string): ParsedBody {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return { ok: false, code: "invalid_json" };
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) return { ok: false, code: "invalid_body" };
  return { ok: true, value: value as Record<string, unknown> };
}

const isWs = (c: number): boolean => c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09;

function skipWs(text: string, i: number): number {
  while (isWs(text.charCodeAt(i))) i++;
  return i;
}

/** Index of the quote closing the string that opens at `open`. */
function stringEnd(text: string, open: number): number {
  let from = open + 1;
  for (;;) {
    const q = text.indexOf('"', from);
    if (q < 0) return text.length; // unreachable for valid JSON
    let b = q - 1;
    while (text.charCodeAt(b) === BACKSLASH) b--;
    if ((q - 1 - b) % 2 === 0) return q;
    from = q + 1;
  }
}

function hasBackslash(text: string, from: number, to: number): boolean {
  for (let j = from; j < to; j++) if (text.charCodeAt(j) === BACKSLASH) return true;
  return false;
}

/** Index just past the JSON value that starts at `i`. */
function valueEnd(text: string, i: number): number {
  const c = text.charCodeAt(i);
  if (c === QUOTE) return stringEnd(text, i) + 1;
  if (c === OPEN_BRACE || c === OPEN_BRACKET) {
    let depth = 0;
    for (let j = i; j < text.length; j++) {
      const d = text.charCodeAt(j);
      if (d === QUOTE) j = stringEnd(text, j);
      else if (d === OPEN_BRACE || d === OPEN_BRACKET) depth++;
      else if (d === CLOSE_BRACE || d === CLOSE_BRACKET) {
        if (--depth === 0) return j + 1;
      }
    }
    return text.length;
  }
  let j = i;
  for (;;) {
    const d = text.charCodeAt(j);
    if (Number.isNaN(d) || d === COMMA || d === CLOSE_BRACE || d === CLOSE_BRACKET || isWs(d)) return j;
    j++;
  }
}

/**
 * Start/end offsets (flattened pairs) of every value of top-level key `key` in `text`, which must be
 * a valid JSON object. Duplicate keys are all reported, so none of them can smuggle another model.
 */
export function topLevelValueSpans(text: string, key: string): number[] {
  const spans: number[] = [];
  let i = skipWs(text, 0) + 1; // past '{'
  for (;;) {
    i = skipWs(text, i);
    if (text.charCodeAt(i) !== QUOTE) break; // '}' of an empty object
    const keyEnd = stringEnd(text, i);
    let matches = keyEnd - i - 1 === key.length && text.startsWith(key, i + 1);
    if (!matches && hasBackslash(text, i + 1, keyEnd)) {
      // An escaped spelling such as "mod\u0065l" is the same key.
      matches = JSON.parse(text.slice(i, keyEnd + 1)) === key;
    }
    i = skipWs(text, skipWs(text, keyEnd + 1) + 1); // past ':'
    const end = valueEnd(text, i);
    if (matches) spans.push(i, end);
    i = skipWs(text, end);
    if (text.charCodeAt(i) !== COMMA) break;
    i++;
  }
  return spans;
}

/**
 * Returns `text` with every top-level `model` value replaced by `modelJson` (a JSON string literal),
 * or with `"model":<modelJson>` added first when the object has none. `text` must be a valid JSON object.
 */
export function replaceModel(text: string, modelJson: string): string {
  const spans = topLevelValueSpans(text, "model");
  if (spans.length === 0) {
    const open = skipWs(text, 0);
    const empty = text.charCodeAt(skipWs(text, open + 1)) === CLOSE_BRACE;
    return `${text.slice(0, open + 1)}"model":${modelJson}${empty ? "" : ","}${text.slice(open + 1)}`;
  }
  if (spans.length === 2) return text.slice(0, spans[0]) + modelJson + text.slice(spans[1]);
  let out = "";
  let last = 0;
  for (let k = 0; k < spans.length; k += 2) {
    out += text.slice(last, spans[k]) + modelJson;
    last = spans[k + 1]!;
  }
  return out + text.slice(last);
}

/**
 * The value spans of the top-level `model` ({@link topLevelValueSpans}), given the object `JSON.parse`
 * made of `text`. When the object has no `model`, there is none to find. When `"model"` appears once in
 * the text and no `\u` escape appears at all, that one occurrence is the top-level key: a key can be
 * spelled otherwise only with a `\u` escape, and the object has one. Its value is then found without
 * walking the rest of the body; in any other case the body is walked.
 */
export function modelSpans(text: string, parsed: Readonly<Record<string, unknown>>): number[] {
  if (!Object.hasOwn(parsed, "model")) return [];
  const at = text.indexOf('"model"');
  if (at >= 0 && text.indexOf('"model"', at + 7) < 0 && text.indexOf("\\u") < 0) {
    const start = skipWs(text, skipWs(text, at + 7) + 1); // past ':'
    return [start, valueEnd(text, start)];
  }
  return topLevelValueSpans(text, "model");
}

/**
 * {@link replaceModel} on the request's bytes: `body` is the UTF-8 request body, `text` its decoded
 * string and `parsed` the object `JSON.parse` made of it. When the body is ASCII (every character one
 * byte, so string offsets are byte offsets), the result is spliced from slices of `body` without
 * re-encoding the whole text; otherwise the text is rewritten and encoded. Either way the bytes are those
 * of `replaceModel(text, modelJson)`. `model` is `modelJson` encoded, which callers can do once.
 */
export function replaceModelBytes(
  body: Buffer,
  text: string,
  parsed: Readonly<Record<string, unknown>>,
  modelJson: string,
  model: Buffer = Buffer.from(modelJson, "utf8"),
): Buffer {
  if (text.length !== body.length) return Buffer.from(replaceModel(text, modelJson), "utf8");
  const spans = modelSpans(text, parsed);
  if (spans.length === 0) {
    const open = skipWs(text, 0);
    const empty = text.charCodeAt(skipWs(text, open + 1)) === CLOSE_BRACE;
    return Buffer.concat([body.subarray(0, open + 1), MODEL_KEY, model, empty ? EMPTY : COMMA_BYTE, body.subarray(open + 1)]);
  }
  const parts: Buffer[] = [];
  let last = 0;
  for (let k = 0; k < spans.length; k += 2) {
    parts.push(body.subarray(last, spans[k]), model);
    last = spans[k + 1]!;
  }
  parts.push(body.subarray(last));
  return Buffer.concat(parts);
}

const MODEL_KEY = Buffer.from('"model":');
const COMMA_BYTE = Buffer.from(",");
const EMPTY = Buffer.alloc(0);
