/*
 * Values known only when an Output resolves are checked then, and a config the proxy would reject
 * fails the preview: the component's outputs and its children's inputs reject with a
 * pulumi.ResourceError attached to the component, so `pulumi preview` fails before anything is
 * created. Each case runs as a program of its own (test/support/preview-failure.ts says why).
 */
import { execFile } from "node:child_process";
import * as path from "node:path";
import { promisify } from "node:util";

const ROOT = path.resolve(__dirname, "..");

interface Outcome {
    value?: unknown;
    error?: { resourceError: boolean; onComponent: boolean; message: string };
    /** What the program reported as unhandled, as `pulumi preview` would print it. */
    unhandled: string[];
}

async function preview(name: string): Promise<Outcome> {
    let stdout: string;
    try {
        ({ stdout } = await promisify(execFile)(process.execPath, ["-r", "./test/support/ts-register.js", "test/support/preview-failure.ts", name], { cwd: ROOT, timeout: 60_000 }));
    } catch (err) {
        // A failed program exits non-zero, as `pulumi preview` does; what it printed is the outcome.
        stdout = (err as { stdout?: string }).stdout ?? "";
        if (!stdout.startsWith("{")) throw err;
    }
    return JSON.parse(stdout.split("\n")[0]!) as Outcome;
}

/** The outcome of a failing case whose only reported error is `message`. */
function failed(message: string): Outcome {
    return { error: { resourceError: true, onComponent: true, message }, unhandled: [`ResourceError: ${message}`] };
}

it("an image with no tag, given as an Output", async () => {
    expect(await preview("image-without-tag")).toEqual(
        failed('`proxy.image` "ghcr.io/acme/proxy" has no tag or digest, so each rollout could run a different proxy; write the tag into it (`proxy.image: "ghcr.io/acme/proxy:0.1.0"`) or set `proxy.tag`.'),
    );
});

it("a duplicate route prefix in a shared proxy, given as an Output", async () => {
    expect(await preview("duplicate-prefix")).toEqual(
        failed('`providers.deepseek` and `providers.mistral` both route the path prefix "/mistral", but one proxy sends each prefix to one provider; give each provider its own `route.pathPrefix` (for example "/deepseek").'),
    );
});

it("one route prefix for two providers on other hostnames, given as Outputs", async () => {
    expect(await preview("same-prefix-other-hostnames")).toEqual({ value: [["a.example.com"], ["b.example.com"]], unhandled: [] });
});

it("a provider namespace other than the shared proxy's, given as an Output", async () => {
    expect(await preview("other-namespace")).toEqual(
        failed(
            '`providers.mistral.namespace` is "other", but the gateway\'s proxy runs in "llm" and a pod can only mount Secrets of its own namespace; remove `providers.mistral.namespace` (it defaults to the gateway\'s `namespace`), or use a gateway in "other".',
        ),
    );
});

it("a provider namespace given as an Output that resolves to no value is the gateway's, as when unset", async () => {
    expect(await preview("namespace-output-without-value")).toEqual({ value: ["llm", "llm", ["llm/deepseek", "llm/mistral"]], unhandled: [] });
});

it("a shared proxy's config over the 1 MiB a ConfigMap may hold, known only once an Output resolves", async () => {
    expect(await preview("config-over-configmap-limit")).toEqual(
        failed(
            "`providers`: the proxy's config rendered from these 2 backends and 2 routes is 1050742 bytes, over the 1048576 bytes (1 MiB) Kubernetes allows in the ConfigMap that holds it, so the API server would refuse it at `pulumi up`. Split the providers across several proxies (several OpenAICompatibleGateways, each with its own).",
        ),
    );
});

it("an Output inside a gateway provider's route hostnames", async () => {
    expect(await preview("hostname-entry-output")).toEqual(
        failed('`providers.mistral`: `route.hostnames[1]` must be a lowercase DNS name, optionally starting with "*.", got "LLM.example.com"; for example "llm.example.com" or "*.example.com".'),
    );
});

describe("values given as Pulumi secrets are checked when they resolve, and never shown", () => {
    it.each([
        [
            "the key given as `apiKeySecretName`",
            "secret-key-as-secret-name",
            "`apiKeySecretName` must be a DNS-1123 subdomain (lowercase letters, digits, '-' and '.', at most 253 characters), got a Pulumi secret (its value is not shown); it takes the name of an existing Secret; if this is the API key itself, pass it as `apiKey` instead.",
        ],
        [
            "a gateway provider's host, a URL holding the key",
            "secret-host-in-gateway",
            "`providers.mistral`: `host` must be a DNS name without scheme, credentials, port or path, got a Pulumi secret (its value is not shown); credentials in a URL are not supported: pass the key with `apiKey`.",
        ],
        [
            "the shared proxy's image",
            "secret-proxy-image",
            '`proxy.image` (a Pulumi secret, not shown) has no tag or digest, so each rollout could run a different proxy; write the tag into it (`proxy.image: "<repository>:0.1.0"`) or set `proxy.tag`.',
        ],
    ])("%s", async (_name, previewCase, message) => {
        const outcome = await preview(previewCase);
        expect(outcome).toEqual(failed(message));
        expect(JSON.stringify(outcome)).not.toMatch(/sk-live|abcdef0123456789/i);
    });

    it("an API key with a trailing line break fails the Secret's registration", async () => {
        const outcome = await preview("secret-key-with-line-break");
        expect(outcome).toEqual({
            value: null,
            unhandled: [
                'ResourceError: `apiKey` starts or ends with whitespace (its value is not shown), most likely a line break or space copied along with the key, which would be sent as part of it; remove it, for example with `config.requireSecret("apiKey").apply((k) => k.trim())`.',
            ],
        });
        expect(JSON.stringify(outcome)).not.toMatch(/sk-live|abcdef0123456789/i);
    });
});

it("a tls.caCertificate Output that resolves to no value fails, naming it, instead of creating an empty CA ConfigMap", async () => {
    expect(await preview("ca-certificate-output-without-value")).toEqual(
        failed(
            "`tls.caCertificate` is an Output that resolved to no value, but whether the CA ConfigMap exists is decided when the component is constructed; give it the PEM bundle, or leave `tls.caCertificate` unset (a plain `undefined`) to verify the provider against the system CAs.",
        ),
    );
});

it("a config the proxy would reject fails the preview with the proxy's own message", async () => {
    expect(await preview("proxy-rejects")).toEqual(
        failed(
            "openai-compatible-proxy (openai-compatible-proxy/v1) would reject the config rendered from these objects, so its pods could not start: Backend llm/mistral: `spec.ai.llm.port` must be an integer from 1 to 65535; HTTPRoute llm/mistral: `spec.rules[0].backendRefs[0]` Backend llm/mistral cannot be served (see its own problems). Fix the arguments that set these fields.",
        ),
    );
});

// The proxy refused such a prefix late, naming `dataPlane`; kgateway's data plane took it.
it.each([
    ["the proxy's data plane", "prefix-not-a-header-value"],
    ["kgateway's data plane", "prefix-not-a-header-value-kgateway"],
])("an authHeader.prefix that is no header value, given as an Output, with %s", async (_name, previewCase) => {
    expect(await preview(previewCase)).toEqual(
        failed(
            '`authHeader.prefix` may only hold header-value characters: tab, space, visible ASCII or U+0080 to U+00FF, no control characters (CR, LF, NUL, ...) and nothing above U+00FF, got "Token\\nX"; for example `prefix: "Token "` (the key follows it as written).',
        ),
    );
});
