/** The smallest valid arguments the data-plane tests start from and then break one field of. */
import { OpenAICompatibleGatewayArgs, OpenAICompatibleProviderArgs } from "../../src";

export function provider(): OpenAICompatibleProviderArgs {
    return { preset: "mistral", apiKey: "test-key", namespace: "llm", route: { gateway: { name: "agentgateway" } } };
}

export function gateway(): OpenAICompatibleGatewayArgs {
    return {
        namespace: "llm",
        providers: {
            mistral: { preset: "mistral", apiKey: "test-key-m", route: { gateway: { name: "agentgateway" } } },
            deepseek: { preset: "deepseek", apiKey: "test-key-d", route: { gateway: { name: "agentgateway" } } },
        },
    };
}
