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
        route: { gateway: { name: "agentgateway" }, pathPrefix: "/deepseek" },
    });
}
