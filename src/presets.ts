/** Where a well-known OpenAI-compatible provider serves chat completions. */
export interface Preset {
    /** The provider's API host. */
    readonly host: string;
    /** The provider's HTTPS port. */
    readonly port: number;
    /** The full path of the chat-completions endpoint on `host`. */
    readonly path: string;
    /** The provider's own documentation of that endpoint. */
    readonly source: string;
}

/*
 * Each entry was checked against the provider's own public documentation (the URL in `source`):
 * the OpenAI SDK `base_url` the provider documents plus the SDK's `/chat/completions`, or the
 * endpoint its API reference gives directly. All are HTTPS on 443.
 */
export const PRESETS: Readonly<Record<string, Preset>> = Object.freeze({
    // "curl https://api.mistral.ai/v1/chat/completions" (API reference, Chat Completion:
    // POST /v1/chat/completions).
    mistral: { host: "api.mistral.ai", port: 443, path: "/v1/chat/completions", source: "https://docs.mistral.ai/api" },
    // base_url "https://api.deepseek.com"; "you can also use https://api.deepseek.com/v1 as the
    // base_url" for OpenAI compatibility. The /v1 form is the one the kgateway docs page uses.
    deepseek: { host: "api.deepseek.com", port: 443, path: "/v1/chat/completions", source: "https://api-docs.deepseek.com/" },
    // POST https://api.openai.com/v1/chat/completions; the official SDK's default baseURL is
    // https://api.openai.com/v1 (openai/openai-node src/client.ts).
    openai: { host: "api.openai.com", port: 443, path: "/v1/chat/completions", source: "https://platform.openai.com/docs/api-reference/chat/create" },
    // "change the base_url to https://api.groq.com/openai/v1".
    groq: { host: "api.groq.com", port: 443, path: "/openai/v1/chat/completions", source: "https://console.groq.com/docs/openai" },
    // "base_url to https://api.together.ai/v1" (the older api.together.xyz host is no longer the
    // documented one).
    together: { host: "api.together.ai", port: 443, path: "/v1/chat/completions", source: "https://docs.together.ai/docs/inference/openai-compatibility" },
    // base_url="https://api.fireworks.ai/inference/v1".
    fireworks: { host: "api.fireworks.ai", port: 443, path: "/inference/v1/chat/completions", source: "https://docs.fireworks.ai/tools-sdks/openai-compatibility" },
    // base_url="https://openrouter.ai/api/v1"; POST https://openrouter.ai/api/v1/chat/completions.
    openrouter: { host: "openrouter.ai", port: 443, path: "/api/v1/chat/completions", source: "https://openrouter.ai/docs/quickstart" },
    // "The base for all routes is at https://api.x.ai"; Chat completions: /v1/chat/completions.
    xai: { host: "api.x.ai", port: 443, path: "/v1/chat/completions", source: "https://docs.x.ai/docs/api-reference" },
    // POST https://api.perplexity.ai/chat/completions (no /v1 segment).
    perplexity: { host: "api.perplexity.ai", port: 443, path: "/chat/completions", source: "https://docs.perplexity.ai/api-reference/chat-completions" },
    // "change the baseURL to https://api.cerebras.ai/v1".
    cerebras: { host: "api.cerebras.ai", port: 443, path: "/v1/chat/completions", source: "https://inference-docs.cerebras.ai/resources/openai" },
});

/** The preset names, sorted, for error messages and documentation. */
export const PRESET_NAMES: readonly string[] = Object.freeze(Object.keys(PRESETS).sort());

/** The preset called `name`, or `undefined` when there is none. */
export function findPreset(name: string): Preset | undefined {
    return Object.prototype.hasOwnProperty.call(PRESETS, name) ? PRESETS[name] : undefined;
}
