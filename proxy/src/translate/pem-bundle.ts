/**
 * The one rule for a PEM bundle of CA certificates, which the proxy applies when it loads a bundle
 * (config/resolve-credentials.ts) and when it translates a BackendTLSPolicy (tls-policies.ts), and the
 * component applies to `tls.caCertificate` (src/validation.ts): there is at least one block; every
 * `-----BEGIN` line is `-----BEGIN CERTIFICATE-----` and is followed by its `-----END CERTIFICATE-----`
 * before the next block starts, each at the start of a line and the END line with nothing after it (the
 * PEM reader of OpenSSL, which Node.js's TLS uses, looks for them there, and skips or stops at one that
 * is not); there is no other `-----END` line; each block's base64 body decodes to
 * exactly one DER SEQUENCE; and, where an X.509 parser is given, each block is an X.509 certificate.
 * Text between blocks (the names some bundles list) is allowed.
 *
 * Pure (no `node:crypto`: the translate subpath loads nothing but zod), so the X.509 parser is passed
 * in: `caBundleProblem(pem, X509Certificate)`. Node.js's TLS accepts a bundle with a garbled,
 * truncated or unterminated block and then fails every handshake.
 */
const BEGIN = "-----BEGIN ";
const END = "-----END ";
const BEGIN_LINE = /^-----BEGIN ([A-Z0-9 ]+)-----/;
const END_LINE = "-----END CERTIFICATE-----";
/** What may follow `-----END CERTIFICATE-----` on its line. */
const END_LINE_REST = /[ \t\r]*(?:\n|$)/y;

/**
 * What is wrong with a CA bundle: the first fault, by block (1-based, in the order of the `-----BEGIN`
 * lines) out of `blocks`, the number of `-----BEGIN` lines. It never holds the bundle's text, but
 * `label` is the type a well-formed `-----BEGIN <label>-----` line names (such as `PRIVATE KEY`).
 */
export type CaBundleProblem =
  /** There is no `-----BEGIN` line. */
  | { kind: "empty" }
  /** The block does not begin with `-----BEGIN CERTIFICATE-----`. */
  | { kind: "not-certificate"; block: number; blocks: number; label?: string }
  /** The block has no `-----END` line before the next block or the end of the text. */
  | { kind: "unterminated"; block: number; blocks: number }
  /** The block's `-----END` line is not `-----END CERTIFICATE-----`. */
  | { kind: "bad-end"; block: number; blocks: number }
  /**
   * The block's `-----BEGIN` line does not start a line, or its `-----END CERTIFICATE-----` is followed
   * by more than spaces on its line (a file without a final newline concatenated with the next one).
   */
  | { kind: "not-own-line"; block: number; blocks: number }
  /** An `-----END` line follows block `after` (0: before the first block) without a `-----BEGIN` line of its own. */
  | { kind: "stray-end"; after: number; blocks: number }
  /** The block's body is not base64 that decodes to one complete DER SEQUENCE (garbled or cut off). */
  | { kind: "bad-body"; block: number; blocks: number }
  /** The block is not an X.509 certificate (only checked when a parser is given). */
  | { kind: "not-x509"; block: number; blocks: number };

interface Scan {
  problem?: CaBundleProblem;
  blocks: string[];
}

function scan(text: string): Scan {
  const starts: number[] = [];
  for (let at = text.indexOf(BEGIN); at >= 0; at = text.indexOf(BEGIN, at + BEGIN.length)) starts.push(at);
  const blocks = starts.length;
  if (blocks === 0) return { problem: { kind: "empty" }, blocks: [] };
  if (text.slice(0, starts[0]).includes(END)) return { problem: { kind: "stray-end", after: 0, blocks }, blocks: [] };
  const found: string[] = [];
  for (let i = 0; i < blocks; i++) {
    const block = i + 1;
    const segment = text.slice(starts[i], starts[i + 1] ?? text.length);
    const label = BEGIN_LINE.exec(segment)?.[1];
    if (label !== "CERTIFICATE") return { problem: label === undefined ? { kind: "not-certificate", block, blocks } : { kind: "not-certificate", block, blocks, label }, blocks: [] };
    const end = segment.indexOf(END);
    if (end < 0) return { problem: { kind: "unterminated", block, blocks }, blocks: [] };
    if (!segment.startsWith(END_LINE, end)) return { problem: { kind: "bad-end", block, blocks }, blocks: [] };
    // A byte-order mark may come before the first line.
    const lineStart = starts[i] === 0 || text[starts[i]! - 1] === "\n" || (starts[i] === 1 && text[0] === "\ufeff");
    END_LINE_REST.lastIndex = starts[i]! + end + END_LINE.length;
    if (!lineStart || !END_LINE_REST.test(text)) return { problem: { kind: "not-own-line", block, blocks }, blocks: [] };
    if (segment.includes(END, end + END.length)) return { problem: { kind: "stray-end", after: block, blocks }, blocks: [] };
    const body = segment.slice(`${BEGIN}${label}-----`.length, end).replace(/\s+/g, "");
    if (body === "" || body.length % 4 !== 0 || !/^[A-Za-z0-9+/]+={0,2}$/.test(body) || !isOneDerSequence(Buffer.from(body, "base64"))) {
      return { problem: { kind: "bad-body", block, blocks }, blocks: [] };
    }
    found.push(segment.slice(0, end + END_LINE.length));
  }
  return { blocks: found };
}

/**
 * The first fault of `text` as a bundle of CA certificates (the rule above), or undefined when there is
 * none. `X509` parses one block and throws when it is not a certificate: pass `X509Certificate` from
 * `node:crypto`; without it, blocks are checked for shape only.
 */
export function caBundleProblem(text: string, X509?: new (pem: string) => unknown): CaBundleProblem | undefined {
  const { problem, blocks } = scan(text);
  if (problem || X509 === undefined) return problem;
  for (const [i, block] of blocks.entries()) {
    try {
      new X509(block);
    } catch {
      return { kind: "not-x509", block: i + 1, blocks: blocks.length };
    }
  }
  return undefined;
}

/** The start of the proxy's messages about a bundle that breaks the rule; {@link describeCaBundleProblem} follows. */
export const NOT_A_CA_BUNDLE = "not a PEM bundle of CA certificates (each block from `-----BEGIN CERTIFICATE-----` to `-----END CERTIFICATE-----`, complete)";

/**
 * A fault of {@link caBundleProblem} in words, for the proxy's messages: where and what, never the
 * bundle's text (nor a block's type, which is text too).
 */
export function describeCaBundleProblem(problem: CaBundleProblem): string {
  const block = "block" in problem ? `block ${problem.block} of ${problem.blocks}` : "";
  switch (problem.kind) {
    case "empty":
      return "it holds no `-----BEGIN CERTIFICATE-----` line";
    case "not-certificate":
      return `${block} does not begin with \`-----BEGIN CERTIFICATE-----\``;
    case "unterminated":
      return `${block} has no \`-----END CERTIFICATE-----\` line before the next block or the end, so it is cut off`;
    case "bad-end":
      return `${block} does not end with \`-----END CERTIFICATE-----\``;
    case "not-own-line":
      return `${block} has its \`-----BEGIN\` or \`-----END\` line run into other text (each must be a line of its own, as when a file without a final newline is joined to the next)`;
    case "stray-end":
      return problem.after === 0 ? "an `-----END` line comes before the first block" : `an \`-----END\` line after block ${problem.after} of ${problem.blocks} ends no block`;
    case "bad-body":
      return `${block} is not one base64-encoded certificate (stray characters, or lines missing)`;
    case "not-x509":
      return `${block} is not a valid X.509 certificate`;
  }
}

/** Whether `der` is one DER SEQUENCE whose length is exactly its content (a truncated certificate is not). */
function isOneDerSequence(der: Buffer): boolean {
  if (der.length < 2 || der[0] !== 0x30) return false;
  const first = der[1]!;
  if (first < 0x80) return 2 + first === der.length;
  const n = first & 0x7f;
  if (n === 0 || n > 4 || der.length < 2 + n) return false;
  let length = 0;
  for (let i = 0; i < n; i++) length = length * 256 + der[2 + i]!;
  return 2 + n + length === der.length;
}
