/**
 * Token usage from a response's `usage` object: the JSON body of a completion, or the final chunk of
 * an SSE stream (OpenAI sends it with `stream_options.include_usage`, Mistral always). Only the tail of
 * the response is kept for this (see {@link TailBuffer}), and only `usage` is parsed.
 */
import { Buffer } from "node:buffer";

export interface TokenUsage {
  input: number;
  output: number;
}

const USAGE = Buffer.from('"usage"');
const TAIL_BYTES = 16 * 1024;

/**
 * Chunks a {@link TailBuffer} keeps by reference at most. Each is a view into the socket read it came
 * in, and keeps all of that read (up to 64 KiB) in memory: a response in tiny chunks, each in its own
 * read (chunk extensions fill a read with a byte of body), held 16 KiB of such views, 1 GB of reads.
 */
const MAX_TAIL_CHUNKS = 16;

/**
 * For complete (non-stream) bodies: keeps references to the last chunks, at least {@link TAIL_BYTES}
 * of them, without copying, unless they are more than {@link MAX_TAIL_CHUNKS}; `usage` is near the end
 * of an OpenAI response.
 */
export class TailBuffer implements UsageReader {
  private chunks: Buffer[] = [];
  private bytes = 0;

  push(chunk: Buffer): void {
    this.chunks.push(chunk);
    this.bytes += chunk.length;
    while (this.chunks.length > 1 && this.bytes - this.chunks[0]!.length >= TAIL_BYTES) {
      this.bytes -= this.chunks.shift()!.length;
    }
    if (this.chunks.length > MAX_TAIL_CHUNKS) {
      // Copied into one buffer of their own, which keeps no read, and cut to its last TAIL_BYTES: kept
      // whole, the copy would be the first chunk of the next 16, never dropped, and grow with the body.
      const all = Buffer.concat(this.chunks, this.bytes);
      const tail = all.length > TAIL_BYTES ? all.subarray(all.length - TAIL_BYTES) : all;
      this.chunks = [tail];
      this.bytes = tail.length;
    }
  }

  usage(): TokenUsage | undefined {
    if (this.chunks.length === 0) return undefined;
    const buf = this.chunks.length === 1 ? this.chunks[0]! : Buffer.concat(this.chunks, this.bytes);
    return findUsage(buf);
  }
}

/** Reads usage from a response as it streams. */
export interface UsageReader {
  push(chunk: Buffer): void;
  usage(): TokenUsage | undefined;
}

/**
 * Bounds on the search, so that an upstream cannot make it costly (a body of `"usage":{` repeated cost
 * time quadratic in its size): a usage object is a few hundred bytes, and the last one is at most a
 * few occurrences of `"usage"` from the end (OpenAI's `"usage":null` in each event, then the object).
 */
const MAX_USAGE_BYTES = 8 * 1024;
const MAX_USAGE_TRIES = 8;
const MAX_PENDING = MAX_USAGE_BYTES;

/**
 * For event streams, which may stay open for minutes: no chunk is retained. Each chunk is searched
 * (natively) for `"usage"`; only from a match on are bytes copied, until the object is complete. The
 * last usage object seen wins (OpenAI sends `"usage":null` in every chunk and the object in the last).
 */
export class StreamUsageReader implements UsageReader {
  private found: TokenUsage | undefined;
  /** Bytes from a `"usage"` whose object has not ended yet. */
  private pending: Buffer | null = null;
  /** The end of the previous chunk when it ended inside the `"usage"` key itself. */
  private carry: Buffer | null = null;

  push(chunk: Buffer): void {
    // Bytes kept from earlier chunks: an unfinished usage object, or the start of the key.
    const kept = this.pending ?? this.carry;
    const data = kept === null ? chunk : Buffer.concat([kept, chunk]);
    this.pending = null;
    this.carry = null;
    // Most events carry no `"usage"` (Mistral's, and OpenAI's without include_usage): one search, then
    // only the check of the chunk's last bytes.
    const at = data.lastIndexOf(USAGE);
    if (at >= 0) {
      const usage = findUsage(data, at);
      if (usage) this.found = usage;
      // The last usage object starts here but ends in a later chunk (bounded, in case it never ends).
      // Most often its value is `null` (OpenAI's every event with include_usage): nothing to keep.
      if (valueKind(data, at) !== "other" && data.length - at <= MAX_PENDING) {
        const candidate = data.subarray(at);
        if (findUsage(candidate, 0) === undefined) {
          this.pending = Buffer.from(candidate);
          return;
        }
      }
    }
    const k = keyStartAtEnd(data);
    if (k > 0) this.carry = Buffer.from(data.subarray(data.length - k));
  }

  usage(): TokenUsage | undefined {
    return this.found;
  }
}

/** How many of the last bytes of `data` are the start of `"usage"` (the key cut by the chunk's end), or 0. */
function keyStartAtEnd(data: Buffer): number {
  const n = data.length;
  next: for (let k = Math.min(USAGE.length - 1, n); k > 0; k--) {
    for (let i = 0; i < k; i++) if (data[n - k + i] !== USAGE[i]) continue next;
    return k;
  }
  return 0;
}

/**
 * Where the value of the `"usage"` key at `at` in `data` starts (past the colon and white space), or -1
 * when no colon follows the key (the word is not a key). `data.length` when the bytes end first.
 */
function usageValueAt(data: Buffer, at: number): number {
  let i = at + USAGE.length;
  while (isWs(data[i])) i++;
  if (i < data.length && data[i] !== 0x3a /* : */) return -1;
  i++;
  while (isWs(data[i])) i++;
  return Math.min(i, data.length);
}

/** What follows the `"usage"` at `at` in `data`: an object, something else, or not known yet. */
function valueKind(data: Buffer, at: number): "object" | "other" | "unknown" {
  const i = usageValueAt(data, at);
  if (i < 0) return "other";
  if (i >= data.length) return "unknown";
  return data[i] === 0x7b ? "object" : "other";
}

const isWs = (c: number | undefined): boolean => c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09;

/**
 * The last non-null `"usage": {...}` object in `buf`, read as OpenAI (`prompt_tokens`) or Responses
 * (`input_tokens`) usage. `last` is where the last `"usage"` in `buf` starts, when the caller knows it.
 * Only the last {@link MAX_USAGE_TRIES} occurrences are looked at, and objects of at most
 * {@link MAX_USAGE_BYTES}.
 */
export function findUsage(buf: Buffer, last = buf.lastIndexOf(USAGE)): TokenUsage | undefined {
  let at = last;
  for (let tries = 0; at >= 0 && tries < MAX_USAGE_TRIES; tries++) {
    const i = usageValueAt(buf, at);
    if (i >= 0 && buf[i] === 0x7b /* { */) {
      const end = objectEnd(buf, i);
      if (end > 0) {
        try {
          const u = JSON.parse(buf.toString("utf8", i, end)) as Record<string, unknown>;
          const input = num(u.prompt_tokens) ?? num(u.input_tokens);
          const output = num(u.completion_tokens) ?? num(u.output_tokens);
          if (input !== undefined || output !== undefined) return { input: input ?? 0, output: output ?? 0 };
        } catch {
          // not a usage object after all; look further back
        }
      }
    }
    at = at === 0 ? -1 : buf.lastIndexOf(USAGE, at - 1);
  }
  return undefined;
}

/**
 * A token count: a whole number from 0 to 2^53 - 1. Anything else is not one, and is not counted: an
 * upstream answering `1e308` made the token histograms' sums +Inf for good (two such answers overflow a
 * double), and a count beyond 2^53 is not even read exactly.
 */
const num = (v: unknown): number | undefined => (typeof v === "number" && Number.isSafeInteger(v) && v >= 0 ? v : undefined);

/** Just past the object that opens at `open`, or -1 when it does not end within {@link MAX_USAGE_BYTES}. */
function objectEnd(buf: Buffer, open: number): number {
  let depth = 0;
  const end = Math.min(buf.length, open + MAX_USAGE_BYTES);
  for (let j = open; j < end; j++) {
    const c = buf[j];
    if (c === 0x22) {
      for (j++; j < end && buf[j] !== 0x22; j++) if (buf[j] === 0x5c) j++;
    } else if (c === 0x7b) depth++;
    else if (c === 0x7d && --depth === 0) return j + 1;
  }
  return -1;
}
