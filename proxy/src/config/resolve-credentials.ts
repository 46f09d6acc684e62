/**
 * Reads what a config only points to: provider keys, client API keys and CA bundles, from files,
 * environment variables or the manifests' in-memory values. Errors name the config field and the
 * file or variable, never a value.
 */
import { X509Certificate, createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import type { CredentialSource, ProxyConfig } from "./schema";
import { ManifestValues, normalizeKey } from "../translate/manifest-values";
import { ConfigLoadError } from "./config-load-error";
import { pemCertificateBlocks } from "../translate/pem-bundle";

export interface ResolvedCredentials {
  /** Backend name to provider key (`Key` auth). */
  backendKeys: Map<string, string>;
  /** Backend name to the PEM bundles it trusts (absent: system trust store). */
  backendCas: Map<string, string[]>;
  /** SHA-256 digests of the client API keys, or null without `clientAuth`. */
  clientKeyDigests: Buffer[] | null;
  /** Every file read, watched for changes. */
  files: string[];
}

export function resolveCredentials(config: ProxyConfig, values: ManifestValues | null, env: NodeJS.ProcessEnv = process.env): ResolvedCredentials {
  const files = new Set<string>();
  const problems: string[] = [];
  const read = (source: CredentialSource, field: string): string | undefined => {
    if ("file" in source) {
      files.add(source.file);
      try {
        return readFileSync(source.file, "utf8");
      } catch (err) {
        problems.push(`\`${field}.file\`: cannot read \`${source.file}\` (${(err as NodeJS.ErrnoException).code ?? "error"})`);
        return undefined;
      }
    }
    if ("env" in source) {
      const value = env[source.env];
      if (value === undefined || value.trim() === "") problems.push(`\`${field}.env\`: environment variable \`${source.env}\` is not set`);
      return value;
    }
    const value = values?.get(source.manifest);
    if (value === undefined) {
      problems.push(
        values
          ? `\`${field}.manifest\`: \`${source.manifest}\` is not among the loaded objects`
          : `\`${field}.manifest\`: \`${source.manifest}\` can only be resolved when the proxy loads manifests (\`--manifests\`)`,
      );
    }
    return value;
  };

  const backendKeys = new Map<string, string>();
  const backendCas = new Map<string, string[]>();
  config.backends.forEach((b, i) => {
    if (b.auth.type === "Key") {
      const raw = read(b.auth.key, `backends[${i}].auth.key`);
      if (raw !== undefined) {
        const key = normalizeKey(raw);
        if (key === "") problems.push(`\`backends[${i}].auth.key\`: the key is empty`);
        else if (/[^\t\x20-\x7e\x80-\xff]/.test(key)) problems.push(`\`backends[${i}].auth.key\`: the key contains characters not allowed in a header`);
        else backendKeys.set(b.name, key);
      }
    }
    const cas = b.tls?.caCertificates;
    if (cas) {
      const pems: string[] = [];
      cas.forEach((ca, j) => {
        const field = `backends[${i}].tls.caCertificates[${j}]`;
        let pem: string | undefined;
        if ("pem" in ca) pem = ca.pem;
        else {
          files.add(ca.file);
          try {
            pem = readFileSync(ca.file, "utf8");
          } catch (err) {
            problems.push(`\`${field}.file\`: cannot read \`${ca.file}\` (${(err as NodeJS.ErrnoException).code ?? "error"})`);
            return;
          }
        }
        if (isCaBundle(pem)) pems.push(pem);
        // Never the content: only its shape is wrong.
        else problems.push(`\`${field}\`: not a PEM bundle of CA certificates (each block from \`-----BEGIN CERTIFICATE-----\` to \`-----END CERTIFICATE-----\`, complete)`);
      });
      backendCas.set(b.name, pems);
    }
  });

  let clientKeyDigests: Buffer[] | null = null;
  if (config.clientAuth) {
    clientKeyDigests = [];
    config.clientAuth.apiKeys.forEach((source, i) => {
      const raw = read(source, `clientAuth.apiKeys[${i}]`);
      if (raw === undefined) return;
      const keys = raw
        .split(/[\r\n,]+/)
        .map((k) => normalizeKey(k))
        .filter((k) => k !== "" && !k.startsWith("#"));
      if (keys.length === 0) problems.push(`\`clientAuth.apiKeys[${i}]\`: holds no key`);
      for (const k of keys) clientKeyDigests!.push(digestKey(k));
    });
  }

  if (problems.length > 0) throw new ConfigLoadError(problems);
  return { backendKeys, backendCas, clientKeyDigests, files: [...files] };
}

/**
 * Whether `pem` is a bundle of CA certificates Node.js's TLS can use: at least one block, every block
 * complete and an X.509 certificate. `tls.createSecureContext({ ca })` accepts a garbled, truncated or
 * unterminated block without a word, and every handshake then fails.
 */
function isCaBundle(pem: string): boolean {
  const blocks = pemCertificateBlocks(pem);
  if (!blocks) return false;
  try {
    for (const block of blocks) new X509Certificate(block);
    return true;
  } catch {
    return false;
  }
}

/** SHA-256 of a key; keys are compared as digests, in constant time. */
export function digestKey(key: string): Buffer {
  return createHash("sha256").update(key).digest();
}
