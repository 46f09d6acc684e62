import * as pulumi from "@pulumi/pulumi";
// In your own program: import { OpenAICompatibleProvider } from "openai-compatible-provider";
import { OpenAICompatibleProvider } from "../../src";

/**
 * A self-hosted OpenAI-compatible server already running in the cluster (a vLLM Deployment behind
 * the Service `vllm` in namespace `models`, started with `--api-key`), served by a proxy of its own.
 *
 * The hop from the proxy to vLLM stays inside the cluster network and vLLM serves plain HTTP, so
 * TLS is turned off explicitly (`tls.insecurePlaintext`): no BackendTLSPolicy, port 8000.
 *
 * Config: `apiKey` (secret, required: vLLM's `--api-key`), `model` (default
 * `Qwen/Qwen2.5-7B-Instruct`, the name vLLM serves), `gatewayUrl` (optional), `proxyImage`
 * (optional: the proxy image as pushed to your registry, with a tag or digest; by default the
 * component's own).
 */
export function selfHostedVllmExample(): OpenAICompatibleProvider {
    const config = new pulumi.Config();
    return new OpenAICompatibleProvider("vllm", {
        host: "vllm.models.svc.cluster.local",
        port: 8000,
        path: "/v1/chat/completions",
        apiKey: config.requireSecret("apiKey"),
        model: config.get("model") ?? "Qwen/Qwen2.5-7B-Instruct",
        tls: { insecurePlaintext: true },
        namespace: "llm",
        route: {
            gateway: { name: "agentgateway", namespace: "kgateway-system" },
            pathPrefix: "/local",
            timeouts: { request: "10m" },
            baseUrl: config.get("gatewayUrl"),
        },
        proxy: { image: config.get("proxyImage"), resources: { requests: { cpu: "50m", memory: "96Mi" }, limits: { memory: "192Mi" } } },
    });
}
