/**
 * TLS to the upstream over loopback with generated CAs: SNI and the name checked, CA bundles, ALPN, and
 * handshakes the upstream breaks off; each failure is a prompt 502 and the next request is served.
 */
import { once } from "node:events";
import { mkdtempSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect, createServer as createNetServer, type AddressInfo, type Socket } from "node:net";
import { createSecureServer } from "node:http2";
import { createServer as createHttpsServer } from "node:https";
import nodeTls from "node:tls";
import type { TLSSocket } from "node:tls";
import { createTestCa } from "./helpers/certs";
import { postJson, type Reply } from "./helpers/http";
import { API_VERSION, startProxyFrom, type LogLine } from "./helpers/proxy";
import type { ProxyConfigInput } from "../src/index";
import { cleanups, proxyFor, upstreamWith } from "./helpers/owned";

const chat = { model: "m", messages: [{ role: "user", content: "hi" }] };
const outcome = (r: Reply): { status: number; code: unknown } => ({ status: r.status, code: r.status === 200 ? undefined : r.json<{ error: { code: string } }>().error.code });

/** A TCP server on loopback that does what `onSocket` says with each connection (stopped after the test). */
async function tcpServer(onSocket: (s: Socket) => void): Promise<number> {
  const sockets = new Set<Socket>();
  const server = createNetServer((s) => {
    sockets.add(s);
    s.on("error", () => undefined);
    onSocket(s);
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  cleanups.push(() => new Promise((resolve) => { for (const s of sockets) s.destroy(); server.close(resolve); }));
  return (server.address() as AddressInfo).port;
}

/** One backend and route (`/<name>`) per entry, on 127.0.0.1, without auth. */
function configOf(backends: [name: string, port: number, extra: Record<string, unknown>][], routeExtra: Record<string, Record<string, unknown>> = {}): ProxyConfigInput {
  return {
    apiVersion: API_VERSION,
    kind: "ProxyConfig",
    backends: backends.map(([name, port, extra]) => ({ name, host: "127.0.0.1", port, path: "/v1/chat/completions", auth: { type: "None" }, ...extra })) as never,
    routes: backends.map(([name]) => ({ name, matches: [{ path: { value: `/${name}` } }], backendRefs: [{ name }], ...routeExtra[name] })),
  };
}

describe("TLS to the upstream", () => {
  it("sends `serverName` as SNI and checks the certificate against it, whatever the host (an IP) or the URLRewrite Host", async () => {
    const ca = await createTestCa();
    const up = await upstreamWith(undefined, await ca.server(["api.mistral.ai"]));
    const tls = (serverName: string) => ({ tls: { serverName, caCertificates: [{ pem: ca.caCert }] } });
    const p = await proxyFor(configOf([["right", up.port, tls("api.mistral.ai")], ["wrong", up.port, tls("api.deepseek.com")]], { right: { urlRewrite: { hostname: "api.deepseek.com" } }, wrong: { urlRewrite: { hostname: "api.mistral.ai" } } }));
    expect(outcome(await postJson(p.url, "/right", chat))).toEqual({ status: 200, code: undefined });
    expect(up.requests.map((r) => [r.servername, r.headers.host])).toEqual([["api.mistral.ai", "api.deepseek.com"]]);
    // The Host header names the certificate's host; the SNI and the name checked do not: refused.
    expect(outcome(await postJson(p.url, "/wrong", chat))).toEqual({ status: 502, code: "upstream_tls_failed" });
    expect(outcome(await postJson(p.url, "/right", chat))).toEqual({ status: 200, code: undefined });
    expect(up.requests).toHaveLength(2);
  });

  it("trusts every CA of a bundle (old and new during a rotation, names between blocks)", async () => {
    const oldCa = await createTestCa("old CA");
    const newCa = await createTestCa("new CA");
    const byOld = await upstreamWith(undefined, await oldCa.server(["api.mistral.ai"]));
    const byNew = await upstreamWith(undefined, await newCa.server(["api.mistral.ai"]));
    const bundle = `# old\n${oldCa.caCert}\n# new\n${newCa.caCert}\n`;
    const tls = { tls: { serverName: "api.mistral.ai", caCertificates: [{ pem: bundle }] } };
    const p = await proxyFor(configOf([["old", byOld.port, tls], ["new", byNew.port, tls]]));
    expect(outcome(await postJson(p.url, "/old", chat))).toEqual({ status: 200, code: undefined });
    expect(outcome(await postJson(p.url, "/new", chat))).toEqual({ status: 200, code: undefined });
  });

  it("builds a TLS backend's context, its CAs parsed, once for its pool rather than for every new connection", async () => {
    const ca = await createTestCa();
    const up = await upstreamWith(undefined, await ca.server(["api.mistral.ai"]));
    let handshakes = 0;
    up.server.on("secureConnection", () => handshakes++);
    const contexts = jest.spyOn(nodeTls, "createSecureContext");
    cleanups.push(() => contexts.mockRestore());
    // One request per connection: every request is a new connection and a new handshake.
    const p = await proxyFor({ ...configOf([["m", up.port, { tls: { serverName: "api.mistral.ai", caCertificates: [{ pem: ca.caCert }] } }]]), upstream: { maxRequestsPerConnection: 1 } });
    for (let i = 0; i < 4; i++) expect(outcome(await postJson(p.url, "/m", chat))).toEqual({ status: 200, code: undefined });
    expect(handshakes).toBe(4);
    expect(contexts).toHaveBeenCalledTimes(1);
    expect(contexts.mock.calls[0]![0]!.ca).toEqual([expect.stringContaining(ca.caCert.trim().split("\n")[1]!)]);
  });

  it("502 upstream_tls_failed, promptly and again on retry, for an HTTP/2-only upstream (ALPN offers http/1.1 alone)", async () => {
    const ca = await createTestCa();
    const h2 = createSecureServer({ ...(await ca.server(["api.mistral.ai"])), allowHTTP1: false }, (_req, res) => res.end("{}"));
    h2.listen(0, "127.0.0.1");
    await once(h2, "listening");
    cleanups.push(() => new Promise((resolve) => h2.close(() => resolve(undefined))));
    const good = await upstreamWith(undefined, await ca.server(["api.mistral.ai"]));
    const tls = { tls: { serverName: "api.mistral.ai", caCertificates: [{ pem: ca.caCert }] } };
    const p = await proxyFor(configOf([["h2", (h2.address() as AddressInfo).port, tls], ["good", good.port, tls]]));
    const logged = p.waitForNext((l) => l.msg === "upstream connection failed");
    expect(outcome(await postJson(p.url, "/h2", chat))).toEqual({ status: 502, code: "upstream_tls_failed" });
    expect(await logged).toMatchObject({ backend: "h2", cause: "ERR_SSL_TLSV1_ALERT_NO_APPLICATION_PROTOCOL" });
    expect(outcome(await postJson(p.url, "/h2", chat))).toEqual({ status: 502, code: "upstream_tls_failed" });
    expect(outcome(await postJson(p.url, "/good", chat))).toEqual({ status: 200, code: undefined });
  });

  it("serves a response across a TLS 1.2 renegotiation the upstream starts", async () => {
    const ca = await createTestCa();
    const server = createHttpsServer({ ...(await ca.server(["api.mistral.ai"])), maxVersion: "TLSv1.2" }, (req, res) => {
      req.resume();
      req.on("end", () =>
        (req.socket as TLSSocket).renegotiate({ rejectUnauthorized: false }, (err) => {
          res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ renegotiated: err ? "no" : "yes" }));
        }),
      );
    });
    server.listen(0, "127.0.0.1");
    await once(server, "listening");
    cleanups.push(() => new Promise((resolve) => { server.closeAllConnections(); server.close(() => resolve(undefined)); }));
    const p = await proxyFor(configOf([["reneg", (server.address() as AddressInfo).port, { tls: { serverName: "api.mistral.ai", caCertificates: [{ pem: ca.caCert }] } }]]));
    const reply = await postJson(p.url, "/reneg", chat);
    expect({ status: reply.status, body: reply.json() }).toEqual({ status: 200, body: { renegotiated: "yes" } });
  });

  it("502 upstream_tls_failed, logged with its cause, when the upstream closes or resets the connection during the handshake, or answers garbage; the next request is served", async () => {
    const ca = await createTestCa();
    const good = await upstreamWith(undefined, await ca.server(["api.mistral.ai"]));
    const ports = {
      // After the ClientHello: a FIN, a reset, bytes that are not TLS, a TLS record that is not a ServerHello.
      ended: await tcpServer((s) => s.once("data", () => s.end())),
      reset: await tcpServer((s) => s.once("data", () => s.resetAndDestroy())),
      garbage: await tcpServer((s) => s.once("data", () => s.write(Buffer.alloc(200, 0x41)))),
      "not-server-hello": await tcpServer((s) => s.once("data", () => s.write(Buffer.from([0x16, 0x03, 0x03, 0x00, 0x05, 1, 2, 3, 4, 5])))),
    };
    const tls = { tls: { serverName: "api.mistral.ai", caCertificates: [{ pem: ca.caCert }] } };
    const p = await proxyFor(configOf([...Object.entries(ports).map(([name, port]) => [name, port, tls] as [string, number, Record<string, unknown>]), ["good", good.port, tls]]));
    const causes: Record<string, string> = { ended: "ECONNRESET", reset: "ECONNRESET", garbage: "ERR_SSL_WRONG_VERSION_NUMBER", "not-server-hello": "ERR_SSL_UNEXPECTED_MESSAGE" };
    for (const name of Object.keys(ports)) {
      const logged = p.waitForNext((l) => l.msg === "upstream connection failed" && l.backend === name);
      expect({ name, ...outcome(await postJson(p.url, `/${name}`, chat)) }).toEqual({ name, status: 502, code: "upstream_tls_failed" });
      expect(await logged).toMatchObject({ level: "warn", backend: name, cause: causes[name] });
      expect({ name, ...outcome(await postJson(p.url, `/${name}`, chat)) }).toEqual({ name, status: 502, code: "upstream_tls_failed" });
    }
    expect(outcome(await postJson(p.url, "/good", chat))).toEqual({ status: 200, code: undefined });
  });

  it("a CA file changed on disk: junk is refused naming the field while the last good CA serves; a rotation bundle, then the new CA alone, apply to new connections", async () => {
    const oldCa = await createTestCa("old CA");
    const newCa = await createTestCa("new CA");
    const byOld = await upstreamWith(undefined, await oldCa.server(["api.mistral.ai"]));
    // Idle connections stay open: only a new pool makes a new handshake.
    byOld.server.keepAliveTimeout = 60_000;
    const dir = mkdtempSync(join(tmpdir(), "proxy-tls-"));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const caFile = join(dir, "ca.crt");
    const write = (path: string, text: string): void => {
      writeFileSync(`${path}.tmp`, text);
      renameSync(`${path}.tmp`, path);
    };
    write(caFile, oldCa.caCert);
    const configFile = join(dir, "config.json");
    write(configFile, JSON.stringify(configOf([["up", byOld.port, { tls: { serverName: "api.mistral.ai", caCertificates: [{ file: caFile }] } }]])));
    const p = await startProxyFrom({ configFile }, { watchSettleMs: 100 });
    cleanups.push(() => p.close());
    const isApplied = (l: LogLine): boolean => l.msg === "config applied";
    expect(outcome(await postJson(p.url, "/up", chat))).toEqual({ status: 200, code: undefined });

    // A certificate cut off mid-way: refused, naming the file's field, without its text; the old CA serves.
    const rejected = p.waitForNext((l) => l.msg === "config rejected; still serving the last good config");
    write(caFile, `${oldCa.caCert.split("\n").slice(0, 4).join("\n")}\n-----END CERTIFICATE-----\n`);
    const problems = (await rejected).problems as string[];
    expect(problems).toEqual([expect.stringContaining("`backends[0].tls.caCertificates[0]`: not a PEM bundle of CA certificates")]);
    expect(problems.join("")).not.toContain(oldCa.caCert.split("\n")[1]);
    expect(outcome(await postJson(p.url, "/up", chat))).toEqual({ status: 200, code: undefined });

    // The rotation bundle: both CAs are trusted.
    let applied = p.waitForNext(isApplied);
    write(caFile, `${oldCa.caCert}\n${newCa.caCert}\n`);
    await applied;
    expect(outcome(await postJson(p.url, "/up", chat))).toEqual({ status: 200, code: undefined });

    // The new CA alone: the upstream's certificate is no longer trusted, and its open connections are not reused.
    const served = byOld.requests.length;
    applied = p.waitForNext(isApplied);
    write(caFile, newCa.caCert);
    await applied;
    expect(outcome(await postJson(p.url, "/up", chat))).toEqual({ status: 502, code: "upstream_tls_failed" });
    expect(byOld.requests).toHaveLength(served);
  });

  it("a request handed to an idle keep-alive connection the upstream resets before it is written goes again on a new connection, and is no TLS failure", async () => {
    const ca = await createTestCa();
    const up = await upstreamWith(undefined, await ca.server(["api.mistral.ai"]));
    up.server.keepAliveTimeout = 60_000;
    const tcp: Socket[] = [];
    up.server.on("connection", (s: Socket) => tcp.push(s));
    const p = await proxyFor(configOf([["up", up.port, { tls: { serverName: "api.mistral.ai", caCertificates: [{ pem: ca.caCert }] } }]]));
    expect(outcome(await postJson(p.url, "/up", chat))).toEqual({ status: 200, code: undefined });
    expect(tcp).toHaveLength(1); // the proxy's connection to the upstream, its handshake done, now idle

    // A client connection the proxy has read from already (a 404), so that it reads the next request at once.
    const client = connect(Number(new URL(p.url).port), "127.0.0.1");
    cleanups.push(() => void client.destroy());
    let received = "";
    client.on("data", (d: Buffer) => (received += d.toString("latin1")));
    const ended = new Promise((resolve) => client.on("close", resolve));
    await once(client, "connect");
    client.write("GET /none HTTP/1.1\r\nHost: proxy\r\n\r\n");
    await once(client, "data");
    // The request, then the upstream's reset of the idle connection, reach the proxy in the same read of the
    // event loop: undici takes the request for that connection, then fails it with the reset (ECONNRESET),
    // before writing it.
    const body = JSON.stringify(chat);
    const logged = p.waitForLog((l) => l.msg === "request" && l.path === "/up" && l.reqId !== p.logs().find((f) => f.msg === "request" && f.path === "/up")!.reqId);
    client.write(`POST /up HTTP/1.1\r\nHost: proxy\r\nConnection: close\r\ncontent-type: application/json\r\ncontent-length: ${body.length}\r\n\r\n${body}`);
    tcp[0]!.resetAndDestroy();
    await ended;
    // It never reached the upstream on the reset connection: sent again on a new one, and answered.
    expect(received.slice(received.indexOf("HTTP/1.1", 1))).toMatch(/^HTTP\/1\.1 200 /);
    const line = await logged;
    expect([line.level, line.status, line.error]).toEqual(["info", 200, undefined]);
    expect(p.logs().filter((l) => l.msg === "request sent again: the connection it was to go on closed before it was written")).toHaveLength(1);
    expect([tcp.length, up.requests.length]).toEqual([2, 2]);
    // Not reported as a handshake failure (no "upstream connection failed" line), nor as any upstream error.
    expect(p.logs().filter((l) => l.msg === "upstream connection failed")).toEqual([]);
    const metrics = await (await fetch(`${p.adminUrl}/metrics`)).text();
    expect(metrics).not.toMatch(/openai_proxy_upstream_errors_total\{/);
  });
});
