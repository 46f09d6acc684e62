/**
 * A real, local OpenAI-compatible upstream for tests: chat completions as JSON (with `usage`) or as an
 * SSE stream (final chunk with `usage`), over plain HTTP or TLS, on 127.0.0.1 port 0. It records every
 * request (headers, body, TLS server name) and tells when a client connection closes, so tests can
 * prove what reached it and that aborts propagate. Tests can replace the handler.
 */
import { EventEmitter, once } from "node:events";
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { createServer as createHttpsServer } from "node:https";
import type { AddressInfo, Socket } from "node:net";
import type { TLSSocket } from "node:tls";

export interface RecordedRequest {
  method: string;
  url: string;
  headers: IncomingMessage["headers"];
  rawHeaders: string[];
  body: Buffer;
  /** SNI the client sent (TLS only). */
  servername: string | undefined;
}

export type Handler = (req: IncomingMessage, res: ServerResponse, body: Buffer, upstream: Upstream) => void;

export interface UpstreamOptions {
  tls?: { cert: string; key: string };
  handler?: Handler;
}

export class Upstream extends EventEmitter {
  readonly requests: RecordedRequest[] = [];
  handler: Handler = openAiHandler;
  private readonly sockets = new Set<Socket>();
  private gates: (() => void)[] = [];

  constructor(readonly server: Server) {
    super();
  }

  get port(): number {
    return (this.server.address() as AddressInfo).port;
  }

  /** Next request, or the one already received at this index. */
  async request(index: number): Promise<RecordedRequest> {
    while (this.requests.length <= index) await once(this, "request");
    return this.requests[index]!;
  }

  /** Resolves when a gated stream is waiting; `release()` lets it finish. */
  gate(): Promise<void> {
    return new Promise((resolve) => this.gates.push(resolve));
  }

  /** Lets every gated stream continue. */
  release(): void {
    this.emit("release");
  }

  track(socket: Socket): void {
    this.sockets.add(socket);
    socket.once("close", () => this.sockets.delete(socket));
  }

  openGate(): void {
    const gates = this.gates;
    this.gates = [];
    for (const g of gates) g();
  }

  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

export async function startUpstream(options: UpstreamOptions = {}): Promise<Upstream> {
  // eslint-disable-next-line prefer-const -- assigned once the server exists; the handler closes over it
  let upstream!: Upstream;
  const onRequest = (req: IncomingMessage, res: ServerResponse): void => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const record: RecordedRequest = {
        method: req.method ?? "",
        url: req.url ?? "",
        headers: req.headers,
        rawHeaders: req.rawHeaders,
        body: Buffer.concat(chunks),
        servername: (req.socket as TLSSocket).servername || undefined,
      };
      upstream.requests.push(record);
      upstream.emit("request", record);
      res.on("close", () => {
        if (!res.writableFinished) upstream.emit("clientAborted", record);
      });
      upstream.handler(req, res, record.body, upstream);
    });
  };
  const server = options.tls ? createHttpsServer({ cert: options.tls.cert, key: options.tls.key }, onRequest) : createHttpServer(onRequest);
  upstream = new Upstream(server);
  if (options.handler) upstream.handler = options.handler;
  server.on(options.tls ? "secureConnection" : "connection", (s: Socket) => upstream.track(s));
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  return upstream;
}

/**
 * The default behaviour, an OpenAI-style chat completion. Request fields it understands:
 * `stream` (SSE), `x_chunks` (number of content chunks, default 3), `x_gate` (after the first chunk,
 * wait for `upstream.release()`), `x_status` (answer this error status with an OpenAI-style body).
 */
export const openAiHandler: Handler = (_req, res, body, upstream) => {
  let request: Record<string, unknown>;
  try {
    request = JSON.parse(body.toString("utf8") || "{}") as Record<string, unknown>;
  } catch {
    res.writeHead(400, { "content-type": "application/json" }).end('{"error":{"message":"upstream: bad json","type":"invalid_request_error","code":null}}');
    return;
  }
  const model = typeof request.model === "string" ? request.model : "unknown";
  if (typeof request.x_status === "number") {
    res.writeHead(request.x_status, { "content-type": "application/json", "x-upstream-error": "yes", "retry-after": "7" });
    res.end(JSON.stringify({ error: { message: `upstream says ${request.x_status}`, type: "upstream_type", code: "upstream_code" } }));
    return;
  }
  const created = 1727967462;
  if (request.stream === true) {
    const chunks = typeof request.x_chunks === "number" ? request.x_chunks : 3;
    res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache", "x-request-id": "up-stream-1" });
    const event = (data: unknown): string => `data: ${JSON.stringify(data)}\n\n`;
    const chunk = (i: number): string => event({ id: "chatcmpl-1", object: "chat.completion.chunk", created, model, choices: [{ index: 0, delta: { content: `tok${i} ` }, finish_reason: null }], usage: null });
    res.write(chunk(0));
    const finish = (): void => {
      for (let i = 1; i < chunks; i++) res.write(chunk(i));
      res.write(event({ id: "chatcmpl-1", object: "chat.completion.chunk", created, model, choices: [{ index: 0, delta: {}, finish_reason: "stop" }], usage: null }));
      res.write(event({ id: "chatcmpl-1", object: "chat.completion.chunk", created, model, choices: [], usage: { prompt_tokens: 11, completion_tokens: chunks, total_tokens: 11 + chunks } }));
      res.end("data: [DONE]\n\n");
    };
    if (request.x_gate === true) {
      upstream.once("release", finish);
      upstream.openGate();
    } else finish();
    return;
  }
  const response = JSON.stringify({
    id: "chatcmpl-1",
    object: "chat.completion",
    created,
    model,
    choices: [{ index: 0, message: { role: "assistant", content: "Neural networks learn." }, finish_reason: "stop" }],
    usage: { prompt_tokens: 20, completion_tokens: 17, total_tokens: 37 },
  });
  res.writeHead(200, { "content-type": "application/json", "content-length": Buffer.byteLength(response), "x-request-id": "up-json-1" });
  res.end(response);
};
