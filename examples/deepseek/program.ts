import * as pulumi from "@pulumi/pulumi";
// In your own program: import { OpenAICompatibleProvider } from "openai-compatible-provider";
import { OpenAICompatibleProvider } from "../../src";

/**
 * The kgateway docs' DeepSeek example (Secret, Backend, HTTPRoute, BackendTLSPolicy) as one
 * declaration. Config: `apiKey` (secret, required).
 */
export function deepseekExample(): OpenAICompatibleProvider {
    const config = new pulumi.Config();
    return new OpenAICompatibleProvider("deepseek", {
        preset: "deepseek",
        apiKey: config.requireSecret("apiKey"),
        model: "deepseek-chat",
        namespace: "kgateway-system",
        // As the docs do it: the four objects, served by kgateway's own data plane (agentgateway).
        // Without this line the component also deploys openai-compatible-proxy to serve them.
        dataPlane: "kgateway",
        route: { gateway: { name: "agentgateway" }, pathPrefix: "/deepseek" },
    });
}
