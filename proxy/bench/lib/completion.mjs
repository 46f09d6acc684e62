// The chat completion the benchmark's upstream answers a JSON request with,
// shared with floor.mjs, whose node:http floor answers the same bytes.
export const CREATED = 1700000000;

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
