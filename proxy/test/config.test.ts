/**
 * The config contract: the committed JSON Schema is current, validation names each field, and loading
 * (files, manifests, credentials) fails with one clear message per problem naming the file, object and field.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync, mkdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Ajv2020 from "ajv/dist/2020";
import { parse as parseYaml } from "yaml";
import { ConfigLoadError, loadConfig, proxyConfigJsonSchema, validateProxyConfig, parseProxyConfig, ProxyConfigError } from "../src/index";
import { resolveCredentials } from "../src/config/resolve-credentials";
import { API_VERSION } from "./helpers/proxy";
import { createTestCa } from "./helpers/certs";

const ROOT = join(__dirname, "..");
let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "proxy-config-"));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const minimal = (backend: Record<string, unknown> = {}) => ({
  apiVersion: API_VERSION,
  kind: "ProxyConfig",
  backends: [{ name: "b", host: "api.example.com", port: 443, auth: { type: "Key", key: { env: "K" } }, ...backend }],
  routes: [{ name: "r", backendRefs: [{ name: "b" }] }],
});

function loadError(fn: () => unknown): string[] {
  try {
    fn();
  } catch (err) {
    if (err instanceof ConfigLoadError) return [...err.problems];
    throw err;
  }
  throw new Error("expected a ConfigLoadError");
}

describe("the JSON Schema", () => {
  it("is committed and current (regenerate with `npm run build -w proxy && npm run schema -w proxy`)", () => {
    const committed = readFileSync(join(ROOT, "schema", "proxy-config.schema.json"), "utf8");
    expect(committed).toBe(`${JSON.stringify(proxyConfigJsonSchema(), null, 2)}\n`);
  });

  it("accepts the example config and rejects what the schema rejects", () => {
    const ajv = new Ajv2020({ strict: false, allErrors: true });
    const validate = ajv.compile(proxyConfigJsonSchema());
    const example = parseYaml(readFileSync(join(ROOT, "examples", "proxy-config.yaml"), "utf8")) as unknown;
    expect(validate(example)).toBe(true);
    expect(validateProxyConfig(example).ok).toBe(true);
    expect(validate(minimal({ port: 0 }))).toBe(false);
    expect(validate({ ...minimal(), extra: 1 })).toBe(false);
    expect(validate(minimal({ auth: { type: "Key", key: { value: "sk-inline" } } }))).toBe(false);
  });
});

describe("validation", () => {
  it("applies defaults", () => {
    const result = validateProxyConfig(minimal());
    if (!result.ok) throw new Error("invalid");
    expect(result.config.limits.maxRequestBodyBytes).toBe(10 * 1024 * 1024);
    expect(result.config.backends[0]!.auth).toEqual({ type: "Key", key: { env: "K" }, headerName: "Authorization", prefix: "Bearer " });
    expect(result.config.routes[0]!.matches).toEqual([{ path: { type: "PathPrefix", value: "/" } }]);
  });

  it.each([
    [{ ...minimal(), apiVersion: "v0" }, "apiVersion"],
    [minimal({ port: 70000 }), "backends[0].port"],
    [minimal({ host: "https://x" }), "backends[0].host"],
    [minimal({ path: "v1/chat" }), "backends[0].path"],
    [minimal({ auth: { type: "Key", key: { env: "K" }, headerName: "bad header" } }), "backends[0].auth.headerName"],
    [minimal({ auth: { type: "Key", key: { env: "K" }, prefix: "a\r\nb" } }), "backends[0].auth.prefix"],
    [minimal({ auth: { type: "Key", key: { env: "K" }, prefix: "Bearer\u20ac " } }), "backends[0].auth.prefix"],
    [minimal({ auth: { type: "Passthrough", prefix: "Bearer\u0001 " } }), "backends[0].auth.prefix"],
    [{ ...minimal(), routes: [{ name: "r", backendRefs: [{ name: "b" }], responseHeaderModifier: { set: [{ name: "x-a", value: "a\u0001b" }] } }] }, "routes[0].responseHeaderModifier.set[0].value"],
    [{ ...minimal(), routes: [{ name: "r", backendRefs: [{ name: "b" }], requestHeaderModifier: { add: [{ name: "x-a", value: "a\u007fb" }] } }] }, "routes[0].requestHeaderModifier.add[0].value"],
    [{ ...minimal(), routes: [{ name: "r", backendRefs: [{ name: "b" }], requestHeaderModifier: { remove: ["x a"] } }] }, "routes[0].requestHeaderModifier.remove[0]"],
    // Headers that frame or route the message: a second Host or Content-Length failed every request of the route.
    [{ ...minimal(), routes: [{ name: "r", backendRefs: [{ name: "b" }], requestHeaderModifier: { set: [{ name: "Host", value: "api.example.com" }] } }] }, "routes[0].requestHeaderModifier.set[0].name"],
    [{ ...minimal(), routes: [{ name: "r", backendRefs: [{ name: "b" }], requestHeaderModifier: { add: [{ name: "content-length", value: "0" }] } }] }, "routes[0].requestHeaderModifier.add[0].name"],
    [{ ...minimal(), routes: [{ name: "r", backendRefs: [{ name: "b" }], responseHeaderModifier: { set: [{ name: "Transfer-Encoding", value: "chunked" }] } }] }, "routes[0].responseHeaderModifier.set[0].name"],
    [minimal({ auth: { type: "Key", key: { value: "sk-inline" } } }), "backends[0].auth.key"],
    [{ ...minimal(), routes: [{ name: "r", backendRefs: [{ name: "missing" }] }] }, "routes[0].backendRefs[0].name"],
    [{ ...minimal(), backends: [...minimal().backends, ...minimal().backends] }, "backends[1].name"],
    [{ ...minimal(), routes: [{ name: "r", backendRefs: [{ name: "b" }], matches: [{ headers: [{ type: "RegularExpression", name: "x", value: "(" }] }] }] }, "routes[0].matches[0].headers[0].value"],
    [{ ...minimal({ auth: { type: "Passthrough" } }), clientAuth: { apiKeys: [{ env: "C" }] } }, "backends[0].auth.type"],
    // Sent as SNI, where RFC 6066 forbids addresses (Node.js sends one anyway, with a deprecation warning on stderr).
    [minimal({ tls: { serverName: "10.0.0.5" } }), "backends[0].tls.serverName"],
    [minimal({ tls: { serverName: "fd00::1" } }), "backends[0].tls.serverName"],
    [minimal({ tls: { serverName: "api.example.com:443" } }), "backends[0].tls.serverName"],
  ])("names the field: %#", (doc, field) => {
    const result = validateProxyConfig(doc);
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.issues.map((i) => i.field)).toContain(field);
  });

  it("accepts header values of tab, space, visible ASCII and U+0080 to U+00FF (what undici and Node.js send)", () => {
    const result = validateProxyConfig({ ...minimal({ auth: { type: "Key", key: { env: "K" }, prefix: "Token\t\u00e9\u00ff " } }), routes: [{ name: "r", backendRefs: [{ name: "b" }], responseHeaderModifier: { set: [{ name: "x-a", value: "caf\u00e9 ~!" }] } }] });
    expect(result.ok).toBe(true);
  });

  it("takes a DNS name as the TLS server name, and says why an IP address, or a name with a final dot, is not one", () => {
    expect(validateProxyConfig(minimal({ tls: { serverName: "vllm.models.svc.cluster.local" } })).ok).toBe(true);
    const result = validateProxyConfig(minimal({ tls: { serverName: "10.0.0.5" } }));
    expect(result.ok ? [] : result.issues.map((i) => i.message)).toEqual([expect.stringMatching(/^must be a DNS name, not an IP address: it is sent as SNI, where RFC 6066 forbids addresses/)]);
    // Node.js would send `api.example.com.` as the SNI, final dot and all.
    const dotted = validateProxyConfig(minimal({ tls: { serverName: "api.example.com." } }));
    expect(dotted.ok ? [] : dotted.issues).toEqual([{ field: "backends[0].tls.serverName", message: expect.stringMatching(/^must not end with a dot: it is sent as SNI/) }]);
  });

  it("throws a ProxyConfigError whose message names the source and each field", () => {
    expect(() => parseProxyConfig(minimal({ port: 0 }), "config.yaml")).toThrow(ProxyConfigError);
    expect(() => parseProxyConfig(minimal({ port: 0 }), "config.yaml")).toThrow(/^config\.yaml: invalid ProxyConfig: `backends\[0\]\.port` Too small/);
  });

  it("names unknown fields, but not one whose name could be a credential written in place of a field", () => {
    const messages = (auth: unknown) => {
      const result = validateProxyConfig(minimal({ auth }));
      if (result.ok) throw new Error("valid");
      return result.issues.map((i) => `${i.field}: ${i.message}`);
    };
    // `key: { sk-… }` where `key: { env: … }` was meant (a YAML flow map with the key as its only name).
    const mistral = "Ab3dEf6hIj9kLm2nOp5qRs8tUv1wXy4z"; // the shape of a Mistral key: 32 letters and digits
    for (const key of ["sk-proj-abcdefghijklmnopqrstuvwxyz0123456789", "gsk_0123456789abcdefghij", mistral]) {
      const text = messages({ type: "Key", key: { env: "K", [key]: null } }).join("\n");
      expect(text).toContain("backends[0].auth.key: Unrecognized key (not printed: its name does not look like a field name");
      expect(text).not.toContain(key);
      expect(text).not.toContain(key.slice(0, 12));
    }
    expect(messages({ type: "Key", key: { env: "K" }, headerNme: "x-api-key" })).toEqual(['backends[0].auth: Unrecognized key: "headerNme"']);
    expect(messages({ type: "Key", key: { env: "K" }, headerNme: "x", prefx: "y" })).toEqual(['backends[0].auth: Unrecognized keys: "headerNme", "prefx"']);
    const mixed = messages({ type: "Key", key: { env: "K", fil: "x", [mistral]: null, "sk-abc-def": null } });
    expect(mixed).toEqual(['backends[0].auth.key: Unrecognized keys: "fil", and 2 more (not printed: their names do not look like a field name, and could be a credential written in place of one)']);
  });

  it("does not crash on documents of the wrong shape", () => {
    for (const doc of [null, 1, "x", [], { backends: 1, routes: "x" }, { apiVersion: API_VERSION, kind: "ProxyConfig", backends: [null], routes: [null] }]) {
      expect(validateProxyConfig(doc).ok).toBe(false);
    }
  });
});

describe("loading", () => {
  it("reads a YAML or JSON ProxyConfig file", () => {
    const file = join(dir, "config.json");
    writeFileSync(file, JSON.stringify(minimal()));
    expect(loadConfig({ configFile: file }).config.backends[0]!.name).toBe("b");
  });

  it("names the file and the field of an invalid config, and the line of invalid YAML", () => {
    const file = join(dir, "config.yaml");
    writeFileSync(file, JSON.stringify(minimal({ port: 0 })));
    expect(loadError(() => loadConfig({ configFile: file }))).toEqual([`${file}: ProxyConfig: \`backends[0].port\` Too small: expected number to be >=1`]);
    writeFileSync(file, "apiVersion: [unclosed\n");
    expect(loadError(() => loadConfig({ configFile: file }))[0]).toMatch(new RegExp(`^${file}: not valid YAML or JSON at line 2, column 1: `));
    expect(loadError(() => loadConfig({ configFile: join(dir, "missing.yaml") }))).toEqual([`${join(dir, "missing.yaml")}: cannot read (ENOENT)`]);
  });

  it("reads manifests from files and folders (multi-document, skipping dot entries) and names the file, object and field of a problem", () => {
    mkdirSync(join(dir, "objects"));
    mkdirSync(join(dir, "objects", "..data"));
    writeFileSync(join(dir, "objects", "..data", "ignored.yaml"), "not: [valid");
    writeFileSync(join(dir, "objects", "notes.txt"), "not yaml at all: [");
    const docs = readFileSync(join(ROOT, "examples", "kgateway-docs", "mistral.yaml"), "utf8");
    writeFileSync(join(dir, "objects", "mistral.yaml"), docs);
    const broken = readFileSync(join(ROOT, "examples", "kgateway-docs", "deepseek.yaml"), "utf8").replace("port: 443", "port: 0");
    writeFileSync(join(dir, "deepseek.yaml"), broken);
    expect(loadConfig({ manifests: [join(dir, "objects")] }).config.routes).toHaveLength(1);
    expect(loadError(() => loadConfig({ manifests: [join(dir, "objects"), join(dir, "deepseek.yaml")] }))).toEqual([
      `${join(dir, "deepseek.yaml")}: error: Backend kgateway-system/deepseek: \`spec.ai.llm.port\` must be an integer from 1 to 65535`,
      `${join(dir, "deepseek.yaml")}: error: HTTPRoute kgateway-system/deepseek: \`spec.rules[0].backendRefs[0]\` Backend kgateway-system/deepseek cannot be served (see its own problems)`,
    ]);
  });
});

describe("manifest files without objects", () => {
  it.each([
    ["empty", ""],
    ["only whitespace and comments", "\n# objects to come\n   \n"],
    ["only document separators", "---\n---\n"],
  ])("are refused when %s, given or found in a folder, so a reload keeps the last good config", (_what, text) => {
    mkdirSync(join(dir, "objects"));
    writeFileSync(join(dir, "objects", "mistral.yaml"), readFileSync(join(ROOT, "examples", "kgateway-docs", "mistral.yaml"), "utf8"));
    const file = join(dir, "objects", "deepseek.yaml");
    writeFileSync(file, text);
    const expected = [`${file}: contains no Kubernetes objects (it is empty, or holds only comments): add the objects, or remove the file`];
    expect(loadError(() => loadConfig({ manifests: [join(dir, "objects")] }))).toEqual(expected);
    expect(loadError(() => loadConfig({ manifests: [file] }))).toEqual(expected);
  });

  it("load when the file is an explicit empty `kind: List` (no routes, no backends), or holds an empty document among objects", () => {
    const file = join(dir, "list.yaml");
    writeFileSync(file, "apiVersion: v1\nkind: List\nitems: []\n");
    expect(loadConfig({ manifests: [file] }).config).toMatchObject({ routes: [], backends: [] });
    writeFileSync(file, `---\n${readFileSync(join(ROOT, "examples", "kgateway-docs", "mistral.yaml"), "utf8")}\n---\n`);
    expect(loadConfig({ manifests: [file] }).config.routes).toHaveLength(1);
  });
});

describe("YAML and JSON that cannot be parsed", () => {
  const SECRET = "sk-h1-SECRET-TYPO1";
  // The `yaml` library quotes the offending text in its messages; in a Secret that text is the key.
  it.each([
    ["text after a block scalar indicator", `  Authorization: | ${SECRET}`, "line 11, column 20", "UNEXPECTED_TOKEN"],
    ["a folded block scalar header with text", `  Authorization: >${SECRET}`, "line 11, column 19", "UNEXPECTED_TOKEN"],
    ["a literal block scalar header with text", `  Authorization: |${SECRET}`, "line 11, column 19", "UNEXPECTED_TOKEN"],
    ["an unknown tag handle", `  Authorization: !a!${SECRET}`, "line 11, column 18", "TAG_RESOLVE_FAILED"],
    ["a bad escape in a double-quoted string", `  Authorization: "\\U${SECRET}"`, "line 11, column 19", "BAD_DQ_ESCAPE"],
    ["an unclosed double quote", `  Authorization: "${SECRET}`, "line 11, column 37", "MISSING_CHAR"],
  ])("names the file, line, column and code of %s in a manifest, never the text", (_what, line, where, code) => {
    const file = join(dir, "secret.yaml");
    writeFileSync(file, readFileSync(join(ROOT, "examples", "kgateway-docs", "mistral.yaml"), "utf8").replace("  Authorization: replace-with-your-mistral-api-key", line));
    const problems = loadError(() => loadConfig({ manifests: [file] }));
    expect(problems[0]).toMatch(new RegExp(`^${file}: not valid YAML at ${where}: .* \\(${code}\\)$`));
    expect(problems.join("\n")).not.toContain("h1-SECRET");
  });

  it("reports an alias without its anchor (a value starting with `*`) as a problem naming the line, not a crash quoting it", () => {
    const file = join(dir, "secret.yaml");
    const mistral = readFileSync(join(ROOT, "examples", "kgateway-docs", "mistral.yaml"), "utf8");
    writeFileSync(file, mistral.replace("  Authorization: replace-with-your-mistral-api-key", "  Authorization: *h1SECRETALIAS3"));
    const expected = "an alias (`*name`) refers to no anchor (`&name`) set before it: quote a value that starts with `*`";
    expect(loadError(() => loadConfig({ manifests: [file] }))).toEqual([`${file}: not valid YAML at line 11, column 18: ${expected}`]);
    writeFileSync(file, mistral.replace(/stringData:\n.*\n/, "stringData: {Authorization: *h1SECRETALIAS3}\n"));
    expect(loadError(() => loadConfig({ manifests: [file] }))).toEqual([`${file}: not valid YAML at line 10, column 29: ${expected}`]);
    const config = join(dir, "config.yaml");
    writeFileSync(config, `apiVersion: ${API_VERSION}\nkind: ProxyConfig\nbackends: *h1SECRETALIAS3\nroutes: []\n`);
    expect(loadError(() => loadConfig({ configFile: config }))).toEqual([`${config}: not valid YAML or JSON at line 3, column 11: ${expected}`]);
    // Anchors set before their aliases still work.
    writeFileSync(file, mistral.replace("  Authorization: replace-with-your-mistral-api-key", "  Authorization: &k sk-anchored\n  Other: *k"));
    expect(loadConfig({ manifests: [file] }).values?.get("Secret/kgateway-system/mistral-secret/Authorization")).toBe("sk-anchored");
  });

  it("reports YAML warnings (an unknown tag) as config warnings without the text; the library prints nothing", () => {
    const emitWarning = jest.spyOn(process, "emitWarning").mockImplementation(() => undefined);
    try {
      const file = join(dir, "secret.yaml");
      writeFileSync(file, readFileSync(join(ROOT, "examples", "kgateway-docs", "mistral.yaml"), "utf8").replace("  Authorization: replace-with-your-mistral-api-key", `  Authorization: !foo ${SECRET}`));
      const warning = "warning: YAML at line 11, column 18: unknown tag (`!name`): quote a value that starts with `!` (TAG_RESOLVE_FAILED)";
      expect(loadConfig({ manifests: [file] }).warnings).toEqual([`${file}: ${warning}`]);
      const config = join(dir, "config.yaml");
      writeFileSync(config, `apiVersion: !foo ${API_VERSION}\nkind: ProxyConfig\nbackends: []\nroutes: []\n`);
      expect(loadConfig({ configFile: config }).warnings).toEqual([`${config}: warning: YAML at line 1, column 13: unknown tag (\`!name\`): quote a value that starts with \`!\` (TAG_RESOLVE_FAILED)`]);
      expect(emitWarning).not.toHaveBeenCalled();
    } finally {
      emitWarning.mockRestore();
    }
  });

  it("names the file, line and column of a config file or JSON problem, never the text", () => {
    const file = join(dir, "config.json");
    writeFileSync(file, `{"apiVersion": "${API_VERSION}", "kind": "ProxyConfig", "x": "\\U${SECRET}"}`);
    expect(loadError(() => loadConfig({ configFile: file }))).toEqual([
      `${file}: not valid YAML or JSON at line 1, column 75: invalid escape sequence in a double-quoted string: use single quotes, or escape the backslash as \`\\\\\` (BAD_DQ_ESCAPE)`,
    ]);
    writeFileSync(file, `{"apiVersion": "${API_VERSION}", "note": "${SECRET}" "kind": "ProxyConfig"}`);
    const problems = loadError(() => loadConfig({ configFile: file }));
    expect(problems[0]).toMatch(new RegExp(`^${file}: not valid YAML or JSON at line 1, column \\d+: `));
    expect(problems.join("\n")).not.toContain("h1-SECRET");
  });
});

describe("credentials", () => {
  const config = (auth: Record<string, unknown>, extra: Record<string, unknown> = {}) => {
    const result = validateProxyConfig({ ...minimal({ auth }), ...extra });
    if (!result.ok) throw new Error(JSON.stringify(result.issues));
    return result.config;
  };

  it("reads keys from files (trimmed, `Bearer ` removed) and environment variables", () => {
    const file = join(dir, "Authorization");
    writeFileSync(file, "Bearer sk-file\n");
    const fromFile = resolveCredentials(config({ type: "Key", key: { file } }), null, {});
    expect(fromFile.backendKeys.get("b")).toBe("sk-file");
    expect(fromFile.files).toEqual([file]);
    expect(resolveCredentials(config({ type: "Key", key: { env: "K" } }), null, { K: "sk-env" }).backendKeys.get("b")).toBe("sk-env");
  });

  it("names the field and the file or variable when a key cannot be read, never a value", () => {
    const missing = join(dir, "nope");
    expect(loadError(() => resolveCredentials(config({ type: "Key", key: { file: missing } }), null, {}))).toEqual([`\`backends[0].auth.key.file\`: cannot read \`${missing}\` (ENOENT)`]);
    expect(loadError(() => resolveCredentials(config({ type: "Key", key: { env: "K" } }), null, {}))).toEqual(["`backends[0].auth.key.env`: environment variable `K` is not set"]);
    // Set but blank: one problem, not also "the key is empty".
    expect(loadError(() => resolveCredentials(config({ type: "Key", key: { env: "K" } }), null, { K: " \n" }))).toEqual(["`backends[0].auth.key.env`: environment variable `K` is empty"]);
    expect(loadError(() => resolveCredentials(config({ type: "Key", key: { manifest: "Secret/ns/s/Authorization" } }), null, {}))[0]).toMatch(/only be resolved when the proxy loads manifests/);
  });

  it("does not print a variable name, path or manifest id that could be a key written in its place", () => {
    const mistralLike = "AbCdEf0123456789SECRETmistralAbCd";
    const cases: [Record<string, unknown>, string][] = [
      [{ env: mistralLike }, "`backends[0].auth.key.env`: the environment variable it names is not set (the name is not printed: it is not an upper-case name such as `MISTRAL_API_KEY`, so it may be a key written in place of the name)"],
      [{ env: "gsk_0123456789abcdefSECRET" }, "`backends[0].auth.key.env`: the environment variable it names is not set (the name is not printed: it is not an upper-case name such as `MISTRAL_API_KEY`, so it may be a key written in place of the name)"],
      [{ env: `K${"0".repeat(64)}` }, "`backends[0].auth.key.env`: the environment variable it names is not set (the name is not printed: it is not an upper-case name such as `MISTRAL_API_KEY`, so it may be a key written in place of the name)"],
      [{ file: "sk-proj-0123456789SECRET" }, "`backends[0].auth.key.file`: cannot read the file it names (ENOENT); the path is not printed, as it could be a key written in place of a path (a name of 20 or more characters without `/`, or a part of 64 or more); a path such as `./<name>` is printed"],
      [{ file: `/keys/sk-proj-${"x".repeat(60)}` }, "`backends[0].auth.key.file`: cannot read the file it names (ENOENT); the path is not printed, as it could be a key written in place of a path (a name of 20 or more characters without `/`, or a part of 64 or more); a path such as `./<name>` is printed"],
      [{ manifest: "sk-proj-0123456789SECRET" }, "`backends[0].auth.key.manifest`: the value it names (not printed: it is not of the form `Secret/<namespace>/<name>/<key>`, so it may be a key) can only be resolved when the proxy loads manifests (`--manifests`)"],
    ];
    for (const [key, expected] of cases) expect(loadError(() => resolveCredentials(config({ type: "Key", key }), null, {}))).toEqual([expected]);
    // Names that cannot be a key are printed, to find the mistake.
    expect(loadError(() => resolveCredentials(config({ type: "Key", key: { env: "MISTRAL_API_KEY" } }), null, {}))).toEqual(["`backends[0].auth.key.env`: environment variable `MISTRAL_API_KEY` is not set"]);
    expect(loadError(() => resolveCredentials(config({ type: "Key", key: { file: "mistral.key" } }), null, {}))).toEqual(["`backends[0].auth.key.file`: cannot read `mistral.key` (ENOENT)"]);
    expect(loadError(() => resolveCredentials(config({ type: "Key", key: { file: "./a-long-relative-file-name.key" } }), null, {}))).toEqual(["`backends[0].auth.key.file`: cannot read `./a-long-relative-file-name.key` (ENOENT)"]);
    expect(loadError(() => resolveCredentials(config({ type: "Key", key: { manifest: "Secret/ns/s/Authorization" } }), null, {}))).toEqual([
      "`backends[0].auth.key.manifest`: `Secret/ns/s/Authorization` can only be resolved when the proxy loads manifests (`--manifests`)",
    ]);
    const c = config({ type: "None" });
    c.backends[0]!.tls = { serverName: "api.example.com", caCertificates: [{ file: "-----BEGIN CERTIFICATE-----MIIB" }] };
    expect(loadError(() => resolveCredentials(c, null, {}))[0]).toMatch(/^`backends\[0\]\.tls\.caCertificates\[0\]\.file`: cannot read the file it names \(ENOENT\); the path is not printed/);
  });

  it("names the file a refused key or client keys were read from (a rotated Secret, not the config), never the content", () => {
    const file = join(dir, "Authorization");
    const c = config({ type: "Key", key: { file } });
    writeFileSync(file, "\n");
    expect(loadError(() => resolveCredentials(c, null, {}))).toEqual([`\`backends[0].auth.key\`: the key is empty (read from \`${file}\`)`]);
    writeFileSync(file, "sk-h1-SECRET-one\nsk-h1-SECRET-two\n");
    const problems = loadError(() => resolveCredentials(c, null, {}));
    expect(problems).toEqual([`\`backends[0].auth.key\`: the key contains characters not allowed in a header (read from \`${file}\`)`]);
    expect(problems.join("\n")).not.toContain("h1-SECRET");
    const clients = join(dir, "team-a");
    writeFileSync(clients, "# no key yet\n");
    expect(loadError(() => resolveCredentials(config({ type: "None" }, { clientAuth: { apiKeys: [{ file: clients }] } }), null, {}))).toEqual([
      `\`clientAuth.apiKeys[0]\`: holds no key (read from \`${clients}\`)`,
    ]);
    // A path that could be a key written in its place is still not printed.
    const keyLike = join(dir, `sk-proj-${"x".repeat(64)}`);
    writeFileSync(keyLike, "");
    expect(loadError(() => resolveCredentials(config({ type: "Key", key: { file: keyLike } }), null, {}))).toEqual(["`backends[0].auth.key`: the key is empty"]);
  });

  it("with manifests, names the manifest file, the object and its field, not the translated config's field", () => {
    const docs = join(ROOT, "examples", "kgateway-docs");
    const mistral = join(dir, "mistral.yaml");
    const deepseek = join(dir, "deepseek.yaml");
    writeFileSync(mistral, readFileSync(join(docs, "mistral.yaml"), "utf8"));
    writeFileSync(deepseek, readFileSync(join(docs, "deepseek.yaml"), "utf8"));
    // A mounted Secret missing (--secrets-dir).
    const keys = join(dir, "keys");
    mkdirSync(join(keys, "mistral-secret"), { recursive: true });
    writeFileSync(join(keys, "mistral-secret", "Authorization"), "sk-mounted");
    const mounted = loadConfig({ manifests: [mistral, deepseek], translate: { secretsDir: keys } });
    expect(loadError(() => resolveCredentials(mounted.config, mounted.values, {}))).toEqual([
      `${deepseek}: error: Backend kgateway-system/deepseek: \`spec.ai.llm.openai.authToken.secretRef.name\` cannot read \`${join(keys, "deepseek-secret", "Authorization")}\` (ENOENT)`,
    ]);
    // A Secret value that cannot be sent in a header.
    writeFileSync(deepseek, readFileSync(join(docs, "deepseek.yaml"), "utf8").replace("replace-with-your-deepseek-api-key", '"sk-bad\\u0001key"'));
    const inline = loadConfig({ manifests: [mistral, deepseek] });
    expect(loadError(() => resolveCredentials(inline.config, inline.values, {}))).toEqual([
      `${deepseek}: error: Backend kgateway-system/deepseek: \`spec.ai.llm.openai.authToken.secretRef.name\` the key contains characters not allowed in a header`,
    ]);
    // A mounted CA bundle (configMapsDir) that is not PEM certificates.
    writeFileSync(deepseek, readFileSync(join(docs, "deepseek.yaml"), "utf8").replace("wellKnownCACertificates: System", "caCertificateRefs: [{group: '', kind: ConfigMap, name: ca}]"));
    mkdirSync(join(dir, "cas", "ca"), { recursive: true });
    writeFileSync(join(dir, "cas", "ca", "ca.crt"), "-----BEGIN CERTIFICATE-----\nMAMCAQE=\n-----END CERTIFICATE-----\n");
    const withCa = loadConfig({ manifests: [mistral, deepseek], translate: { configMapsDir: join(dir, "cas") } });
    expect(loadError(() => resolveCredentials(withCa.config, withCa.values, {}))).toEqual([
      `${deepseek}: error: BackendTLSPolicy kgateway-system/deepseek-tls: \`spec.validation.caCertificateRefs[0]\` not a PEM bundle of CA certificates (each block from \`-----BEGIN CERTIFICATE-----\` to \`-----END CERTIFICATE-----\`, complete): block 1 of 1 is not a valid X.509 certificate (read from \`${join(dir, "cas", "ca", "ca.crt")}\`)`,
    ]);
  });

  it("reads client API keys, one per line or comma, and keeps only their digests", () => {
    const file = join(dir, "clients");
    writeFileSync(file, "# team keys\nkey-one\n\nkey-two, key-three\n");
    const resolved = resolveCredentials(config({ type: "Key", key: { env: "K" } }, { clientAuth: { apiKeys: [{ file }] } }), null, { K: "sk" });
    expect(resolved.clientKeyDigests).toHaveLength(3);
    expect(JSON.stringify(resolved.clientKeyDigests)).not.toContain("key-one");
  });

  it("rejects a CA file or PEM that is not a complete bundle of certificates, without printing it", async () => {
    const pem = (await createTestCa()).caCert;
    const ca = join(dir, "ca.crt");
    const c = config({ type: "None" });
    c.backends[0]!.tls = { serverName: "api.example.com", caCertificates: [{ file: ca }, { pem: "" }] };
    const message = "not a PEM bundle of CA certificates (each block from `-----BEGIN CERTIFICATE-----` to `-----END CERTIFICATE-----`, complete)";
    const cutOff = "has no `-----END CERTIFICATE-----` line before the next block or the end, so it is cut off";
    const notBase64 = "is not one base64-encoded certificate (stray characters, or lines missing)";
    for (const [bad, fault] of [
      ["not a certificate", "it holds no `-----BEGIN CERTIFICATE-----` line"],
      ["-----BEGIN CERTIFICATE-----\ngarbage\n-----END CERTIFICATE-----\n", `block 1 of 1 ${notBase64}`],
      [`${pem.split("\n").slice(0, 4).join("\n")}\n-----END CERTIFICATE-----\n`, `block 1 of 1 ${notBase64}`],
      [pem.trim().split("\n").slice(0, -1).join("\n"), `block 1 of 1 ${cutOff}`],
      [`${pem}\n${pem.split("\n").slice(0, 3).join("\n")}\n`, `block 2 of 2 ${cutOff}`],
      // One DER SEQUENCE, the right length, but not a certificate: only X.509 parsing finds it.
      ["-----BEGIN CERTIFICATE-----\nMAMCAQE=\n-----END CERTIFICATE-----\n", "block 1 of 1 is not a valid X.509 certificate"],
      // Two files joined, the first without a final newline: OpenSSL's PEM reader stops at that END line,
      // and Node.js's TLS then trusts neither certificate.
      [`${pem.trimEnd()}${pem}`, "block 1 of 2 has its `-----BEGIN` or `-----END` line run into other text (each must be a line of its own, as when a file without a final newline is joined to the next)"],
      [`${pem.trimEnd()} # the test CA\n`, "block 1 of 1 has its `-----BEGIN` or `-----END` line run into other text (each must be a line of its own, as when a file without a final newline is joined to the next)"],
      [`# the test CA: ${pem}`, "block 1 of 1 has its `-----BEGIN` or `-----END` line run into other text (each must be a line of its own, as when a file without a final newline is joined to the next)"],
    ] as const) {
      writeFileSync(ca, bad);
      c.backends[0]!.tls.caCertificates![1] = { pem: bad };
      expect(loadError(() => resolveCredentials(c, null, {}))).toEqual([`\`backends[0].tls.caCertificates[0]\`: ${message}: ${fault} (read from \`${ca}\`)`, `\`backends[0].tls.caCertificates[1]\`: ${message}: ${fault}`]);
      expect(JSON.stringify(loadError(() => resolveCredentials(c, null, {})))).not.toContain(bad.includes("BEGIN") ? bad.split("\n")[1]! : bad);
    }
    writeFileSync(ca, `subject=CN = test\n${pem}\n${pem}`);
    c.backends[0]!.tls.caCertificates![1] = { pem };
    expect(resolveCredentials(c, null, {}).backendCas.get("b")).toEqual([`subject=CN = test\n${pem}\n${pem}`, pem]);
    // A byte-order mark, and spaces after an END line, are read by Node.js's TLS as usual.
    const marked = `\ufeff${pem.replace("-----END CERTIFICATE-----", "-----END CERTIFICATE----- \t")}`;
    writeFileSync(ca, marked);
    expect(resolveCredentials(c, null, {}).backendCas.get("b")).toEqual([marked, pem]);
  });
});
