/**
 * kgateway v2.1.x `Backend` (`type: AI`, `ai.llm.openai`) to a ProxyConfig backend, with kgateway's
 * own defaults: `api.openai.com:443` over TLS and `/v1/chat/completions` without `host`, the header
 * `Authorization` and prefix `Bearer ` unless `authHeader` overrides them field by field.
 */
import { HEADER_VALUE, HEADER_VALUE_RULE, type CredentialSource, type ProxyConfigInput } from "../config/schema";
import { HOSTNAME, TOKEN, isObj, joinPath, readDataKey, str, type KubeObject, type Translation } from "./kube-objects";
import { normalizeKey } from "./manifest-values";
import type { TlsSettings } from "./tls-policies";

/** Where kgateway sends an `openai` Backend without `host` (its provider defaults). */
export const OPENAI_DEFAULT_HOST = "api.openai.com";
export const OPENAI_DEFAULT_PATH = "/v1/chat/completions";

const SECRET_KEY = "Authorization";
const OTHER_PROVIDERS = ["anthropic", "azureopenai", "gemini", "vertexai", "bedrock"] as const;
/** `gen_ai.provider.name` values of the OpenTelemetry GenAI semantic conventions, by API host. */
const PROVIDER_BY_HOST: Record<string, string> = {
  "api.openai.com": "openai",
  "api.mistral.ai": "mistral_ai",
  "api.deepseek.com": "deepseek",
  "api.groq.com": "groq",
  "api.x.ai": "x_ai",
  "api.perplexity.ai": "perplexity",
};

export type BackendInput = NonNullable<ProxyConfigInput["backends"]>[number];

export function translateBackend(t: Translation, obj: KubeObject, tls: TlsSettings | undefined): BackendInput | undefined {
  const spec = isObj(obj.raw.spec) ? obj.raw.spec : {};
  if (spec.type !== "AI") {
    t.report("error", obj, "spec.type", `is \`${String(spec.type)}\`: only \`type: AI\` Backends are served`);
    return undefined;
  }
  const ai = isObj(spec.ai) ? spec.ai : undefined;
  if (!ai) {
    t.report("error", obj, "spec.ai", "is required for `type: AI`");
    return undefined;
  }
  if (ai.priorityGroups !== undefined) {
    t.report("error", obj, "spec.ai.priorityGroups", "is not supported: use one `spec.ai.llm` per Backend, and HTTPRoute `backendRefs` weights to split traffic");
    return undefined;
  }
  const llm = isObj(ai.llm) ? ai.llm : undefined;
  if (!llm) {
    t.report("error", obj, "spec.ai.llm", "is required");
    return undefined;
  }
  for (const other of OTHER_PROVIDERS) {
    if (llm[other] !== undefined) {
      t.report("error", obj, `spec.ai.llm.${other}`, "is not supported: only the `openai` provider (OpenAI-compatible APIs) is served");
      return undefined;
    }
  }
  const openai = isObj(llm.openai) ? llm.openai : undefined;
  if (!openai) {
    t.report("error", obj, "spec.ai.llm.openai", "is required");
    return undefined;
  }
  let ok = true;
  const fail = (field: string, message: string): void => {
    t.report("error", obj, field, message);
    ok = false;
  };

  // Host and port: both or neither (CRD rule); the CRD has no range check on port, we do.
  const hostRaw = llm.host;
  const portRaw = llm.port;
  let host = OPENAI_DEFAULT_HOST;
  let port = 443;
  let path: string | undefined;
  let tlsOut: TlsSettings | undefined = tls;
  if (hostRaw === undefined && portRaw === undefined) {
    // kgateway's provider defaults for openai: api.openai.com:443 over TLS, path /v1/chat/completions.
    tlsOut = tls ?? { serverName: OPENAI_DEFAULT_HOST };
    path = OPENAI_DEFAULT_PATH;
  } else if (hostRaw === undefined || portRaw === undefined) {
    fail(hostRaw === undefined ? "spec.ai.llm.host" : "spec.ai.llm.port", "`host` and `port` must be set together");
  } else {
    if (typeof hostRaw !== "string" || !(HOSTNAME.test(hostRaw) || /^[0-9a-fA-F:.]+$/.test(hostRaw))) fail("spec.ai.llm.host", "must be a DNS name or an IP address, without scheme, port or path");
    else host = hostRaw;
    if (typeof portRaw !== "number" || !Number.isInteger(portRaw) || portRaw < 1 || portRaw > 65535) fail("spec.ai.llm.port", "must be an integer from 1 to 65535");
    else port = portRaw;
    if (!tls && port === 443) {
      t.report("warning", obj, "spec.ai.llm.port", "is 443 but no BackendTLSPolicy targets this Backend: requests go out in plaintext, as kgateway sends them; add a BackendTLSPolicy for HTTPS");
    }
  }
  const pathSpec = isObj(llm.path) ? llm.path : undefined;
  if (pathSpec && pathSpec.full !== undefined) {
    const full = str(pathSpec.full);
    if (!full || !full.startsWith("/") || /[\s#]/.test(full)) fail("spec.ai.llm.path.full", "must be an absolute path such as `/v1/chat/completions`");
    else path = full;
  }

  // authHeader: kgateway's defaults for openai are `Authorization` and `Bearer `; each field overrides one
  // of them and the value is `prefix + key`, verbatim.
  let headerName = "Authorization";
  let prefix = "Bearer ";
  if (llm.authHeader !== undefined) {
    const ah = isObj(llm.authHeader) ? llm.authHeader : {};
    if (ah.headerName !== undefined) {
      const n = str(ah.headerName);
      if (!n || !TOKEN.test(n)) fail("spec.ai.llm.authHeader.headerName", "must be an HTTP header name");
      else headerName = n;
    }
    if (ah.prefix !== undefined) {
      const p = str(ah.prefix);
      if (!p || !HEADER_VALUE.test(p)) fail("spec.ai.llm.authHeader.prefix", `must be a non-empty header value: ${HEADER_VALUE_RULE}`);
      else {
        prefix = p;
        if (/[A-Za-z0-9]$/.test(p)) {
          // A prefix is printed only when short: a long one may be the key itself, written into the prefix.
          const message =
            p.length < 20
              ? `is used verbatim, so the header is \`${headerName}: ${p}<key>\`; end it with a space if the provider expects \`${p} <key>\``
              : "is used verbatim and ends with a letter or digit, so the key follows it without a space; end it with a space if the provider expects one (the prefix is not printed: this long, it may hold a key)";
          t.report("warning", obj, "spec.ai.llm.authHeader.prefix", message);
        }
      }
    }
    if (ah.headerName === undefined && ah.prefix === undefined) fail("spec.ai.llm.authHeader", "set `headerName`, `prefix` or both");
  }

  const authToken = isObj(openai.authToken) ? openai.authToken : undefined;
  let auth: BackendInput["auth"] | undefined;
  const tokenKind = authToken ? str(authToken.kind) : undefined;
  if (!authToken) fail("spec.ai.llm.openai.authToken", "is required");
  else if (tokenKind === "Passthrough") auth = { type: "Passthrough", headerName, prefix };
  else if (tokenKind === "Inline") {
    const inline = str(authToken.inline);
    if (!inline || normalizeKey(inline) === "") fail("spec.ai.llm.openai.authToken.inline", "must hold the API key");
    else if (t.options.secretsDir !== undefined) fail("spec.ai.llm.openai.authToken.kind", "`Inline` keys cannot be mounted into the proxy: store the key in a Secret and use `SecretRef`");
    else {
      const id = `Backend/${obj.namespace}/${obj.name}/inline`;
      t.values.set(id, normalizeKey(inline));
      auth = { type: "Key", key: { manifest: id }, headerName, prefix };
    }
  } else if (tokenKind === "SecretRef") {
    const ref = isObj(authToken.secretRef) ? authToken.secretRef : {};
    const secretName = str(ref.name);
    const field = "spec.ai.llm.openai.authToken.secretRef.name";
    const source = secretName ? secretSource(t, obj, secretName, field) : undefined;
    if (!secretName) fail(field, "is required");
    else if (!source) ok = false;
    else auth = { type: "Key", key: source, headerName, prefix };
  } else fail("spec.ai.llm.openai.authToken.kind", "must be `SecretRef`, `Inline` or `Passthrough`");

  const model = openai.model;
  if (model !== undefined && typeof model !== "string") fail("spec.ai.llm.openai.model", "must be a string");

  if (!ok || !auth) return undefined;
  if (auth.type === "Key") {
    const field = tokenKind === "Inline" ? "spec.ai.llm.openai.authToken.inline" : "spec.ai.llm.openai.authToken.secretRef.name";
    t.values.setOrigin(`${obj.namespace}/${obj.name}`, "auth.key", { kind: obj.kind, namespace: obj.namespace, name: obj.name, field });
  }
  return {
    name: `${obj.namespace}/${obj.name}`,
    host,
    port,
    ...(tlsOut ? { tls: tlsOut } : {}),
    ...(path ? { path } : {}),
    ...(typeof model === "string" && model !== "" ? { model } : {}),
    auth,
    provider: PROVIDER_BY_HOST[(tlsOut?.serverName ?? host).toLowerCase()] ?? (tlsOut?.serverName ?? host).toLowerCase(),
  };
}

/** Resolves a Backend's Secret reference into a credential source, checking the Secret when it is present. */
function secretSource(t: Translation, backend: KubeObject, secretName: string, field: string): CredentialSource | undefined {
  const secret = t.get("Secret", backend.namespace, secretName);
  const dir = t.options.secretsDir;
  if (!secret) {
    if (dir !== undefined) return { file: joinPath(dir, secretName, SECRET_KEY) };
    // kgateway would silently send no key; we refuse to start instead.
    t.report("error", backend, field, `Secret ${backend.namespace}/${secretName} is not among the objects`);
    return undefined;
  }
  const raw = readDataKey(t, secret, SECRET_KEY);
  if (raw === undefined) {
    t.report("error", backend, field, `Secret ${backend.namespace}/${secretName} has no \`${SECRET_KEY}\` key (in \`data\` or \`stringData\`)`);
    return undefined;
  }
  const value = normalizeKey(raw);
  if (value === "") {
    t.report("error", backend, field, `Secret ${backend.namespace}/${secretName} key \`${SECRET_KEY}\` is empty`);
    return undefined;
  }
  if (dir !== undefined) return { file: joinPath(dir, secretName, SECRET_KEY) };
  const id = `Secret/${backend.namespace}/${secretName}/${SECRET_KEY}`;
  t.values.set(id, value);
  return { manifest: id };
}
