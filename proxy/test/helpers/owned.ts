/**
 * Servers a test starts and owns: each one is stopped after its test (in the reverse order of their
 * start), whatever the test's outcome. A test pushes anything else it must stop onto `cleanups`.
 */
import { providerEnv, startProxy, type TestProxy } from "./proxy";
import { startUpstream, type Upstream } from "./upstream";

export const cleanups: (() => Promise<unknown> | void)[] = [];

afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** The real proxy for `config`, with the provider key in its environment. */
export async function proxyFor(config: Parameters<typeof startProxy>[0], options: Parameters<typeof startProxy>[1] = {}): Promise<TestProxy> {
  const p = await startProxy(config, { env: providerEnv, ...options });
  cleanups.push(() => p.close());
  return p;
}

/** A local upstream answering with `handler` (the OpenAI-style default without one), over TLS with `tls`. */
export async function upstreamWith(handler?: Upstream["handler"], tls?: { cert: string; key: string }): Promise<Upstream> {
  const u = await startUpstream({ ...(handler ? { handler } : {}), ...(tls ? { tls } : {}) });
  cleanups.push(() => u.close());
  return u;
}
