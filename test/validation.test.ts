import * as pulumi from "@pulumi/pulumi";
import { AuthHeaderArgs, OpenAICompatibleGateway, OpenAICompatibleProvider, OpenAICompatibleProviderArgs, ProviderArgumentError, renderObjects, ResolvedArgs, resolveSettings, validateArgs } from "../src";
import { peek } from "../src/settings";
import { objectList } from "../src/kubernetes-objects";
import { renderProxyConfig } from "../src/proxy-config";
import { secretArgumentPaths } from "../src/secret-arguments";
import { crdValidator } from "./support/crd-validator";
import { gateway } from "./support/proxy-fixtures";
import { RecordedResource, settled, unknownOutput, withRecordingMocks } from "./support/pulumi-mocks";
import { TEST_CA_PEM } from "./support/scenarios";
import { createTestCa } from "../proxy/test/helpers/certs";

/** The `kubernetesName` rule: the proxy's Service, `<name>-proxy`, must be a DNS-1035 label of at most 63 characters. */
const NAME_RULE = "must be a DNS-1035 label (lowercase letters, digits and '-', starting with a letter and ending with a letter or digit) of at most 56 characters, because the proxy's Service is named after it";
const PRESETS = "cerebras, deepseek, fireworks, groq, mistral, openai, openrouter, perplexity, together, xai";
/** The test CA's PEM lines, to cut it up; a PEM block whose body is a DER SEQUENCE but no certificate; a private key's block. */
const CA_LINES = TEST_CA_PEM.trim().split("\n");
const NOT_X509_BLOCK = "-----BEGIN CERTIFICATE-----\nMAMCAQE=\n-----END CERTIFICATE-----\n";
const KEY_BLOCK = "-----BEGIN PRIVATE KEY-----\nMAMCAQE=\n-----END PRIVATE KEY-----\n";

function base(): OpenAICompatibleProviderArgs {
    return { preset: "mistral", apiKey: "test-key", route: { gateway: { name: "agentgateway" } } };
}

/** The error constructing the component throws, run under mocks. */
async function constructionError(args: OpenAICompatibleProviderArgs, name = "mistral"): Promise<Error | undefined> {
    const { result } = await withRecordingMocks({}, () => {
        try {
            new OpenAICompatibleProvider(name, args);
            return Promise.resolve(undefined);
        } catch (err) {
            return Promise.resolve(err as Error);
        }
    });
    return result;
}

type Case = [string, (a: OpenAICompatibleProviderArgs) => void, string];

const cases: Case[] = [
    ["unknown preset", (a) => (a.preset = "mistrall"), `\`preset\` "mistrall" is not a known preset; use one of ${PRESETS}, or leave \`preset\` unset and give \`host\`, \`port\` and \`path\`.`],
    ["neither preset nor host", (a) => delete a.preset, `\`host\` is required when \`preset\` is not set; set \`preset\` (one of ${PRESETS}) or \`host\`, for example \`host: "api.mistral.ai"\`.`],
    ["host given as a base URL", (a) => (a.host = "https://api.mistral.ai/v1"), '`host` must be a DNS name without scheme, port or path, got "https://api.mistral.ai/v1"; use `host: "api.mistral.ai"` and `path: "/v1/chat/completions"`.'],
    ["host with a port", (a) => (a.host = "llm.example.com:8443"), '`host` must be a DNS name without scheme, port or path, got "llm.example.com:8443"; use `host: "llm.example.com"` and `port: 8443`.'],
    ["host with scheme, port and full path", (a) => (a.host = "http://vllm.local:8000/v1/chat/completions"), '`host` must be a DNS name without scheme, port or path, got "http://vllm.local:8000/v1/chat/completions"; use `host: "vllm.local"`, `port: 8000` and `path: "/v1/chat/completions"`.'],
    ["host in upper case", (a) => (a.host = "API.Mistral.ai"), '`host` must be a lowercase DNS name, got "API.Mistral.ai"; use `host: "api.mistral.ai"`.'],
    // A key written into the URL is never echoed: the user information is masked, and said to be unsupported.
    [
        "host given as a URL with credentials",
        (a) => (a.host = "https://user:sk-live-ABCdef0123456789@api.x.ai/v1"),
        '`host` must be a DNS name without scheme, credentials, port or path, got "https://<credentials>@api.x.ai/v1"; credentials in a URL are not supported: pass the key with `apiKey`; use `host: "api.x.ai"` and `path: "/v1/chat/completions"`.',
    ],
    [
        "host with credentials and no scheme",
        (a) => (a.host = "sk-live-ABCdef0123456789@api.x.ai"),
        '`host` must be a DNS name without scheme, credentials, port or path, got "<credentials>@api.x.ai"; credentials in a URL are not supported: pass the key with `apiKey`; use `host: "api.x.ai"`.',
    ],
    // IP addresses: no SNI or certificate name with TLS, and never a URLRewrite hostname for IPv6.
    ["host an IPv4 address, with TLS", (a) => (a.host = "10.1.2.3"), "`host` \"10.1.2.3\" is an IP address, but with TLS it is also the BackendTLSPolicy's `validation.hostname`, sent as SNI and matched against the server's certificate, which needs a DNS name (RFC 6066 forbids IP addresses in SNI); use the DNS name the certificate is issued for (for an in-cluster server, its Service's name such as \"vllm.models.svc.cluster.local\"), or set `tls.insecurePlaintext: true` for an in-cluster server without TLS."],
    ["host an IPv6 address", (a) => (a.host = "[::1]"), "`host` must be a DNS name, not an IPv6 address, got \"[::1]\": it is also the HTTPRoute's URLRewrite hostname, which Gateway API only allows as a DNS name; for an in-cluster server use its Service's DNS name, for example `host: \"vllm.models.svc.cluster.local\"`."],
    ["host an IPv6 address without brackets", (a) => (a.host = "fd00::1"), "`host` must be a DNS name, not an IPv6 address, got \"fd00::1\": it is also the HTTPRoute's URLRewrite hostname, which Gateway API only allows as a DNS name; for an in-cluster server use its Service's DNS name, for example `host: \"vllm.models.svc.cluster.local\"`."],
    ["host an IPv6 address with a port", (a) => (a.host = "http://[fd00::1]:8000"), "`host` must be a DNS name, not an IPv6 address, got \"http://[fd00::1]:8000\": it is also the HTTPRoute's URLRewrite hostname, which Gateway API only allows as a DNS name; for an in-cluster server use its Service's DNS name, for example `host: \"vllm.models.svc.cluster.local\"`."],
    // Limits the proxy's schema would have caught late, naming `dataPlane`.
    ["host with a label over 63 characters", (a) => (a.host = `${"a".repeat(64)}.example.com`), `\`host\` has a label of 64 characters, got "${"a".repeat(64)}.example.com"; each dot-separated part of a DNS name is at most 63 characters.`],
    ["host not a DNS name", (a) => (a.host = "my_llm"), '`host` must be a DNS name (lowercase letters, digits, \'-\' and \'.\', at most 253 characters), got "my_llm"; for example `host: "api.mistral.ai"`.'],
    ["port out of range", (a) => (a.port = 70000), "`port` must be an integer from 1 to 65535, got 70000; use 443 for an HTTPS provider."],
    ["port zero", (a) => (a.port = 0), "`port` must be an integer from 1 to 65535, got 0; use 443 for an HTTPS provider."],
    ["port not an integer", (a) => (a.port = 443.5), "`port` must be an integer from 1 to 65535, got 443.5; use 443 for an HTTPS provider."],
    ["relative path", (a) => (a.path = "v1/chat/completions"), '`path` must be the full request path starting with "/", got "v1/chat/completions"; use `path: "/v1/chat/completions"`.'],
    ["path given as a URL", (a) => (a.path = "https://api.x.ai/v1/chat/completions"), '`path` must be a path starting with "/", not a URL, got "https://api.x.ai/v1/chat/completions"; use `host: "api.x.ai"` and `path: "/v1/chat/completions"`.'],
    [
        "path given as a URL with credentials",
        (a) => (a.path = "https://user:sk-live-ABCdef0123456789@api.x.ai/v1/chat/completions"),
        '`path` must be a path starting with "/", not a URL, got "https://<credentials>@api.x.ai/v1/chat/completions"; credentials in a URL are not supported: pass the key with `apiKey`; use `host: "api.x.ai"` and `path: "/v1/chat/completions"`.',
    ],
    ["path with a query", (a) => (a.path = "/v1/chat/completions?beta=true"), '`path` may only hold URL path characters (RFC 3986: no query, fragment or whitespace), got "/v1/chat/completions?<query not shown>"; for example `path: "/v1/chat/completions"`.'],
    // Another path than the one written: servers resolve dot segments and may merge "//".
    ["path with a .. segment", (a) => (a.path = "/v1/../admin"), "`path` must not hold a \".\" or \"..\" segment, plain or percent-encoded (\"%2e%2e\"), nor one followed by a \";\" parameter (\"..;x\", \"%2e%2e%3b\"), which servers resolve to another path, got \"/v1/../admin\"; give the endpoint's path as the provider documents it, for example `path: \"/v1/chat/completions\"`."],
    ["path with a percent-encoded .. segment", (a) => (a.path = "/v1/%2e%2E/x"), "`path` must not hold a \".\" or \"..\" segment, plain or percent-encoded (\"%2e%2e\"), nor one followed by a \";\" parameter (\"..;x\", \"%2e%2e%3b\"), which servers resolve to another path, got \"/v1/%2e%2E/x\"; give the endpoint's path as the provider documents it, for example `path: \"/v1/chat/completions\"`."],
    ["path with a half-encoded . segment at the end", (a) => (a.path = "/v1/chat/%2E"), "`path` must not hold a \".\" or \"..\" segment, plain or percent-encoded (\"%2e%2e\"), nor one followed by a \";\" parameter (\"..;x\", \"%2e%2e%3b\"), which servers resolve to another path, got \"/v1/chat/%2E\"; give the endpoint's path as the provider documents it, for example `path: \"/v1/chat/completions\"`."],
    ["path with a ..; segment", (a) => (a.path = "/v1/..;/admin"), "`path` must not hold a \".\" or \"..\" segment, plain or percent-encoded (\"%2e%2e\"), nor one followed by a \";\" parameter (\"..;x\", \"%2e%2e%3b\"), which servers resolve to another path, got \"/v1/..;/admin\"; give the endpoint's path as the provider documents it, for example `path: \"/v1/chat/completions\"`."],
    ["path with a .; segment holding a parameter", (a) => (a.path = "/v1/.;jsessionid=x/chat"), "`path` must not hold a \".\" or \"..\" segment, plain or percent-encoded (\"%2e%2e\"), nor one followed by a \";\" parameter (\"..;x\", \"%2e%2e%3b\"), which servers resolve to another path, got \"/v1/.;jsessionid=x/chat\"; give the endpoint's path as the provider documents it, for example `path: \"/v1/chat/completions\"`."],
    ["path with a percent-encoded ..; segment", (a) => (a.path = "/v1/%2e%2e%3B/admin"), "`path` must not hold a \".\" or \"..\" segment, plain or percent-encoded (\"%2e%2e\"), nor one followed by a \";\" parameter (\"..;x\", \"%2e%2e%3b\"), which servers resolve to another path, got \"/v1/%2e%2e%3B/admin\"; give the endpoint's path as the provider documents it, for example `path: \"/v1/chat/completions\"`."],
    ["path with a half-encoded ..; segment at the end", (a) => (a.path = "/v1/chat/.%2E;x"), "`path` must not hold a \".\" or \"..\" segment, plain or percent-encoded (\"%2e%2e\"), nor one followed by a \";\" parameter (\"..;x\", \"%2e%2e%3b\"), which servers resolve to another path, got \"/v1/chat/.%2E;x\"; give the endpoint's path as the provider documents it, for example `path: \"/v1/chat/completions\"`."],
    ["path with empty segments", (a) => (a.path = "//v1//chat"), "`path` must not hold an empty segment (\"//\"), got \"//v1//chat\"; give the endpoint's path as the provider documents it, for example `path: \"/v1/chat/completions\"`."],
    ["empty model", (a) => (a.model = ""), '`model` must be a non-empty string without surrounding whitespace, got ""; leave `model` unset to take the model from each request.'],
    ["authHeader with neither field", (a) => (a.authHeader = {}), "`authHeader` needs `headerName` or `prefix` (or both); remove `authHeader` to send the key as `Authorization: Bearer <key>`."],
    ["authHeader.headerName not a token", (a) => (a.authHeader = { headerName: "X Api Key" }), "`authHeader.headerName` must be an HTTP header name (RFC 9110 token characters, no spaces or ':'), got \"X Api Key\"; for example `headerName: \"x-api-key\"`."],
    // The key would become the request's framing or Host, or be dropped at the next hop.
    ["authHeader.headerName Host", (a) => (a.authHeader = { headerName: "Host" }), "`authHeader.headerName` \"Host\" cannot carry the key: it frames, routes or hops the request, so the key would become its Host, length or transfer coding, or be dropped (Host, Content-Length, Transfer-Encoding, Connection, TE, Upgrade, Keep-Alive and Proxy-* are refused); use the header the provider documents, for example `headerName: \"x-api-key\"`."],
    ["authHeader.headerName content-length", (a) => (a.authHeader = { headerName: "content-length" }), "`authHeader.headerName` \"content-length\" cannot carry the key: it frames, routes or hops the request, so the key would become its Host, length or transfer coding, or be dropped (Host, Content-Length, Transfer-Encoding, Connection, TE, Upgrade, Keep-Alive and Proxy-* are refused); use the header the provider documents, for example `headerName: \"x-api-key\"`."],
    ["authHeader.headerName Transfer-Encoding", (a) => (a.authHeader = { headerName: "Transfer-Encoding" }), "`authHeader.headerName` \"Transfer-Encoding\" cannot carry the key: it frames, routes or hops the request, so the key would become its Host, length or transfer coding, or be dropped (Host, Content-Length, Transfer-Encoding, Connection, TE, Upgrade, Keep-Alive and Proxy-* are refused); use the header the provider documents, for example `headerName: \"x-api-key\"`."],
    ["authHeader.headerName Connection", (a) => (a.authHeader = { headerName: "Connection" }), "`authHeader.headerName` \"Connection\" cannot carry the key: it frames, routes or hops the request, so the key would become its Host, length or transfer coding, or be dropped (Host, Content-Length, Transfer-Encoding, Connection, TE, Upgrade, Keep-Alive and Proxy-* are refused); use the header the provider documents, for example `headerName: \"x-api-key\"`."],
    ["authHeader.headerName TE", (a) => (a.authHeader = { headerName: "TE" }), "`authHeader.headerName` \"TE\" cannot carry the key: it frames, routes or hops the request, so the key would become its Host, length or transfer coding, or be dropped (Host, Content-Length, Transfer-Encoding, Connection, TE, Upgrade, Keep-Alive and Proxy-* are refused); use the header the provider documents, for example `headerName: \"x-api-key\"`."],
    ["authHeader.headerName Upgrade", (a) => (a.authHeader = { headerName: "Upgrade" }), "`authHeader.headerName` \"Upgrade\" cannot carry the key: it frames, routes or hops the request, so the key would become its Host, length or transfer coding, or be dropped (Host, Content-Length, Transfer-Encoding, Connection, TE, Upgrade, Keep-Alive and Proxy-* are refused); use the header the provider documents, for example `headerName: \"x-api-key\"`."],
    ["authHeader.headerName Keep-Alive", (a) => (a.authHeader = { headerName: "Keep-Alive" }), "`authHeader.headerName` \"Keep-Alive\" cannot carry the key: it frames, routes or hops the request, so the key would become its Host, length or transfer coding, or be dropped (Host, Content-Length, Transfer-Encoding, Connection, TE, Upgrade, Keep-Alive and Proxy-* are refused); use the header the provider documents, for example `headerName: \"x-api-key\"`."],
    ["authHeader.headerName Proxy-Authorization", (a) => (a.authHeader = { headerName: "Proxy-Authorization" }), "`authHeader.headerName` \"Proxy-Authorization\" cannot carry the key: it frames, routes or hops the request, so the key would become its Host, length or transfer coding, or be dropped (Host, Content-Length, Transfer-Encoding, Connection, TE, Upgrade, Keep-Alive and Proxy-* are refused); use the header the provider documents, for example `headerName: \"x-api-key\"`."],
    ["authHeader.prefix empty", (a) => (a.authHeader = { prefix: "" }), '`authHeader.prefix` must be a non-empty string that does not start with whitespace, got ""; the key follows it as written, so end it with a space for `Token <key>` (`prefix: "Token "`), or omit `prefix` to keep kgateway\'s default.'],
    ["authHeader.prefix only a space", (a) => (a.authHeader = { prefix: " " }), '`authHeader.prefix` must be a non-empty string that does not start with whitespace, got " "; the key follows it as written, so end it with a space for `Token <key>` (`prefix: "Token "`), or omit `prefix` to keep kgateway\'s default.'],
    ["authHeader.prefix with a leading space", (a) => (a.authHeader = { prefix: " Token" }), '`authHeader.prefix` must be a non-empty string that does not start with whitespace, got " Token"; the key follows it as written, so end it with a space for `Token <key>` (`prefix: "Token "`), or omit `prefix` to keep kgateway\'s default.'],
    [
        "authHeader.prefix with a line break",
        (a) => (a.authHeader = { headerName: "api-key", prefix: "Token\r\nX-Injected: 1" }),
        '`authHeader.prefix` may only hold header-value characters: tab, space, visible ASCII or U+0080 to U+00FF, no control characters (CR, LF, NUL, ...) and nothing above U+00FF, got "Token\\r\\nX-Injected: 1"; for example `prefix: "Token "` (the key follows it as written).',
    ],
    [
        "authHeader.prefix with a character above U+00FF",
        (a) => (a.authHeader = { prefix: "Bearer\u20ac" }),
        '`authHeader.prefix` may only hold header-value characters: tab, space, visible ASCII or U+0080 to U+00FF, no control characters (CR, LF, NUL, ...) and nothing above U+00FF, got "Bearer\u20ac"; for example `prefix: "Token "` (the key follows it as written).',
    ],
    ["no credential", (a) => delete a.apiKey, "No credential given; set exactly one of `apiKey` (the component creates the Secret), `apiKeySecretName` (an existing Secret holding the key under `Authorization`) or `passthrough: true` (forward each client's own token)."],
    ["two credentials", (a) => (a.passthrough = true), "`apiKey` and `passthrough: true` are both set; set exactly one of `apiKey`, `apiKeySecretName` or `passthrough: true`."],
    ["three credentials", (a) => Object.assign(a, { passthrough: true, apiKeySecretName: "k" }), "`apiKey`, `apiKeySecretName` and `passthrough: true` are all set; set exactly one of `apiKey`, `apiKeySecretName` or `passthrough: true`."],
    ["empty apiKey", (a) => (a.apiKey = ""), '`apiKey` is empty; pass the provider\'s API key, for example `config.requireSecret("apiKey")`.'],
    // A key an HTTP header cannot carry as given; the value is never shown.
    ["apiKey only whitespace", (a) => (a.apiKey = " \t "), '`apiKey` is only whitespace; pass the provider\'s API key, for example `config.requireSecret("apiKey")`.'],
    [
        "apiKey with a trailing line break",
        (a) => (a.apiKey = "sk-live-ABCdef0123456789\n"),
        '`apiKey` starts or ends with whitespace (its value is not shown), most likely a line break or space copied along with the key, which would be sent as part of it; remove it, for example with `config.requireSecret("apiKey").apply((k) => k.trim())`.',
    ],
    [
        "apiKey with a leading space",
        (a) => (a.apiKey = " sk-live-ABCdef0123456789"),
        '`apiKey` starts or ends with whitespace (its value is not shown), most likely a line break or space copied along with the key, which would be sent as part of it; remove it, for example with `config.requireSecret("apiKey").apply((k) => k.trim())`.',
    ],
    [
        "apiKey with a line break inside",
        (a) => (a.apiKey = "sk-live-ABC\ndef0123456789"),
        "`apiKey` holds a control character (a line break, a NUL, ...) or a character above U+00FF (its value is not shown), which an HTTP header cannot carry; pass the key exactly as the provider issued it.",
    ],
    [
        "apiKey with a character above U+00FF",
        (a) => (a.apiKey = "sk-live-ABC\u2013def0123456789"),
        "`apiKey` holds a control character (a line break, a NUL, ...) or a character above U+00FF (its value is not shown), which an HTTP header cannot carry; pass the key exactly as the provider issued it.",
    ],
    ["apiKeySecretName not a name", (a) => Object.assign(a, { apiKey: undefined, apiKeySecretName: "Mistral_Key" }), '`apiKeySecretName` must be a DNS-1123 subdomain (lowercase letters, digits, \'-\' and \'.\', at most 253 characters), got "Mistral_Key"; for example `apiKeySecretName: "mistral-key"`.'],
    ["kubernetesName not a label", (a) => (a.kubernetesName = "Mistral_Prod"), `\`kubernetesName\` ${NAME_RULE}, got "Mistral_Prod"; for example \`kubernetesName: "mistral-prod"\`.`],
    // A DNS-1123 label, fine for every other object, but the proxy's Service `1mistral-proxy` would be refused.
    ["kubernetesName starting with a digit", (a) => (a.kubernetesName = "1mistral"), `\`kubernetesName\` ${NAME_RULE}, got "1mistral"; for example \`kubernetesName: "mistral"\`.`],
    // One rule whatever the data plane, so that switching to the proxy never invalidates the name.
    ["kubernetesName starting with a digit, on kgateway's data plane", (a) => Object.assign(a, { kubernetesName: "1mistral", dataPlane: "kgateway" }), `\`kubernetesName\` ${NAME_RULE}, got "1mistral"; for example \`kubernetesName: "mistral"\`.`],
    ["kubernetesName too long for `<name>-proxy`", (a) => (a.kubernetesName = "a".repeat(57)), `\`kubernetesName\` ${NAME_RULE}, got "${"a".repeat(57)}"; for example \`kubernetesName: "${"a".repeat(56)}"\`.`],
    ["namespace not a label", (a) => (a.namespace = "Kgateway"), '`namespace` must be a DNS-1123 label (lowercase letters, digits and \'-\', starting and ending with a letter or digit) of at most 63 characters, got "Kgateway"; for example `namespace: "kgateway"`.'],
    ["no route", (a) => delete (a as Partial<OpenAICompatibleProviderArgs>).route, '`route` is required; set at least `route: { gateway: { name: "agentgateway" } }`.'],
    ["no gateway name", (a) => (a.route = { gateway: {} as never }), '`route.gateway.name` is required: the Gateway the HTTPRoute attaches to; for example `route: { gateway: { name: "agentgateway" } }`.'],
    ["gateway name not a name", (a) => (a.route.gateway.name = "Agent Gateway"), '`route.gateway.name` must be a DNS-1123 subdomain (lowercase letters, digits, \'-\' and \'.\', at most 253 characters), got "Agent Gateway"; for example `route.gateway.name: "agent-gateway"`.'],
    ["gateway namespace not a label", (a) => (a.route.gateway.namespace = "infra.gateways"), '`route.gateway.namespace` must be a DNS-1123 label (lowercase letters, digits and \'-\', starting and ending with a letter or digit) of at most 63 characters, got "infra.gateways"; for example `route.gateway.namespace: "infra-gateways"`.'],
    ["sectionName not a name", (a) => (a.route.gateway.sectionName = "HTTPS"), '`route.gateway.sectionName` must be a DNS-1123 subdomain (lowercase letters, digits, \'-\' and \'.\', at most 253 characters), got "HTTPS"; for example `route.gateway.sectionName: "https"`.'],
    ["pathPrefix without leading slash", (a) => (a.route.pathPrefix = "mistral"), '`route.pathPrefix` must start with "/", got "mistral"; use `route.pathPrefix: "/mistral"`.'],
    ["pathPrefix with //", (a) => (a.route.pathPrefix = "/llm//mistral"), '`route.pathPrefix` "/llm//mistral" is not a valid Gateway API path prefix: it must not contain "//"; use a plain prefix such as `route.pathPrefix: "/mistral"`.'],
    ["pathPrefix with /./", (a) => (a.route.pathPrefix = "/llm/./mistral"), '`route.pathPrefix` "/llm/./mistral" is not a valid Gateway API path prefix: it must not contain "/./"; use a plain prefix such as `route.pathPrefix: "/mistral"`.'],
    ["pathPrefix with /../", (a) => (a.route.pathPrefix = "/llm/../mistral"), '`route.pathPrefix` "/llm/../mistral" is not a valid Gateway API path prefix: it must not contain "/../"; use a plain prefix such as `route.pathPrefix: "/mistral"`.'],
    ["pathPrefix with %2f", (a) => (a.route.pathPrefix = "/llm%2fmistral"), '`route.pathPrefix` "/llm%2fmistral" is not a valid Gateway API path prefix: it must not contain an encoded "/" ("%2f"); use a plain prefix such as `route.pathPrefix: "/mistral"`.'],
    ["pathPrefix with #", (a) => (a.route.pathPrefix = "/mistral#v1"), '`route.pathPrefix` "/mistral#<fragment not shown>" is not a valid Gateway API path prefix: it must not contain "#"; use a plain prefix such as `route.pathPrefix: "/mistral"`.'],
    ["pathPrefix ending in /..", (a) => (a.route.pathPrefix = "/mistral/.."), '`route.pathPrefix` "/mistral/.." is not a valid Gateway API path prefix: it must not end with "/." or "/.."; use a plain prefix such as `route.pathPrefix: "/mistral"`.'],
    ["pathPrefix with a space", (a) => (a.route.pathPrefix = "/mistral ai"), '`route.pathPrefix` "/mistral ai" is not a valid Gateway API path prefix: it may only hold URL path characters (RFC 3986); use a plain prefix such as `route.pathPrefix: "/mistral"`.'],
    ["pathPrefix too long", (a) => (a.route.pathPrefix = `/${"a".repeat(1024)}`), `\`route.pathPrefix\` "/${"a".repeat(1024)}" is not a valid Gateway API path prefix: it must be at most 1024 characters; use a plain prefix such as \`route.pathPrefix: "/mistral"\`.`],
    ["hostname in upper case", (a) => (a.route.hostnames = ["llm.example.com", "LLM.example.com"]), '`route.hostnames[1]` must be a lowercase DNS name, optionally starting with "*.", got "LLM.example.com"; for example "llm.example.com" or "*.example.com".'],
    // Gateway API's hostname pattern lets an IPv4 address through, but such a route never matches.
    ["hostname an IPv4 address", (a) => (a.route.hostnames = ["llm.example.com", "10.0.0.1"]), "`route.hostnames[1]` must be a DNS name, not an IP address, got \"10.0.0.1\": Gateway API does not allow IP addresses as HTTPRoute hostnames, and the route would match no request; use the DNS name clients call, or leave `route.hostnames` unset to match any host."],
    ["hostname an IPv6 address", (a) => (a.route.hostnames = ["[::1]"]), "`route.hostnames[0]` must be a DNS name, not an IP address, got \"[::1]\": Gateway API does not allow IP addresses as HTTPRoute hostnames, and the route would match no request; use the DNS name clients call, or leave `route.hostnames` unset to match any host."],
    [
        "hostname with a label over 63 characters",
        (a) => (a.route.hostnames = [`*.${"b".repeat(64)}.example.com`]),
        `\`route.hostnames[0]\` has a label of 64 characters, got "*.${"b".repeat(64)}.example.com"; each dot-separated part of a DNS name is at most 63 characters.`,
    ],
    ["17 hostnames", (a) => (a.route.hostnames = Array.from({ length: 17 }, (_, i) => `h${i}.example.com`)), "`route.hostnames` may hold at most 16 hostnames (the HTTPRoute limit), got 17; split the provider into several routes."],
    ["timeout not a duration", (a) => (a.route.timeouts = { request: "30 seconds" }), '`route.timeouts.request` must be a Gateway API duration such as "30s", "5m" or "1m30s" (units h, m, s, ms), got "30 seconds".'],
    ["timeout longer than 2^31-1 ms", (a) => (a.route.timeouts = { request: "99999h" }), '`route.timeouts.request` must be at most "596h31m23s647ms" (2147483647 ms, about 24.8 days), got "99999h"; use a shorter duration, or "0s" for no timeout.'],
    ["backendRequest longer than request", (a) => (a.route.timeouts = { request: "1m", backendRequest: "1m30s" }), '`route.timeouts.backendRequest` ("1m30s") must not be longer than `route.timeouts.request` ("1m"); lower it or raise `route.timeouts.request`.'],
    ["baseUrl without scheme", (a) => (a.route.baseUrl = "localhost:8080"), '`route.baseUrl` must be an http or https URL with no path, query, fragment or credentials, got "localhost:8080"; for example `route.baseUrl: "http://localhost:8080"`.'],
    ["baseUrl with a path", (a) => (a.route.baseUrl = "https://llm.example.com/mistral"), '`route.baseUrl` must be an http or https URL with no path, query, fragment or credentials, got "https://llm.example.com/mistral"; for example `route.baseUrl: "http://localhost:8080"`.'],
    // The `url` output is this text followed by the prefix: `http://localhost:8080/?/mistral` and the like.
    ["baseUrl with an empty query", (a) => (a.route.baseUrl = "http://localhost:8080/?"), "`route.baseUrl` must be an http or https URL with no path, query, fragment or credentials, got \"http://localhost:8080/?\"; for example `route.baseUrl: \"http://localhost:8080\"`."],
    ["baseUrl with an empty fragment", (a) => (a.route.baseUrl = "http://localhost:8080#"), "`route.baseUrl` must be an http or https URL with no path, query, fragment or credentials, got \"http://localhost:8080#\"; for example `route.baseUrl: \"http://localhost:8080\"`."],
    ["baseUrl with a backslash", (a) => (a.route.baseUrl = "http://localhost:8080\\"), "`route.baseUrl` must be an http or https URL with no path, query, fragment or credentials, got \"http://localhost:8080\\\\\"; for example `route.baseUrl: \"http://localhost:8080\"`."],
    ["baseUrl with surrounding whitespace", (a) => (a.route.baseUrl = " http://localhost:8080 "), "`route.baseUrl` must not start or end with whitespace, got \" http://localhost:8080 \"; for example `route.baseUrl: \"http://localhost:8080\"`."],
    ["baseUrl with a line break inside", (a) => (a.route.baseUrl = "http://local\nhost:8080"), "`route.baseUrl` must not hold whitespace or control characters, got \"http://local\\nhost:8080\"; for example `route.baseUrl: \"http://localhost:8080\"`."],
    [
        "baseUrl with credentials",
        (a) => (a.route.baseUrl = "https://team:sk-live-ABCdef0123456789@llm.example.com"),
        "`route.baseUrl` must not hold credentials, got \"https://<credentials>@llm.example.com\": credentials in a URL are not supported, and the `url` output would show them to anyone reading the stack; for example `route.baseUrl: \"http://localhost:8080\"`.",
    ],
    // A query or fragment may hold a key (`?api_key=sk-...`): refused as before, but never echoed.
    [
        "host given as a URL with a key in the query",
        (a) => (a.host = "https://api.x.ai/v1?api_key=sk-live-ABCdef0123456789"),
        '`host` must be a DNS name without scheme, port, path or query, got "https://api.x.ai/v1?<query not shown>"; use `host: "api.x.ai"` and `path: "/v1/chat/completions"`.',
    ],
    ["host with a key in the query and no scheme", (a) => (a.host = "api.x.ai?key=sk-live-ABCdef0123456789"), '`host` must be a DNS name without scheme, port, path or query, got "api.x.ai?<query not shown>"; use `host: "api.x.ai"`.'],
    [
        "host with credentials and a key in the query",
        (a) => (a.host = "https://user:sk-live-ABCdef0123456789@api.x.ai/v1?key=sk-live-ABCdef0123456789"),
        '`host` must be a DNS name without scheme, credentials, port, path or query, got "https://<credentials>@api.x.ai/v1?<query not shown>"; credentials in a URL are not supported: pass the key with `apiKey`; use `host: "api.x.ai"` and `path: "/v1/chat/completions"`.',
    ],
    ["path with a key in the query", (a) => (a.path = "/v1/chat/completions?key=sk-live-ABCdef0123456789"), '`path` may only hold URL path characters (RFC 3986: no query, fragment or whitespace), got "/v1/chat/completions?<query not shown>"; for example `path: "/v1/chat/completions"`.'],
    ["path with a token in the fragment", (a) => (a.path = "/v1/chat/completions#access_token=sk-live-ABCdef0123456789"), '`path` may only hold URL path characters (RFC 3986: no query, fragment or whitespace), got "/v1/chat/completions#<fragment not shown>"; for example `path: "/v1/chat/completions"`.'],
    ["relative path with a key in the query", (a) => (a.path = "v1/chat/completions?api_key=sk-live-ABCdef0123456789"), '`path` must be the full request path starting with "/", got "v1/chat/completions?<query not shown>"; use `path: "/v1/chat/completions"`.'],
    [
        "path given as a URL with a key in the query",
        (a) => (a.path = "https://api.x.ai/v1/chat/completions?api_key=sk-live-ABCdef0123456789"),
        '`path` must be a path starting with "/", not a URL, got "https://api.x.ai/v1/chat/completions?<query not shown>"; use `host: "api.x.ai"` and `path: "/v1/chat/completions"`.',
    ],
    ["baseUrl with a key in the query", (a) => (a.route.baseUrl = "http://localhost:8080/?api_key=sk-live-ABCdef0123456789"), "`route.baseUrl` must be an http or https URL with no path, query, fragment or credentials, got \"http://localhost:8080/?<query not shown>\"; for example `route.baseUrl: \"http://localhost:8080\"`."],
    ["pathPrefix with a key in the query", (a) => (a.route.pathPrefix = "/mistral?key=sk-live-ABCdef0123456789"), '`route.pathPrefix` "/mistral?<query not shown>" is not a valid Gateway API path prefix: it may only hold URL path characters (RFC 3986); use a plain prefix such as `route.pathPrefix: "/mistral"`.'],
    ["relative pathPrefix with a key in the query", (a) => (a.route.pathPrefix = "mistral?key=sk-live-ABCdef0123456789"), '`route.pathPrefix` must start with "/", got "mistral?<query not shown>"; use `route.pathPrefix: "/mistral"`.'],
    ["plaintext with a CA", (a) => (a.tls = { insecurePlaintext: true, caCertificate: TEST_CA_PEM }), "`tls.insecurePlaintext` and `tls.caCertificate` are both set; a CA bundle only applies to TLS, so remove one of them."],
    // The key would cross the internet in cleartext, whatever serves the provider.
    [
        "plaintext with a preset",
        (a) => (a.tls = { insecurePlaintext: true }),
        "`tls.insecurePlaintext` is set with `preset`, whose host is a public provider served over HTTPS: the API key and every request and completion would cross the internet in cleartext. It is only for a server inside the cluster; remove `tls.insecurePlaintext`, or, for an in-cluster server, remove `preset` and give its `host`, `port` and `path`.",
    ],
    [
        "plaintext with a preset, on kgateway's data plane",
        (a) => Object.assign(a, { tls: { insecurePlaintext: true }, dataPlane: "kgateway" }),
        "`tls.insecurePlaintext` is set with `preset`, whose host is a public provider served over HTTPS: the API key and every request and completion would cross the internet in cleartext. It is only for a server inside the cluster; remove `tls.insecurePlaintext`, or, for an in-cluster server, remove `preset` and give its `host`, `port` and `path`.",
    ],
    ["CA that is not PEM", (a) => (a.tls = { caCertificate: "/etc/ssl/ca.crt" }), '`tls.caCertificate` must be PEM text holding at least one "-----BEGIN CERTIFICATE-----" block; pass the CA bundle\'s contents, for example `fs.readFileSync("ca.crt", "utf8")`.'],
    // The proxy's own rule (caBundleProblem): what it would refuse when it loads the bundle is refused here.
    ["CA with a corrupt certificate", (a) => (a.tls = { caCertificate: `${TEST_CA_PEM}\n-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n` }), '`tls.caCertificate` block 2 of 2 is not one base64-encoded certificate between its "-----BEGIN CERTIFICATE-----" and "-----END CERTIFICATE-----" lines (stray characters, or lines missing); pass the CA bundle\'s PEM text complete and unchanged.'],
    ["CA bundle with garbage between the markers", (a) => (a.tls = { caCertificate: `${TEST_CA_PEM}-----BEGIN CERTIFICATE-----\ngarbage\n-----END CERTIFICATE-----\n` }), '`tls.caCertificate` block 2 of 2 is not one base64-encoded certificate between its "-----BEGIN CERTIFICATE-----" and "-----END CERTIFICATE-----" lines (stray characters, or lines missing); pass the CA bundle\'s PEM text complete and unchanged.'],
    ["CA certificate cut off mid-way", (a) => (a.tls = { caCertificate: `${CA_LINES.slice(0, 4).join("\n")}\n-----END CERTIFICATE-----\n` }), '`tls.caCertificate` block 1 of 1 is not one base64-encoded certificate between its "-----BEGIN CERTIFICATE-----" and "-----END CERTIFICATE-----" lines (stray characters, or lines missing); pass the CA bundle\'s PEM text complete and unchanged.'],
    ["CA bundle with an extra unterminated block", (a) => (a.tls = { caCertificate: `${TEST_CA_PEM}${CA_LINES.slice(0, 3).join("\n")}\n` }), '`tls.caCertificate` block 2 of 2 has no "-----END CERTIFICATE-----" line before the next block or the end of the text, so it is cut off; pass the CA bundle\'s PEM text complete and unchanged.'],
    ["CA block cut off with no END line, before a complete one", (a) => (a.tls = { caCertificate: `${CA_LINES.slice(0, -1).join("\n")}\n${TEST_CA_PEM}` }), '`tls.caCertificate` block 1 of 2 has no "-----END CERTIFICATE-----" line before the next block or the end of the text, so it is cut off; pass the CA bundle\'s PEM text complete and unchanged.'],
    ["CA certificate without its END line", (a) => (a.tls = { caCertificate: CA_LINES.slice(0, -1).join("\n") }), '`tls.caCertificate` block 1 of 1 has no "-----END CERTIFICATE-----" line before the next block or the end of the text, so it is cut off; pass the CA bundle\'s PEM text complete and unchanged.'],
    ["CA bundle with a private key block", (a) => (a.tls = { caCertificate: `${TEST_CA_PEM}${KEY_BLOCK}` }), '`tls.caCertificate` block 2 of 2 does not begin with "-----BEGIN CERTIFICATE-----" (it is "-----BEGIN PRIVATE KEY-----"); a CA bundle holds only certificates, so remove any other block.'],
    ["CA certificate with another END line", (a) => (a.tls = { caCertificate: TEST_CA_PEM.replace("-----END CERTIFICATE-----", "-----END X509 CRL-----") }), '`tls.caCertificate` block 1 of 1 does not end with "-----END CERTIFICATE-----"; pass the CA bundle\'s PEM text complete and unchanged.'],
    ["CA bundle with a stray END line", (a) => (a.tls = { caCertificate: `${TEST_CA_PEM}-----END CERTIFICATE-----\n` }), '`tls.caCertificate` has an "-----END" line after block 1 of 1 that ends no block (its "-----BEGIN" line is missing); pass the CA bundle\'s PEM text complete and unchanged.'],
    // OpenSSL's PEM reader (the proxy's TLS, Node.js's) stops at that END line: neither certificate would be trusted.
    ["CA bundle of two files joined without a newline", (a) => (a.tls = { caCertificate: `${TEST_CA_PEM.trimEnd()}${TEST_CA_PEM}` }), '`tls.caCertificate` block 1 of 2 has its "-----BEGIN CERTIFICATE-----" or "-----END CERTIFICATE-----" line run into other text, which TLS then skips or stops at (as when a file without a final newline is joined to the next); put each on a line of its own.'],
    ["CA block that is no X.509 certificate", (a) => (a.tls = { caCertificate: `${TEST_CA_PEM}${NOT_X509_BLOCK}` }), "`tls.caCertificate` block 2 of 2 is not a valid X.509 certificate; pass the CA bundle's PEM text complete and unchanged."],
    ["label key invalid", (a) => (a.labels = { "team name": "ai" }), '`labels` key "team name" is not a valid Kubernetes label key (an optional DNS subdomain prefix and "/", then at most 63 letters, digits, \'-\', \'_\' or \'.\', starting and ending with a letter or digit); for example "team" or "example.com/team".'],
    ["label value invalid", (a) => (a.labels = { owner: "Platform team" }), '`labels` value "Platform team" of "owner" is not a valid Kubernetes label value (at most 63 letters, digits, \'-\', \'_\' or \'.\', starting and ending with a letter or digit); put free text in `annotations` instead.'],
    ["annotation key invalid", (a) => (a.annotations = { "Example.com/owner": "x" }), '`annotations` key "Example.com/owner" is not a valid Kubernetes annotation key (an optional DNS subdomain prefix and "/", then at most 63 letters, digits, \'-\', \'_\' or \'.\', starting and ending with a letter or digit); for example "team" or "example.com/team".'],
];

describe("bad arguments fail at construction with a ResourceError naming the argument and the fix", () => {
    it.each(cases)("%s", async (_name, mutate, message) => {
        const args = base();
        mutate(args);
        const err = await constructionError(args);
        expect(err?.message).toBe(message);
        expect(pulumi.ResourceError.isInstance(err)).toBe(true);
    });

    it.each([
        ["Mistral Prod", "mistral-prod"],
        // The Service would be `1mistral-proxy`, which Kubernetes refuses.
        ["1mistral", "mistral"],
    ])("the default kubernetesName (the component name %j) must be a DNS-1035 label", async (name, suggested) => {
        const err = await constructionError(base(), name);
        expect(err?.message).toBe(
            `\`kubernetesName\` defaults to the component name ${JSON.stringify(name)}, which is not a DNS-1035 label (lowercase letters, digits and '-', starting with a letter and ending with a letter or digit) of at most 56 characters, as the proxy's Service is named after it; set it, for example \`kubernetesName: ${JSON.stringify(suggested)}\`.`,
        );
        expect(pulumi.ResourceError.isInstance(err)).toBe(true);
        expect(await constructionError({ ...base(), kubernetesName: suggested }, name)).toBeUndefined();
    });

    it("the base arguments themselves are valid", async () => {
        expect(await constructionError(base())).toBeUndefined();
    });

    it("a CA bundle of several certificates, with names between them and CRLF line ends, is accepted", async () => {
        const other = (await createTestCa("another test CA")).caCert;
        const bundle = `# openai-compatible-provider test CA\n${TEST_CA_PEM}\n# another test CA\r\n${other.replace(/\r?\n/g, "\r\n")}`;
        expect(await constructionError({ ...base(), tls: { caCertificate: bundle } })).toBeUndefined();
        expect(resolveSettings("mistral", { ...base(), tls: { caCertificate: bundle } } as ResolvedArgs).caCertificate).toBe(bundle);
    });

    it("the longest label, timeout and Latin-1 prefix are accepted", async () => {
        const args = base();
        Object.assign(args, { host: `${"a".repeat(63)}.example.com`, authHeader: { prefix: "Cl\u00e9\ttoken" } });
        args.route.timeouts = { request: "596h31m23s647ms", backendRequest: "0s" };
        args.route.hostnames = [`*.${"b".repeat(63)}.example.com`];
        expect(await constructionError(args)).toBeUndefined();
    });

    it.each([
        ["http://localhost:8080", "http://localhost:8080/mistral"],
        ["http://localhost:8080/", "http://localhost:8080/mistral"],
        ["HTTPS://LLM.Example.com:8443", "HTTPS://LLM.Example.com:8443/mistral"],
    ])("route.baseUrl %j gives the url %j", async (baseUrl, url) => {
        const { result } = await withRecordingMocks({}, () => settled(new OpenAICompatibleProvider("mistral", { ...base(), route: { gateway: { name: "agentgateway" }, baseUrl } }).url));
        expect(result).toBe(url);
    });

    it("authHeader.prefix \"Token \" is accepted, and its trailing space reaches the Backend and the proxy's config, with no warning", async () => {
        const args = { ...base(), authHeader: { headerName: "x-api-key", prefix: "Token " } };
        expect(await constructionError(args)).toBeUndefined();
        const objects = renderObjects(resolveSettings("mistral", args as ResolvedArgs));
        expect(objects.backend.spec.ai.llm.authHeader).toEqual({ headerName: "x-api-key", prefix: "Token " });
        const rendered = renderProxyConfig([objects], [], "dataPlane", false);
        expect(rendered.config.backends[0]!.auth).toEqual(expect.objectContaining({ headerName: "x-api-key", prefix: "Token " }));
        expect(rendered.warnings).toEqual([]);
    });

    it.each(["x-api-key", "api-key", "Authorization", "X-Goog-Api-Key", "Hostname", "TE-Key"])("authHeader.headerName %j is accepted", async (headerName) => {
        expect(await constructionError({ ...base(), authHeader: { headerName } })).toBeUndefined();
    });

    it.each(["/v1/chat/completions/", "/v1/..x/chat", "/v1/.well-known/chat", "/v1/..x;y/chat", "/v1/chat;v=2/completions", "/v1/x;../chat", "/openai/v1/chat/completions", "/"])("path %j is accepted", async (path) => {
        expect(await constructionError({ ...base(), path })).toBeUndefined();
    });

    it("an IPv4 host is accepted without TLS", async () => {
        expect(await constructionError({ ...base(), preset: undefined, host: "10.1.2.3", port: 8000, tls: { insecurePlaintext: true } })).toBeUndefined();
    });

    it("plaintext is accepted for a host of one's own, with or without a preset", async () => {
        const inCluster = { host: "vllm.models.svc.cluster.local", tls: { insecurePlaintext: true } };
        expect(await constructionError({ ...base(), ...inCluster })).toBeUndefined();
        expect(await constructionError({ ...base(), preset: undefined, ...inCluster })).toBeUndefined();
    });
});

describe("values known only later are checked when they resolve, with the same message", () => {
    // The component validates peek(args) at construction, where Outputs are UNKNOWN and skipped,
    // and calls resolveSettings on the resolved args inside apply; a failure there rejects the
    // children's inputs, so `pulumi preview` fails once the value is known.
    const deferrable = cases.filter(([name]) => !/credential|no route|no gateway name|apiKey|neither preset|kubernetesName|plaintext with a/.test(name));

    it.each(deferrable)("%s: skipped while unknown, raised once resolved", (_name, mutate, message) => {
        const args = base();
        mutate(args);
        const late = deferAll(args);
        expect(() => validateArgs("mistral", peek(late))).not.toThrow();
        expect(() => resolveSettings("mistral", args as ResolvedArgs)).toThrow(message);
    });

    it("the component constructs when the bad value is an Output, and its outputs stay pending until then", async () => {
        const { result } = await withRecordingMocks({ preview: true }, () => {
            const c = new OpenAICompatibleProvider("mistral", { ...base(), port: pulumi.output(443) });
            return settled(c.upstreamUrl);
        });
        expect(result).toBe("https://api.mistral.ai:443/v1/chat/completions");
    });
});

describe("Outputs inside labels, annotations and route hostnames are checked once they resolve", () => {
    // peek() turns each such entry into UNKNOWN; the rules skip it at construction and check the
    // resolved value in resolveSettings.
    type Entries = { label: pulumi.Output<string>; annotation: pulumi.Output<string>; hostname: pulumi.Output<string> };
    const known = (): Entries => ({ label: pulumi.output("platform"), annotation: pulumi.output("x"), hostname: pulumi.output("a.example.com") });
    const unknown = (): Entries => ({ label: unknownOutput(), annotation: unknownOutput(), hostname: unknownOutput() });
    const providerArgs = (e: Entries): OpenAICompatibleProviderArgs => ({
        ...base(),
        labels: { team: e.label },
        annotations: { note: e.annotation },
        route: { gateway: { name: "agentgateway" }, hostnames: [e.hostname] },
    });

    async function construct(preview: boolean, build: () => void): Promise<{ err?: Error; resources: RecordedResource[] }> {
        const { result, resources } = await withRecordingMocks({ preview }, () => {
            try {
                build();
                return Promise.resolve(undefined);
            } catch (err) {
                return Promise.resolve(err as Error);
            }
        });
        return { err: result, resources };
    }

    it.each([
        ["known", false, known],
        ["known, in preview", true, known],
        ["unknown, in preview", true, unknown],
    ])("a provider constructs with them %s", async (_name, preview, entries) => {
        const { err, resources } = await construct(preview, () => new OpenAICompatibleProvider("mistral", providerArgs(entries())));
        expect(err).toBeUndefined();
        if (entries === known) {
            const route = resources.find((r) => r.type === "kubernetes:gateway.networking.k8s.io/v1:HTTPRoute")!;
            expect(route.inputs).toMatchObject({ metadata: { labels: { team: "platform" }, annotations: { note: "x" } }, spec: { hostnames: ["a.example.com"] } });
        }
    });

    it.each([
        ["known", false, known],
        ["unknown, in preview", true, unknown],
    ])("a gateway constructs with them %s", async (_name, preview, entries) => {
        const { err } = await construct(preview, () => {
            const e = entries();
            const args = gateway();
            args.labels = { team: e.label };
            args.annotations = { note: e.annotation };
            args.providers.mistral!.route.hostnames = [e.hostname];
            new OpenAICompatibleGateway("llm", args);
        });
        expect(err).toBeUndefined();
    });

    it("at construction the rules skip them; on the resolved values they apply", () => {
        const late = providerArgs(known());
        expect(() => validateArgs("mistral", peek(late))).not.toThrow();
        const resolved = { ...base(), labels: { team: "Platform team" }, route: { gateway: { name: "agentgateway" }, hostnames: ["LLM.example.com"] } } as ResolvedArgs;
        expect(() => resolveSettings("mistral", resolved)).toThrow("`route.hostnames[0]` must be a lowercase DNS name");
        expect(() => resolveSettings("mistral", { ...resolved, route: { gateway: { name: "agentgateway" } } })).toThrow('`labels` value "Platform team" of "team"');
    });
});

describe("values given as Pulumi secrets are never shown in messages", () => {
    // The component passes resolveSettings the paths of the arguments given as secrets
    // (secretArgumentPaths); "" marks every argument as one.
    const errorOf = (run: () => unknown): ProviderArgumentError => {
        try {
            run();
        } catch (err) {
            return err as ProviderArgumentError;
        }
        throw new Error("no error");
    };
    const without = (mutate: (a: OpenAICompatibleProviderArgs) => void): OpenAICompatibleProviderArgs => {
        const args = base();
        mutate(args);
        return args;
    };

    it.each([
        [
            "the key given as `apiKeySecretName`",
            ["apiKeySecretName"],
            (a: OpenAICompatibleProviderArgs) => Object.assign(a, { apiKey: undefined, apiKeySecretName: "sk-live-ABCdef0123456789" }),
            "`apiKeySecretName` must be a DNS-1123 subdomain (lowercase letters, digits, '-' and '.', at most 253 characters), got a Pulumi secret (its value is not shown); it takes the name of an existing Secret; if this is the API key itself, pass it as `apiKey` instead.",
        ],
        [
            "a host URL holding the key",
            ["host"],
            (a: OpenAICompatibleProviderArgs) => (a.host = "https://user:sk-live-ABCdef0123456789@api.x.ai/v1"),
            "`host` must be a DNS name without scheme, credentials, port or path, got a Pulumi secret (its value is not shown); credentials in a URL are not supported: pass the key with `apiKey`.",
        ],
        [
            "the key given as `model`, with a space",
            ["model"],
            (a: OpenAICompatibleProviderArgs) => (a.model = " sk-live-ABCdef0123456789"),
            "`model` must be a non-empty string without surrounding whitespace, got a Pulumi secret (its value is not shown); leave `model` unset to take the model from each request.",
        ],
        [
            "a label value, by its own path",
            ["labels.owner"],
            (a: OpenAICompatibleProviderArgs) => (a.labels = { owner: "Bearer sk-live-ABCdef0123456789" }),
            '`labels` value (a Pulumi secret, not shown) of "owner" is not a valid Kubernetes label value (at most 63 letters, digits, \'-\', \'_\' or \'.\', starting and ending with a letter or digit); put free text in `annotations` instead.',
        ],
        [
            "a CA bundle with a private key, inside a secret `tls`: its PEM type is not shown",
            ["tls"],
            (a: OpenAICompatibleProviderArgs) => (a.tls = { caCertificate: `${TEST_CA_PEM}${KEY_BLOCK}` }),
            '`tls.caCertificate` block 2 of 2 does not begin with "-----BEGIN CERTIFICATE-----"; a CA bundle holds only certificates, so remove any other block.',
        ],
        [
            "a route prefix inside a secret `route`",
            ["route"],
            (a: OpenAICompatibleProviderArgs) => (a.route.pathPrefix = "/sk-live-ABCdef0123456789//x"),
            '`route.pathPrefix` (a Pulumi secret, not shown) is not a valid Gateway API path prefix: it must not contain "//"; use a plain prefix such as `route.pathPrefix: "/mistral"`.',
        ],
    ])("%s", (_name, secrets, mutate, message) => {
        const args = without(mutate) as ResolvedArgs;
        expect(errorOf(() => resolveSettings("mistral", args, secrets)).message).toBe(message);
    });

    it.each(cases)("%s: with every argument a secret, the message shows none of the values given", (_name, mutate) => {
        const args = without(mutate);
        // Values of the base arguments, and those the messages use as fixed examples, may appear.
        const given = new Set([...leaves(base()), "llm.example.com", "localhost:8080", "Host", "Transfer-Encoding", "Connection", "Upgrade", "Keep-Alive"]);
        const values = leaves(args).filter((v) => !given.has(v) && v.length >= 4);
        const plain = errorOf(() => resolveSettings("mistral", args as ResolvedArgs));
        const secret = errorOf(() => resolveSettings("mistral", args as ResolvedArgs, [""]));
        expect(secret.argument).toBe(plain.argument);
        for (const v of values) expect(secret.message).not.toContain(v);
    });

    it("the component finds the arguments given as secrets, by the paths messages use", async () => {
        const { result } = await withRecordingMocks({}, () =>
            secretArgumentPaths({
                ...base(),
                host: pulumi.secret("api.x.ai"),
                model: pulumi.output("m"),
                labels: { team: pulumi.secret("a"), owner: "b" },
                route: { gateway: { name: "agentgateway" }, hostnames: [pulumi.output("a.example.com"), pulumi.secret("b.example.com")] },
                tls: pulumi.secret({ caCertificate: TEST_CA_PEM }) as never,
            }),
        );
        expect(result.sort()).toEqual(["host", "labels.team", "route.hostnames[1]", "tls"]);
    });
});

/** Every string and number in `value`, and the keys of `labels` and `annotations`, as text. */
function leaves(value: unknown, key = ""): string[] {
    if (Array.isArray(value)) return value.flatMap((v) => leaves(v));
    if (typeof value === "object" && value !== null) {
        return Object.entries(value).flatMap(([k, v]) => [...(key === "labels" || key === "annotations" ? [k] : []), ...leaves(v, k)]);
    }
    return typeof value === "string" || typeof value === "number" ? [String(value)] : [];
}

/** `args` with every Input-typed value wrapped in an Output, as if produced by other resources. */
function deferAll(args: OpenAICompatibleProviderArgs): OpenAICompatibleProviderArgs {
    const wrap = (v: unknown) => (v === undefined ? undefined : pulumi.output(v));
    return {
        ...args,
        preset: wrap(args.preset) as pulumi.Input<string>,
        host: wrap(args.host) as pulumi.Input<string>,
        port: wrap(args.port) as pulumi.Input<number>,
        path: wrap(args.path) as pulumi.Input<string>,
        model: wrap(args.model) as pulumi.Input<string>,
        namespace: wrap(args.namespace) as pulumi.Input<string>,
        authHeader: wrap(args.authHeader) as pulumi.Input<AuthHeaderArgs>,
        labels: wrap(args.labels) as pulumi.Input<Record<string, string>>,
        annotations: wrap(args.annotations) as pulumi.Input<Record<string, string>>,
        route: {
            gateway: { name: pulumi.output(args.route.gateway.name), namespace: wrap(args.route.gateway.namespace) as pulumi.Input<string>, sectionName: wrap(args.route.gateway.sectionName) as pulumi.Input<string> },
            pathPrefix: wrap(args.route.pathPrefix) as pulumi.Input<string>,
            hostnames: wrap(args.route.hostnames) as pulumi.Input<string[]>,
            baseUrl: wrap(args.route.baseUrl) as pulumi.Input<string>,
            timeouts: args.route.timeouts && { request: wrap(args.route.timeouts.request) as pulumi.Input<string>, backendRequest: wrap(args.route.timeouts.backendRequest) as pulumi.Input<string> },
        },
        tls: args.tls && { ...args.tls, caCertificate: wrap(args.tls.caCertificate) as pulumi.Input<string> },
    };
}

describe("the rules that mirror the CRDs reject exactly what the API server would", () => {
    const valid = () => resolveSettings("mistral", { preset: "mistral", apiKey: "k", route: { gateway: { name: "agentgateway" } } });
    const mirrored: [string, (s: ReturnType<typeof valid>) => void, string][] = [
        ["pathPrefix //", (s) => (s.pathPrefix = "/llm//mistral"), "must not contain '//' when type one of ['Exact', 'PathPrefix']"],
        ["pathPrefix /./", (s) => (s.pathPrefix = "/llm/./x"), "must not contain '/./' when type one of ['Exact', 'PathPrefix']"],
        ["pathPrefix #", (s) => (s.pathPrefix = "/a#b"), "must not contain '#' when type one of ['Exact', 'PathPrefix']"],
        ["pathPrefix relative", (s) => (s.pathPrefix = "mistral"), "value must be an absolute path and start with '/' when type one of ['Exact', 'PathPrefix']"],
        ["timeouts order", (s) => (s.timeouts = { request: "1m", backendRequest: "1m30s" }), "backendRequest timeout cannot be longer than request timeout"],
        ["timeout pattern", (s) => (s.timeouts = { request: "30 seconds" }), 'must match pattern "^([0-9]{1,5}(h|m|s|ms)){1,4}$"'],
        ["authHeader empty", (s) => (s.authHeader = {}), "at least one of prefix or headerName must be set"],
        ["authHeader prefix empty", (s) => (s.authHeader = { prefix: "" }), "must NOT have fewer than 1 characters"],
        ["host upper case (URLRewrite, TLS hostname)", (s) => (s.host = "API.Mistral.ai"), 'must match pattern "^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"'],
        ["route hostname", (s) => (s.hostnames = ["LLM.example.com"]), 'must match pattern "^(\\*\\.)?[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"'],
        ["17 hostnames", (s) => (s.hostnames = Array.from({ length: 17 }, (_, i) => `h${i}.example.com`)), "must NOT have more than 16 items"],
        ["gateway namespace", (s) => (s.gateway.namespace = "infra.gateways"), 'must match pattern "^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"'],
        ["sectionName", (s) => (s.gateway.sectionName = "HTTPS"), 'must match pattern "^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"'],
    ];
    it.each(mirrored)("%s", (_name, mutate, crdMessage) => {
        const settings = valid();
        expect(objectList(renderObjects(settings)).flatMap((o) => crdValidator().validate(o))).toEqual([]);
        mutate(settings);
        const messages = objectList(renderObjects(settings)).flatMap((o) => crdValidator().validate(o).map((v) => v.message));
        expect(messages.some((m) => m.startsWith(crdMessage))).toBe(true);
    });
});
