/**
 * Reads what a config only points to: provider keys, client API keys and CA bundles, from files,
 * environment variables or the manifests' in-memory values. Errors name the config field and the
 * file or variable, never a value.
 */
import { X509Certificate, createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { HEADER_VALUE, type CredentialSource, type ProxyConfig } from "./schema";
import { ManifestValues, normalizeKey, type CredentialOrigin } from "../translate/manifest-values";
import { formatTranslationProblem } from "../translate/format-problem";
import { ConfigLoadError } from "./config-load-error";
import { NOT_A_CA_BUNDLE, caBundleProblem, describeCaBundleProblem } from "../translate/pem-bundle";

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
  // A problem names the config field or, for a config translated from manifests, the file, object and
  // field the credential comes from (`--secrets-dir` files, ConfigMap CA bundles, Secret values).
  const report = (field: string, message: string, origin?: CredentialOrigin): void => {
    if (!origin) return void problems.push(`\`${field}\`: ${message}`);
    const { file, ...object } = origin;
    problems.push(`${file ? `${file}: ` : ""}${formatTranslationProblem({ severity: "error", ...object, message })}`);
  };
  const read = (source: CredentialSource, field: string, origin?: CredentialOrigin): string | undefined => {
    if ("file" in source) {
      files.add(source.file);
      try {
        return readFileSync(source.file, "utf8");
      } catch (err) {
        report(`${field}.file`, cannotRead(source.file, err), origin);
        return undefined;
      }
    }
    if ("env" in source) {
      const value = env[source.env];
      if (value === undefined || value.trim() === "") {
        const state = value === undefined ? "is not set" : "is empty";
        report(
          `${field}.env`,
          ENV_NAME_SHOWN.test(source.env)
            ? `environment variable \`${source.env}\` ${state}`
            : `the environment variable it names ${state} (the name is not printed: it is not an upper-case name such as \`MISTRAL_API_KEY\`, so it may be a key written in place of the name)`,
          origin,
        );
        // Reported once, here: not also as an empty key.
        return undefined;
      }
      return value;
    }
    const value = values?.get(source.manifest);
    if (value === undefined) {
      const id = MANIFEST_ID.test(source.manifest) ? `\`${source.manifest}\`` : "the value it names (not printed: it is not of the form `Secret/<namespace>/<name>/<key>`, so it may be a key)";
      report(`${field}.manifest`, values ? `${id} is not among the loaded objects` : `${id} can only be resolved when the proxy loads manifests (\`--manifests\`)`, origin);
    }
    return value;
  };

  const backendKeys = new Map<string, string>();
  const backendCas = new Map<string, string[]>();
  config.backends.forEach((b, i) => {
    if (b.auth.type === "Key") {
      const origin = values?.origin(b.name, "auth.key");
      const raw = read(b.auth.key, `backends[${i}].auth.key`, origin);
      if (raw !== undefined) {
        const key = normalizeKey(raw);
        if (key === "") report(`backends[${i}].auth.key`, `the key is empty${readFrom(b.auth.key)}`, origin);
        else if (!HEADER_VALUE.test(key)) report(`backends[${i}].auth.key`, `the key contains characters not allowed in a header${readFrom(b.auth.key)}`, origin);
        else backendKeys.set(b.name, key);
      }
    }
    const cas = b.tls?.caCertificates;
    if (cas) {
      const pems: string[] = [];
      cas.forEach((ca, j) => {
        const field = `backends[${i}].tls.caCertificates[${j}]`;
        const origin = values?.origin(b.name, `tls.caCertificates[${j}]`);
        let pem: string | undefined;
        if ("pem" in ca) pem = ca.pem;
        else {
          files.add(ca.file);
          try {
            pem = readFileSync(ca.file, "utf8");
          } catch (err) {
            report(`${field}.file`, cannotRead(ca.file, err), origin);
            return;
          }
        }
        const problem = caBundleProblem(pem, X509Certificate);
        if (problem === undefined) pems.push(pem);
        // Checked here because `tls.createSecureContext({ ca })` accepts a garbled, truncated or
        // unterminated block without a word, and every handshake then fails. Never the content in the
        // message: only where and how its shape is wrong.
        else report(field, `${NOT_A_CA_BUNDLE}: ${describeCaBundleProblem(problem)}${readFrom(ca)}`, origin);
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
      if (keys.length === 0) problems.push(`\`clientAuth.apiKeys[${i}]\`: holds no key${readFrom(source)}`);
      for (const k of keys) clientKeyDigests!.push(digestKey(k));
    });
  }

  if (problems.length > 0) throw new ConfigLoadError(problems, [...files]);
  return { backendKeys, backendCas, clientKeyDigests, files: [...files] };
}

/*
 * A config templated with a key where the name of its variable, file or manifest value belongs must not
 * print the key in its error. Names are printed only when they cannot be one: an environment variable
 * name in upper case (a provider key of 20 or more random letters and digits is all upper case with
 * negligible odds, and keys with `-` are not valid names), a manifest id of the form
 * `Kind/<namespace>/<name>/<key>` (no key has three slashes), and a path with a `/` and no segment of
 * 64 or more characters, or a bare name under 20 characters (provider keys are longer and have no `/`).
 */
const ENV_NAME_SHOWN = /^[A-Z_][A-Z0-9_]{0,63}$/;
const MANIFEST_ID = /^(?:Secret|Backend)\/[a-z0-9.-]{1,253}\/[a-z0-9.-]{1,253}\/[A-Za-z0-9._-]{1,253}$/;

function pathShown(path: string): boolean {
  return (path.includes("/") || path.length < 20) && path.split("/").every((segment) => segment.length < 64);
}

function cannotRead(path: string, err: unknown): string {
  const code = (err as NodeJS.ErrnoException).code ?? "error";
  return pathShown(path)
    ? `cannot read \`${path}\` (${code})`
    : `cannot read the file it names (${code}); the path is not printed, as it could be a key written in place of a path (a name of 20 or more characters without \`/\`, or a part of 64 or more); a path such as \`./<name>\` is printed`;
}

/**
 * For a value read from a file, the file (when its path may be printed): what a rotated Secret or
 * ConfigMap broke is that file, not the config that points to it.
 */
function readFrom(source: CredentialSource | { pem: string }): string {
  return "file" in source && pathShown(source.file) ? ` (read from \`${source.file}\`)` : "";
}

/** SHA-256 of a key; keys are compared as digests, in constant time. */
export function digestKey(key: string): Buffer {
  return createHash("sha256").update(key).digest();
}
