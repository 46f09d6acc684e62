/*
 * Runs one program as `pulumi preview` would, in a process of its own, and prints how the named
 * output settled: `{ "error": { "resourceError", "onComponent", "message" } }` or `{ "value" }`.
 *
 *     node -r ./test/support/ts-register.js test/support/preview-failure.ts <case>
 *
 * A process of its own because a rejected input fails its registration, and the Pulumi SDK then
 * reports the rejection as unhandled on purpose (that is how a program fails): jest would pin it on
 * whichever test runs, and the mocks' drain would wait for the unfinished registration forever.
 * Here the unhandled rejections are recorded and printed too, as the language host would report them.
 */
import * as pulumi from "@pulumi/pulumi";
import { OpenAICompatibleGateway, OpenAICompatibleProvider, renderObjects, resolveSettings } from "../../src";
import { createProxyResources } from "../../src/proxy-data-plane";
import { gateway, provider } from "./proxy-fixtures";


/** Each case declares a component and names the output to watch. */
export const PREVIEW_CASES: Record<string, () => { component: pulumi.Resource; output: pulumi.Output<unknown> }> = {
    "image-without-tag": () => {
        const c = new OpenAICompatibleProvider("mistral", { ...provider(), proxy: { image: pulumi.output("ghcr.io/acme/proxy") } });
        return { component: c, output: c.proxyConfig };
    },
    "duplicate-prefix": () => {
        const args = gateway();
        args.providers.deepseek!.route.pathPrefix = pulumi.output("/mistral/");
        const g = new OpenAICompatibleGateway("llm", args);
        return { component: g, output: g.proxyConfig };
    },
    "same-prefix-other-hostnames": () => {
        // Known only once resolved: one prefix, hostnames that do not overlap.
        const args = gateway();
        args.providers.mistral!.route = { gateway: { name: "agentgateway" }, pathPrefix: pulumi.output("/v1"), hostnames: ["a.example.com"] };
        args.providers.deepseek!.route = { gateway: { name: "agentgateway" }, pathPrefix: pulumi.output("/v1"), hostnames: [pulumi.output("b.example.com")] };
        const g = new OpenAICompatibleGateway("llm", args);
        return { component: g, output: g.proxyConfig.apply((c) => (JSON.parse(c) as { routes: { hostnames?: string[] }[] }).routes.map((r) => r.hostnames).sort()) };
    },
    "other-namespace": () => {
        const args = gateway();
        args.providers.mistral!.namespace = pulumi.output("other");
        const g = new OpenAICompatibleGateway("llm", args);
        return { component: g, output: g.proxyConfig };
    },
    "namespace-output-without-value": () => {
        // A provider's namespace read through an Output that turns out absent: the gateway's
        // namespace, as when it is left unset, and every object where the proxy runs.
        const args = gateway();
        args.providers.mistral!.namespace = pulumi.output<string | undefined>(undefined) as pulumi.Output<string>;
        const g = new OpenAICompatibleGateway("llm", args);
        const p = g.providers.mistral!;
        return { component: g, output: pulumi.all([p.namespace, p.backend.metadata.namespace, g.proxyConfig.apply((c) => (JSON.parse(c) as { backends: { name: string }[] }).backends.map((b) => b.name))]) };
    },
    "secret-key-as-secret-name": () => {
        // The key given to the wrong argument, as a secret: checked, but never shown.
        const c = new OpenAICompatibleProvider("mistral", { ...provider(), apiKey: undefined, apiKeySecretName: pulumi.secret("sk-live-ABCdef0123456789") });
        return { component: c, output: c.secretName };
    },
    "secret-host-in-gateway": () => {
        const args = gateway();
        args.providers.mistral!.host = pulumi.secret("https://user:sk-live-ABCdef0123456789@api.mistral.ai/v1");
        const g = new OpenAICompatibleGateway("llm", args);
        return { component: g.providers.mistral!, output: g.providers.mistral!.upstreamUrl };
    },
    "secret-proxy-image": () => {
        const args = gateway();
        args.proxy = { image: pulumi.secret("registry.example.com/sk-live-abcdef0123456789") };
        const g = new OpenAICompatibleGateway("llm", args);
        return { component: g, output: g.proxyConfig };
    },
    "config-over-configmap-limit": () => {
        // A model name known only once resolved, long enough that the config passes 1 MiB.
        const args = gateway();
        args.providers.mistral!.model = pulumi.output("m".repeat(1024 * 1024));
        const g = new OpenAICompatibleGateway("llm", args);
        return { component: g, output: g.proxyConfig };
    },
    "hostname-entry-output": () => {
        // An Output inside the list: skipped at construction, checked once resolved.
        const args = gateway();
        args.providers.mistral!.route.hostnames = ["llm.example.com", pulumi.output("LLM.example.com")];
        const g = new OpenAICompatibleGateway("llm", args);
        return { component: g.providers.mistral!, output: g.providers.mistral!.url };
    },
    "ca-certificate-output-without-value": () => {
        // An optional value read through an Output (a StackReference's, say) that turns out absent:
        // the CA ConfigMap was declared at construction, so this must fail, not leave it empty.
        const c = new OpenAICompatibleProvider("private", { ...provider(), preset: undefined, host: "llm.corp.example.com", tls: { caCertificate: pulumi.output<string | undefined>(undefined) as pulumi.Output<string> } });
        return { component: c, output: c.caConfigMapName };
    },
    "secret-key-with-line-break": () => {
        // A secret key read with its trailing newline: refused once it resolves, never shown.
        const c = new OpenAICompatibleProvider("mistral", { ...provider(), apiKey: pulumi.secret("sk-live-ABCdef0123456789\n") });
        // Only the Secret's input holds the key, so nothing else settles with its error: the
        // program fails through the Secret's registration, reported as unhandled.
        return { component: c, output: pulumi.output(new Promise<null>((resolve) => setTimeout(() => resolve(null), 500))) };
    },
    "proxy-rejects": () => {
        // The component's rules leave nothing the proxy would reject, so the proxy's resources are
        // given objects edited by hand: a port the Backend CRD accepts (int32) and the proxy does not.
        const parent = new pulumi.ComponentResource("test:index:Parent", "parent", {});
        const objects = renderObjects(resolveSettings("mistral", { preset: "mistral", apiKey: "(set)", namespace: "llm", route: { gateway: { name: "agentgateway" } } }));
        const broken = { ...objects, backend: { ...objects.backend, spec: { ...objects.backend.spec, ai: { llm: { ...objects.backend.spec.ai.llm, port: 70000 } } } } };
        const proxy = createProxyResources(parent, "mistral", {
            baseName: "mistral-proxy",
            namespace: "llm",
            proxy: undefined,
            providers: pulumi.output([broken]),
            mounted: [],
            configArgument: "dataPlane",
            proxyArgument: "proxy",
        });
        return { component: parent, output: proxy.proxyConfig };
    },
    "prefix-not-a-header-value": () => {
        // The proxy would refuse it, and kgateway's data plane send a broken header: refused on both.
        const c = new OpenAICompatibleProvider("mistral", { ...provider(), authHeader: { headerName: "api-key", prefix: pulumi.output("Token\nX") } });
        return { component: c, output: c.proxyConfig };
    },
    "prefix-not-a-header-value-kgateway": () => {
        const c = new OpenAICompatibleProvider("mistral", { ...provider(), dataPlane: "kgateway", authHeader: { headerName: "api-key", prefix: pulumi.output("Token\nX") } });
        return { component: c, output: c.upstreamUrl };
    },
};

/** The message without the prefixes the SDK adds each time it serializes an input holding the error. */
function ownMessage(err: unknown): string {
    return (err instanceof Error ? err.message : String(err)).replace(/^(error serializing property "[^"]+": )+/, "");
}

async function main(name: string): Promise<void> {
    const unhandled: string[] = [];
    process.on("unhandledRejection", (reason) => void unhandled.push(`${pulumi.ResourceError.isInstance(reason) ? "ResourceError" : "other"}: ${ownMessage(reason)}`));
    await pulumi.runtime.setMocks(
        { newResource: (a) => ({ id: `${a.name}-id`, state: a.inputs as Record<string, unknown> }), call: (a) => a.inputs as Record<string, unknown> },
        "project",
        "stack",
        true,
    );
    const build = PREVIEW_CASES[name];
    if (!build) throw new Error(`no case ${name}`);
    const { component, output } = build();
    let result: Record<string, unknown>;
    try {
        result = { value: (await (output as unknown as { promise(): Promise<unknown> }).promise()) ?? null };
    } catch (err) {
        const error = err as pulumi.ResourceError;
        result = { error: { resourceError: pulumi.ResourceError.isInstance(err), onComponent: error.resource === component, message: ownMessage(err) } };
    }
    // Let the registrations' rejections surface.
    await new Promise((resolve) => setTimeout(resolve, 200));
    process.stdout.write(`${JSON.stringify({ ...result, unhandled: [...new Set(unhandled)] })}\n`);
    process.exit(0);
}

if (require.main === module) void main(process.argv[2] ?? "");
