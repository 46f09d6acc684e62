/**
 * Hot reload of a watched config (in-process, from real files): a change is applied only once its
 * files have stopped being written.
 */
import { appendFileSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as delay } from "node:timers/promises";
import { postJson } from "./helpers/http";
import { API_VERSION, startProxyFrom, type TestProxy } from "./helpers/proxy";
import { startUpstream, type Upstream } from "./helpers/upstream";

let upstream: Upstream;
let dir: string;
const proxies: TestProxy[] = [];

beforeAll(async () => {
  upstream = await startUpstream();
});

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "proxy-watch-"));
});

afterEach(async () => {
  for (const p of proxies.splice(0)) await p.close();
  rmSync(dir, { recursive: true, force: true });
});

afterAll(async () => {
  await upstream.close();
});

/** A ProxyConfig file whose one backend reads its key from `keyFile`. */
function configFile(file: string, keyFile: string): string {
  writeFileSync(
    file,
    `apiVersion: ${API_VERSION}
kind: ProxyConfig
backends:
  - name: ns/up
    host: 127.0.0.1
    port: ${upstream.port}
    path: /v1/chat/completions
    auth: { type: Key, key: { file: ${JSON.stringify(keyFile)} } }
routes:
  - name: ns/route/0
    matches: [{ path: { type: PathPrefix, value: /mistral } }]
    backendRefs: [{ name: ns/up }]
`,
  );
  return file;
}

let probes = 0;
/** The Authorization header the upstream receives for a request sent now. */
async function keyOf(proxy: TestProxy): Promise<string | undefined> {
  const probe = String(++probes);
  const reply = await postJson(proxy.url, "/mistral", { messages: [] }, { "x-probe": probe });
  expect(reply.status).toBe(200);
  return upstream.requests.find((r) => r.headers["x-probe"] === probe)?.headers.authorization;
}

async function start(source: Parameters<typeof startProxyFrom>[0], options: Parameters<typeof startProxyFrom>[1] = {}): Promise<TestProxy> {
  const proxy = await startProxyFrom(source, options);
  proxies.push(proxy);
  return proxy;
}

describe("a change being written", () => {
  it("is applied once the file has stopped changing, not after its first part (a key split in two writes)", async () => {
    const keyFile = join(dir, "Authorization");
    writeFileSync(keyFile, "sk-h1-0000000001");
    // A long settle period against a short pause between the two writes: the margin is wide on a busy machine.
    const proxy = await start({ configFile: configFile(join(dir, "config.yaml"), keyFile) }, { watchSettleMs: 2000 });
    expect(await keyOf(proxy)).toBe("Bearer sk-h1-0000000001");

    // What each applied config sends, probed as soon as it is applied.
    const seen: Promise<string | undefined>[] = [];
    proxy.proxy.on("reload", () => seen.push(keyOf(proxy)));
    const applied = proxy.waitForLog((l) => l.msg === "config applied");
    writeFileSync(keyFile, "sk-h1-");
    await delay(200);
    appendFileSync(keyFile, "0000000002");
    expect(await applied).toMatchObject({ generation: 2 });
    expect(await Promise.all(seen)).toEqual(["Bearer sk-h1-0000000002"]);
    expect(proxy.logs().filter((l) => l.msg === "config rejected; still serving the last good config")).toEqual([]);
  });
});
