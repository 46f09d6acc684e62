// The benchmark's chat request (the docs' example) and the completion its
// upstream answers with, shared by the harness, pair.mjs and floor.mjs.
export const CREATED = 1700000000;
export const SYSTEM = "You are a helpful assistant.";

/** The docs' chat completion request for `model`, as JSON text; `system` pads it, `stream` asks for SSE with usage. */
export function chatRequest(model, { system = SYSTEM, stream = false } = {}) {
  return JSON.stringify({
    model,
    messages: [
      { role: "system", content: system },
      { role: "user", content: "Write a short haiku about artificial intelligence." },
    ],
    temperature: 0.7,
    max_tokens: 64,
    ...(stream ? { stream: true, stream_options: { include_usage: true } } : {}),
  });
}

/** The completion for `model`, as the bytes sent. */
export function completionBytes(model) {
  return Buffer.from(
    JSON.stringify({
      id: "chatcmpl-bench",
      object: "chat.completion",
      created: CREATED,
      model,
      choices: [
        {
          index: 0,
          message: { role: "assistant", content: "Neural networks learn,\nPatterns emerge from data streams,\nMind in silicon grows." },
          logprobs: null,
          finish_reason: "stop",
        },
      ],
      usage: { prompt_tokens: 20, completion_tokens: 17, total_tokens: 37 },
    }),
  );
}
