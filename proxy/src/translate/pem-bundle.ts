/**
 * The certificates of a PEM bundle of CA certificates, checked for shape: every `-----BEGIN` has its
 * `-----END`, each block is a `CERTIFICATE` whose base64 body decodes to exactly one DER SEQUENCE, and
 * there is at least one. Text between blocks (the names some bundles list) is allowed.
 *
 * Pure (no `node:crypto`: the translate subpath loads nothing but zod). Node.js's TLS accepts a bundle
 * with a garbled or truncated block and then fails every handshake; the proxy also parses each block
 * as an X.509 certificate before serving it (config/resolve-credentials.ts).
 */
const BLOCK = /-----BEGIN ([A-Z0-9 ]+)-----([\s\S]*?)-----END ([A-Z0-9 ]+)-----/g;

/** The bundle's certificate blocks (each from `-----BEGIN` to `-----END`), or undefined when it is not such a bundle. */
export function pemCertificateBlocks(text: string): string[] | undefined {
  const blocks: string[] = [];
  for (const m of text.matchAll(BLOCK)) {
    if (m[1] !== "CERTIFICATE" || m[3] !== "CERTIFICATE") return undefined;
    const body = m[2]!.replace(/\s+/g, "");
    if (body === "" || body.length % 4 !== 0 || !/^[A-Za-z0-9+/]+={0,2}$/.test(body)) return undefined;
    if (!isOneDerSequence(Buffer.from(body, "base64"))) return undefined;
    blocks.push(m[0]);
  }
  const begins = text.split("-----BEGIN ").length - 1;
  const ends = text.split("-----END ").length - 1;
  if (blocks.length === 0 || begins !== blocks.length || ends !== blocks.length) return undefined;
  return blocks;
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
