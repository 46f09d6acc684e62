/**
 * Token usage from a response's `usage` object: the JSON body of a completion, or the final chunk of
 * an SSE stream (OpenAI sends it with `stream_options.include_usage`, Mistral always). Only the tail of
 * the response is kept for this (see {@link TailBuffer}), and only `usage` is parsed.
 */

export interface TokenUsage {
  input: number;
  output: number;
}

const USAGE = Buffer.from('"usage"');
const TAIL_BYTES = 16 * 1024;

/** Keeps references to the last chunks of a response, at least {@link TAIL_BYTES} of them. No copies. */
export class TailBuffer {
  private chunks: Buffer[] = [];
  private bytes = 0;

  push(chunk: Buffer): void {
    this.chunks.push(chunk);
    this.bytes += chunk.length;
    while (this.chunks.length > 1 && this.bytes - this.chunks[0]!.length >= TAIL_BYTES) {
      this.bytes -= this.chunks.shift()!.length;
    }
  }

  usage(): TokenUsage | undefined {
    if (this.chunks.length === 0) return undefined;
    const buf = this.chunks.length === 1 ? this.chunks[0]! : Buffer.concat(this.chunks, this.bytes);
    return findUsage(buf);
  }
}

const isWs = (c: number | undefined): boolean => c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09;

/** The last non-null `"usage": {...}` object in `buf`, read as OpenAI (`prompt_tokens`) or Responses (`input_tokens`) usage. */
export function findUsage(buf: Buffer): TokenUsage | undefined {
  let at = buf.lastIndexOf(USAGE);
  while (at >= 0) {
    let i = at + USAGE.length;
    while (isWs(buf[i])) i++;
    if (buf[i] === 0x3a /* : */) {
      i++;
      while (isWs(buf[i])) i++;
      if (buf[i] === 0x7b /* { */) {
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
    }
    at = at === 0 ? -1 : buf.lastIndexOf(USAGE, at - 1);
  }
  return undefined;
}

const num = (v: unknown): number | undefined => (typeof v === "number" && Number.isFinite(v) && v >= 0 ? v : undefined);

function objectEnd(buf: Buffer, open: number): number {
  let depth = 0;
  for (let j = open; j < buf.length; j++) {
    const c = buf[j];
    if (c === 0x22) {
      for (j++; j < buf.length && buf[j] !== 0x22; j++) if (buf[j] === 0x5c) j++;
    } else if (c === 0x7b) depth++;
    else if (c === 0x7d && --depth === 0) return j + 1;
  }
  return -1;
}
