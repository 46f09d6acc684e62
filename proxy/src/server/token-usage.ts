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

/** What a {@link StreamUsageReader} following a `"usage"` key across chunks expects next. */
const NOT_FOLLOWING = 0;
const COLON = 1; // the key's colon
const VALUE = 2; // its value: an object is followed, anything else is not usage
const OBJECT = 3; // the rest of the object

/**
 * For event streams, which may stay open for minutes: no chunk is retained. Each chunk is searched
 * (natively) for `"usage"`. When the last one's object does not end in its chunk, it is followed
 * through the next ones byte by byte, each byte looked at once, and only its bytes are copied, until it
 * is complete or over {@link MAX_PENDING} bytes. The last usage object seen wins (OpenAI sends
 * `"usage":null` in every chunk and the object in the last).
 *
 * Followed, not searched again: the unfinished object was copied together with each next chunk and
 * searched whole, so an upstream sending `"usage":{` and then one byte per chunk (chunked encoding
 * gives each its own `onData`) cost 8 KiB of copying and scanning per byte: 15 s of the event loop
 * for 1 MB of such a stream.
 */
export class StreamUsageReader implements UsageReader {
  private found: TokenUsage | undefined;
  /** The end of the previous chunk when it ended inside the `"usage"` key itself. */
  private carry: Buffer | null = null;
  /** What the `"usage"` key being followed expects next, or NOT_FOLLOWING. */
  private phase = NOT_FOLLOWING;
  /** Bytes followed since the key. */
  private followed = 0;
  /** The object's bytes so far, from its `{`. */
  private object: Buffer | null = null;
  private objectLength = 0;
  private depth = 0;
  private inString = false;
  private escaped = false;

  push(chunk: Buffer): void {
    let data = chunk;
    if (this.phase !== NOT_FOLLOWING) {
      const stopped = this.follow(chunk, 0);
      if (this.phase !== NOT_FOLLOWING) return; // all of the chunk is in the object still
      data = stopped === 0 ? chunk : chunk.subarray(stopped);
    }
    // Bytes kept from the previous chunk: the start of the key.
    if (this.carry !== null) {
      data = Buffer.concat([this.carry, data]);
      this.carry = null;
    }
    // Most events carry no `"usage"` (Mistral's, and OpenAI's without include_usage): one search, then
    // only the check of the chunk's last bytes.
    const at = data.lastIndexOf(USAGE);
    if (at >= 0) {
      const usage = findUsage(data, at);
      if (usage) this.found = usage;
      // The last key's value may end in a later chunk (bounded, in case it never ends). Most often it is
      // `null` (OpenAI's every event with include_usage), or an object that ended here: nothing to follow.
      if (data.length - at <= MAX_PENDING && this.unfinished(data, at)) {
        this.phase = COLON;
        this.followed = 0;
        this.follow(data, at + USAGE.length);
        return;
      }
    }
    const k = keyStartAtEnd(data);
    if (k > 0) this.carry = Buffer.from(data.subarray(data.length - k));
  }

  usage(): TokenUsage | undefined {
    return this.found;
  }

  /** Whether the value of the `"usage"` key at `at` is an object that does not end in `data`, or not known yet. */
  private unfinished(data: Buffer, at: number): boolean {
    const i = usageValueAt(data, at);
    if (i < 0) return false;
    if (i >= data.length) return true;
    return data[i] === 0x7b /* { */ && objectEnd(data, i) < 0;
  }

  /**
   * Follows the value of the key through `data` from `i`: returns where following stopped (the value was
   * not an object, the object ended, or it grew too large), or `data.length` when it goes on.
   */
  private follow(data: Buffer, i: number): number {
    const n = data.length;
    let from = -1; // where the object's bytes in `data` start
    for (; i < n; i++) {
      if (++this.followed > MAX_PENDING) return this.stopFollowing(i);
      const c = data[i]!;
      if (this.phase === OBJECT) {
        if (from < 0) from = i;
        if (this.inString) {
          if (this.escaped) this.escaped = false;
          else if (c === 0x5c /* \\ */) this.escaped = true;
          else if (c === 0x22 /* " */) this.inString = false;
        } else if (c === 0x22) this.inString = true;
        else if (c === 0x7b) this.depth++;
        else if (c === 0x7d && --this.depth === 0) {
          this.keep(data, from, i + 1);
          const usage = this.object === null ? undefined : usageOf(this.object.toString("utf8", 0, this.objectLength));
          if (usage) this.found = usage;
          return this.stopFollowing(i + 1);
        }
      } else if (isWs(c)) continue;
      else if (this.phase === COLON && c === 0x3a /* : */) this.phase = VALUE;
      else if (this.phase === VALUE && c === 0x7b /* { */) {
        this.phase = OBJECT;
        this.object = Buffer.allocUnsafe(MAX_USAGE_BYTES);
        this.objectLength = 0;
        this.depth = 1;
        this.inString = false;
        this.escaped = false;
        from = i;
      } else return this.stopFollowing(i); // not an object: not usage
    }
    if (from >= 0) this.keep(data, from, n);
    return n;
  }

  /** Copies `data[from, to)` after the object's bytes so far. */
  private keep(data: Buffer, from: number, to: number): void {
    this.objectLength += data.copy(this.object!, this.objectLength, from, to);
  }

  private stopFollowing(at: number): number {
    this.phase = NOT_FOLLOWING;
    this.object = null;
    return at;
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
        const usage = usageOf(buf.toString("utf8", i, end));
        if (usage) return usage; // else not a usage object after all; look further back
      }
    }
    at = at === 0 ? -1 : buf.lastIndexOf(USAGE, at - 1);
  }
  return undefined;
}

/** The counts of a `usage` object's JSON text, read as OpenAI (`prompt_tokens`) or Responses (`input_tokens`) usage. */
function usageOf(text: string): TokenUsage | undefined {
  let u: Record<string, unknown> | null;
  try {
    u = JSON.parse(text) as Record<string, unknown> | null;
  } catch {
    return undefined;
  }
  if (typeof u !== "object" || u === null) return undefined;
  const input = num(u.prompt_tokens) ?? num(u.input_tokens);
  const output = num(u.completion_tokens) ?? num(u.output_tokens);
  return input !== undefined || output !== undefined ? { input: input ?? 0, output: output ?? 0 } : undefined;
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
