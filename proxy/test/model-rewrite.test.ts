/** The model override's JSON rewrite and the `usage` reader, byte for byte. */
import { modelSpans, parseJsonObject, replaceModel, replaceModelBytes, topLevelValueSpans } from "../src/server/model-rewrite";
import { StreamUsageReader, TailBuffer, findUsage } from "../src/server/token-usage";

const M = JSON.stringify("new-model");

describe("replaceModel", () => {
  it.each([
    ['{"model":"a"}', '{"model":"new-model"}'],
    ['{ "model" : "a" , "x" : 1 }', '{ "model" : "new-model" , "x" : 1 }'],
    ['{"x":{"model":"nested"},"model":"a"}', '{"x":{"model":"nested"},"model":"new-model"}'],
    ['{"messages":[{"content":"\\"model\\":\\"a\\""}],"model":null}', '{"messages":[{"content":"\\"model\\":\\"a\\""}],"model":"new-model"}'],
    ['{"model":{"deep":["}",{"a":"]"}]},"n":1}', '{"model":"new-model","n":1}'],
    ['{"model":123,"y":true}', '{"model":"new-model","y":true}'],
    ['{"mod\\u0065l":"a"}', '{"mod\\u0065l":"new-model"}'],
    ['{"model":"a","model":"b"}', '{"model":"new-model","model":"new-model"}'],
    ['{"mod\\u0065l":"a","model":"b"}', '{"mod\\u0065l":"new-model","model":"new-model"}'],
    ['{"mod\\u0065l":"a","x":{"model":"nested"}}', '{"mod\\u0065l":"new-model","x":{"model":"nested"}}'],
    ['{"x":{"model":"nested"}}', '{"model":"new-model","x":{"model":"nested"}}'],
    ['{"x":"\\u0041","model":"a"}', '{"x":"\\u0041","model":"new-model"}'],
    ['{"content":"\\"model\\"","model":"a"}', '{"content":"\\"model\\"","model":"new-model"}'],
    ['{"model":"model"}', '{"model":"new-model"}'],
    ['{"model" :\t{"model":["\\"model\\""]}, "z":0}', '{"model" :\t"new-model", "z":0}'],
    ['{"s":"back\\\\","model":"a"}', '{"s":"back\\\\","model":"new-model"}'],
    ['{"n":-1.5e+3,"model":"a"}', '{"n":-1.5e+3,"model":"new-model"}'],
    ['{"messages":[]}', '{"model":"new-model","messages":[]}'],
    ["{}", '{"model":"new-model"}'],
    ["  {  }  ", '  {"model":"new-model"  }  '],
    ['\n{\n  "model": "a"\n}\n', '\n{\n  "model": "new-model"\n}\n'],
  ])("%s", (input, expected) => {
    expect(parseJsonObject(input).ok).toBe(true);
    const out = replaceModel(input, M);
    expect(out).toBe(expected);
    // The byte-level splice gives the same bytes, from an ASCII body and from one with multi-byte characters.
    const value = JSON.parse(input) as Record<string, unknown>;
    expect(modelSpans(input, value)).toEqual(topLevelValueSpans(input, "model"));
    expect(replaceModelBytes(Buffer.from(input), input, value, M).toString("utf8")).toBe(expected);
    const wide = input.replace("{", Object.keys(value).length === 0 ? '{"é😀":"ü"' : '{"é😀":"ü",');
    expect(parseJsonObject(wide).ok).toBe(true);
    expect(replaceModelBytes(Buffer.from(wide), wide, JSON.parse(wide) as Record<string, unknown>, M).toString("utf8")).toBe(replaceModel(wide, M));
    const parsed = JSON.parse(out) as Record<string, unknown>;
    expect(parsed.model).toBe("new-model");
  });

  it("keeps every other byte of a large body", () => {
    const messages = Array.from({ length: 2000 }, (_, i) => ({ role: "user", content: `message ${i} with "quotes", {braces} and [brackets] ` + "x".repeat(400) }));
    const body = JSON.stringify({ messages, temperature: 0.7, model: "client" });
    const out = replaceModel(body, M);
    expect(out).toBe(body.replace('"model":"client"', '"model":"new-model"'));
    expect(topLevelValueSpans(body, "model")).toEqual([body.length - '"client"}'.length, body.length - 1]);
  });

  it("classifies invalid bodies", () => {
    expect(parseJsonObject("{").ok).toBe(false);
    expect(parseJsonObject("[]")).toEqual({ ok: false, code: "invalid_body" });
    expect(parseJsonObject('"model"')).toEqual({ ok: false, code: "invalid_body" });
    expect(parseJsonObject("{} x")).toEqual({ ok: false, code: "invalid_json" });
  });
});

describe("token usage", () => {
  it("reads OpenAI and Responses-style usage, skipping null usage and usage-like text", () => {
    expect(findUsage(Buffer.from('{"usage":{"prompt_tokens":3,"completion_tokens":4,"prompt_tokens_details":{"cached_tokens":1}}}'))).toEqual({ input: 3, output: 4 });
    expect(findUsage(Buffer.from('{"usage": {"input_tokens":5,"output_tokens":6}}'))).toEqual({ input: 5, output: 6 });
    const sse = 'data: {"usage":{"prompt_tokens":1,"completion_tokens":2}}\n\ndata: {"content":"\\"usage\\": {}","usage":null}\n\ndata: [DONE]\n\n';
    expect(findUsage(Buffer.from(sse))).toEqual({ input: 1, output: 2 });
    expect(findUsage(Buffer.from('{"usage":null}'))).toBeUndefined();
    expect(findUsage(Buffer.from("no usage here"))).toBeUndefined();
  });

  it("reads the usage object as JSON.parse does: its own keys, prompt_ and completion_ first, the last of a repeated key, counts only (whole numbers up to 2^53 - 1)", () => {
    // The reference: the counts JSON.parse gives for the object, prompt_/completion_ before input_/output_.
    const num = (v: unknown): number | undefined => (typeof v === "number" && Number.isSafeInteger(v) && v >= 0 ? v : undefined);
    const reference = (object: string): { input: number; output: number } | undefined => {
      const u = JSON.parse(object) as Record<string, unknown>;
      const input = num(u.prompt_tokens) ?? num(u.input_tokens);
      const output = num(u.completion_tokens) ?? num(u.output_tokens);
      return input !== undefined || output !== undefined ? { input: input ?? 0, output: output ?? 0 } : undefined;
    };
    const objects = [
      '{"prompt_tokens":20,"completion_tokens":17,"total_tokens":37}',
      '{ "prompt_tokens" : 0 ,\n "completion_tokens":\t123456789012345 }',
      '{"prompt_tokens":9,"prompt_tokens_details":{"cached_tokens":4,"prompt_tokens":99},"completion_tokens":1}',
      '{"completion_tokens_details":{"completion_tokens":5},"prompt_tokens":3}',
      '{"input_tokens":5,"input_tokens_details":{"cached_tokens":0},"output_tokens":6,"output_tokens_details":{"reasoning_tokens":2}}',
      '{"prompt_tokens":null,"input_tokens":7,"completion_tokens":"8","output_tokens":2}',
      '{"prompt_tokens":1.5,"completion_tokens":2e1}',
      '{"prompt_tokens":-1,"completion_tokens":4}',
      '{"prompt_tokens":1,"prompt_tokens":2,"completion_tokens":3}',
      '{"prompt\\u005ftokens":4,"completion_tokens":5}',
      '{"note":"\\"prompt_tokens\\":1","list":[{"prompt_tokens":6}],"total_tokens":9}',
      '{"prompt_tokens":1234567890123456789,"completion_tokens":1}',
      '{"prompt_tokens":1e308,"completion_tokens":9007199254740991}',
      '{"prompt_tokens":9007199254740992,"completion_tokens":1e309}',
      '{"prompt_tokens":12,"completion_tokens":0}',
      '{"input_tokens":5,"prompt_tokens":4,"output_tokens":3,"completion_tokens":2}',
      "{}",
    ];
    for (const object of objects) {
      const body = Buffer.from(`{"id":"x","usage":${object}}`);
      expect([object, findUsage(body)]).toEqual([object, reference(object)]);
    }
    // Not counts: a fraction, a number past 2^53 (not read exactly), one that overflows a sum to +Inf.
    expect(findUsage(Buffer.from('{"usage":{"prompt_tokens":1e308,"completion_tokens":1.5}}'))).toBeUndefined();
    expect(findUsage(Buffer.from('{"usage":{"prompt_tokens":9007199254740992,"completion_tokens":9007199254740991}}'))).toEqual({ input: 0, output: 9007199254740991 });
  });

  it("bounds its search, so that an upstream cannot make it costly: the last 8 occurrences, objects up to 8 KiB", () => {
    const usage = '{"usage":{"prompt_tokens":1,"completion_tokens":2}}';
    const decoys = (n: number): string => '{"usage":1}'.repeat(n);
    expect(findUsage(Buffer.from(usage + decoys(7)))).toEqual({ input: 1, output: 2 });
    expect(findUsage(Buffer.from(usage + decoys(8)))).toBeUndefined();
    const padded = (n: number): string => `{"usage":{"prompt_tokens":1,"completion_tokens":2,"pad":"${"x".repeat(n)}"}}`;
    expect(findUsage(Buffer.from(padded(8000)))).toEqual({ input: 1, output: 2 });
    expect(findUsage(Buffer.from(padded(9000)))).toBeUndefined();
    // What an upstream could send to make every occurrence scan to the end: now a bounded search, and nothing found.
    const hostile = Buffer.from('"usage":{'.repeat(7000));
    expect(findUsage(hostile)).toBeUndefined();
    const reader = new StreamUsageReader();
    for (let i = 0; i < 20; i++) reader.push(hostile);
    reader.push(Buffer.from('}}}data: {"usage":{"prompt_tokens":3,"completion_tokens":4}}\n\n'));
    expect(reader.usage()).toEqual({ input: 3, output: 4 });
  });

  it("keeps only the tail of a long stream, across chunk boundaries", () => {
    const tail = new TailBuffer();
    for (let i = 0; i < 1000; i++) tail.push(Buffer.from(`data: {"i":${i},"usage":null}\n\n`));
    const final = Buffer.from('data: {"choices":[],"usage":{"prompt_tokens":7,"completion_tokens":9}}\n\ndata: [DONE]\n\n');
    tail.push(final.subarray(0, 30));
    tail.push(final.subarray(30));
    expect(tail.usage()).toEqual({ input: 7, output: 9 });
  });

  it("keeps only the tail of a body in tiny chunks, copied together", () => {
    const tail = new TailBuffer();
    const held = (): number => (tail as unknown as { chunks: Buffer[] }).chunks.reduce((n, c) => n + c.length, 0);
    const byte = Buffer.from(" ");
    let most = 0;
    for (let i = 0; i < 200_000; i++) {
      tail.push(byte);
      most = Math.max(most, held());
    }
    // One byte at a time, so the usage object is cut across the copies of 16 chunks.
    const final = Buffer.from('{"choices":[],"usage":{"prompt_tokens":7,"completion_tokens":9}}');
    for (let i = 0; i < final.length; i++) tail.push(final.subarray(i, i + 1));
    expect(tail.usage()).toEqual({ input: 7, output: 9 });
    expect(most).toBeLessThanOrEqual(16 * 1024 + 16);
  });
});

describe("token usage of event streams", () => {
  const events = [
    'data: {"choices":[{"delta":{"content":"a"}}],"usage":null}\n\n',
    'data: {"choices":[],"usage":{"prompt_tokens":12,"completion_tokens":34,"total_tokens":46}}\n\n',
    "data: [DONE]\n\n",
  ].join("");

  it("finds the final usage however the stream is cut into chunks, without keeping chunks", () => {
    const bytes = Buffer.from(events);
    for (let size = 1; size <= bytes.length; size++) {
      const reader = new StreamUsageReader();
      for (let i = 0; i < bytes.length; i += size) reader.push(bytes.subarray(i, i + size));
      expect([size, reader.usage()]).toEqual([size, { input: 12, output: 34 }]);
    }
  });

  it("follows a usage object cut anywhere, braces and escaped quotes in its strings included", () => {
    const tricky = 'data: {"usage" :\n {"prompt_tokens":5,"note":"}\\"{\\\\","d":{"x":[1]},"completion_tokens":6}}\n\ndata: {"usage":null}\n\n';
    expect(JSON.parse(tricky.slice(6, tricky.indexOf("\n\n")))).toMatchObject({ usage: { prompt_tokens: 5, completion_tokens: 6 } });
    const bytes = Buffer.from(tricky);
    for (let size = 1; size <= bytes.length; size++) {
      for (let first = 0; first < Math.min(size, 20); first++) {
        const reader = new StreamUsageReader();
        reader.push(bytes.subarray(0, first));
        for (let i = first; i < bytes.length; i += size) reader.push(bytes.subarray(i, i + size));
        expect([size, first, reader.usage()]).toEqual([size, first, { input: 5, output: 6 }]);
      }
    }
    // A value that is not an object, cut after its key, is not followed; an object over 8 KiB is dropped,
    // and the usage after it still found.
    const reader = new StreamUsageReader();
    for (const piece of ['data: {"usage"', ":", " null", ',"x":{"prompt_tokens":1}}\n\n', 'data: {"usage":{"prompt_tokens":1,', '"pad":"', "x".repeat(9000), '","completion_tokens":1}}\n\n']) reader.push(Buffer.from(piece));
    expect(reader.usage()).toBeUndefined();
    for (const c of 'data: {"usage":{"prompt_tokens":7,"completion_tokens":8}}\n\n') reader.push(Buffer.from(c));
    expect(reader.usage()).toEqual({ input: 7, output: 8 });
  });

  it("looks at each byte of an unfinished usage object once, however small the chunks it comes in", () => {
    // An upstream sending `"usage":{` then a byte per chunk: the unfinished object was copied together
    // with each next chunk and searched again, 8 KiB of work per byte (15 s for 1 MB of such a stream).
    const concat = jest.spyOn(Buffer, "concat");
    const search = jest.spyOn(Buffer.prototype, "lastIndexOf");
    try {
      const reader = new StreamUsageReader();
      const byte = Buffer.from("x");
      let pushed = 0;
      for (let round = 0; round < 10; round++) {
        const start = Buffer.from('data: {"usage":{"a":"');
        reader.push(start);
        pushed += start.length;
        for (let i = 0; i < 8000; i++) reader.push(byte);
        pushed += 8000;
      }
      const end = Buffer.from('"}}\n\ndata: {"usage":{"prompt_tokens":1,"completion_tokens":2}}\n\n');
      reader.push(end);
      pushed += end.length;
      expect(reader.usage()).toEqual({ input: 1, output: 2 });
      const copied = concat.mock.results.reduce((n, r) => n + (r.value as Buffer).length, 0);
      const searched = (search.mock.contexts as Buffer[]).reduce((n, b) => n + b.length, 0);
      expect(copied + searched).toBeLessThan(4 * pushed);
    } finally {
      concat.mockRestore();
      search.mockRestore();
    }
  });

  it("keeps the last usage object and ignores usage-like text and nulls", () => {
    const reader = new StreamUsageReader();
    reader.push(Buffer.from('data: {"usage":{"prompt_tokens":1,"completion_tokens":1}}\n\ndata: {"content":"\\"usage\\": {x}","usage":null}\n\n'));
    expect(reader.usage()).toEqual({ input: 1, output: 1 });
    reader.push(Buffer.from('data: {"usage":{"prompt_tokens":2,"completion_tokens":3}}\n\n'));
    expect(reader.usage()).toEqual({ input: 2, output: 3 });
    const none = new StreamUsageReader();
    none.push(Buffer.from('data: {"usage":null}\n\ndata: [DONE]\n\n'));
    expect(none.usage()).toBeUndefined();
  });
});
