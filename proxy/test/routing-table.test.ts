/**
 * The routing table's path index: a request is tried only against the entries its path can match, and
 * gets exactly the route that trying every entry in precedence order gives (Gateway API precedence).
 */
import type { Dispatcher } from "undici";
import { validateProxyConfig } from "../src/config/schema";
import { ProxyMetrics } from "../src/server/metrics";
import { compileRoutingTable, findRoute, type RequestDetails, type RoutingTable } from "../src/server/routing-table";
import { API_VERSION } from "./helpers/proxy";

function table(routes: unknown[]): RoutingTable {
  const checked = validateProxyConfig({
    apiVersion: API_VERSION,
    kind: "ProxyConfig",
    backends: [{ name: "b", host: "127.0.0.1", port: 1, auth: { type: "None" } }],
    routes,
  });
  if (!checked.ok) throw new Error(JSON.stringify(checked.issues));
  return compileRoutingTable(checked.config, { dispatcherFor: () => ({}) as Dispatcher, backendKeys: new Map(), metrics: new ProxyMetrics() });
}

function details(host: string, headers: Record<string, string> = {}, query: Record<string, string> = {}): RequestDetails {
  return { host: () => host, header: (name) => headers[name], query: (name) => query[name] };
}

/** The same table with every entry a candidate for every path: each tried in precedence order, as before the index. */
function everyEntry(t: RoutingTable): RoutingTable {
  return { ...t, exactPaths: new Map(), pathPrefixes: new Map([["/", t.entries.map((_, i) => i)]]) };
}

/** A small deterministic generator (mulberry32), so a failure names a reproducible seed. */
function random(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

describe("findRoute with the path index", () => {
  it("tries only the entries whose path can match: the last of 500 routes reads one entry", () => {
    const routes = Array.from({ length: 500 }, (_, i) => ({ name: `r${i}`, matches: [{ path: { type: "PathPrefix" as const, value: `/p${String(i).padStart(4, "0")}` } }], backendRefs: [{ name: "b" }] }));
    for (const hostnames of [false, true]) {
      const t = table(hostnames ? routes.map((r, i) => ({ ...r, hostnames: [`h${i}.example.com`] })) : routes);
      let reads = 0;
      const counted: RoutingTable = {
        ...t,
        entries: new Proxy(t.entries, {
          get(target, key, receiver) {
            if (typeof key === "string" && /^\d+$/.test(key)) reads++;
            return Reflect.get(target, key, receiver) as unknown;
          },
        }),
      };
      expect(findRoute(counted, "POST", "/p0499/v1/chat/completions", details("h499.example.com"))?.route.name).toBe("r499");
      expect({ hostnames, reads }).toEqual({ hostnames, reads: 1 });
      reads = 0;
      expect(findRoute(counted, "POST", "/other/v1/chat/completions", details("h499.example.com"))).toBeUndefined();
      expect({ hostnames, reads }).toEqual({ hostnames, reads: 0 });
    }
  });

  it("looks up only parts as long as a configured prefix: a path of thousands of / costs no lookup per /", () => {
    // Slicing and hashing the part before every `/` is quadratic in the path's length: a 16,000-character
    // path (within Node.js's 16 KiB request head) hashed about 128 million characters, ~0.25 s of CPU.
    const t = table([
      { name: "deep", matches: [{ path: { type: "PathPrefix", value: "/a/a/a" } }], backendRefs: [{ name: "b" }] },
      { name: "v1", matches: [{ path: { type: "PathPrefix", value: "/v1/chat" } }], backendRefs: [{ name: "b" }] },
      { name: "exact", matches: [{ path: { type: "Exact", value: "/a" } }], backendRefs: [{ name: "b" }] },
    ]);
    let hashed = 0;
    const prefixes = t.pathPrefixes;
    const counted: RoutingTable = {
      ...t,
      pathPrefixes: {
        get: (key: string) => {
          hashed += key.length;
          return prefixes.get(key);
        },
      } as ReadonlyMap<string, readonly number[]>,
    };
    for (const path of ["/a".repeat(8000), "/".repeat(16000), `${"/a".repeat(7990)}/b`]) {
      const want = findRoute(everyEntry(t), "GET", path, details("x"));
      hashed = 0;
      expect(findRoute(counted, "GET", path, details("x"))).toBe(want);
      // `/`, then each configured length (6, 8) at most once: no part as long as the path is configured.
      expect({ start: path.slice(0, 8), hashed }).toEqual({ start: path.slice(0, 8), hashed: path.charCodeAt(8) === 47 ? 1 + 6 + 8 : 1 + 6 });
    }
    expect(findRoute(counted, "GET", "/a".repeat(8000), details("x"))?.route.name).toBe("deep");
    expect(findRoute(counted, "GET", "/v1/chat/x", details("x"))?.route.name).toBe("v1");
    expect(findRoute(counted, "GET", "/v1/chat", details("x"))?.route.name).toBe("v1");
    expect(findRoute(counted, "GET", "/v1/chatx", details("x"))).toBeUndefined();
    expect(findRoute(counted, "GET", "/a", details("x"))?.route.name).toBe("exact");
  });

  it("chooses what trying every entry in precedence order chooses, over generated routes and requests", () => {
    const paths = ["/", "/a", "/a/", "/a/b", "/a/b/", "/a//b", "/ab", "/a/bc", "/v1", "/v1/chat", "/v1/chat/completions", "//", "/a/b/c"];
    const methods = [undefined, "GET", "POST"];
    const hosts = ["api.example.com", "x.eu.example.com", "example.com", "other.test"];
    const hostLists = [undefined, [], ["api.example.com"], ["*.example.com"], ["*.eu.example.com", "other.test"]];
    let matched = 0;
    let unmatched = 0;
    for (let seed = 1; seed <= 60; seed++) {
      const next = random(seed);
      const pick = <T>(list: readonly T[]): T => list[Math.floor(next() * list.length)]!;
      const routes = Array.from({ length: 1 + Math.floor(next() * 12) }, (_, i) => {
        const hostnames = pick(hostLists);
        return {
          name: `r${i}`,
          ...(hostnames ? { hostnames } : {}),
          matches: Array.from({ length: 1 + Math.floor(next() * 2) }, () => {
            const method = pick(methods);
            const header = next() < 0.2;
            return {
              path: { type: next() < 0.3 ? ("Exact" as const) : ("PathPrefix" as const), value: pick(paths) },
              ...(method ? { method } : {}),
              ...(header ? { headers: [{ name: "x-tenant", type: "RegularExpression" as const, value: "t-[0-9]+" }] } : {}),
            };
          }),
          backendRefs: [{ name: "b" }],
        };
      });
      const t = table(routes);
      const reference = everyEntry(t);
      for (const path of [...paths, "/a/b/c/d", "/ab/c", "/a/bc/", "/v1/chat/completions/x", "/z", ""]) {
        for (const method of ["GET", "POST"]) {
          for (const host of hosts) {
            for (const tenant of [{}, { "x-tenant": "t-1" }] as Record<string, string>[]) {
              const d = details(host, tenant);
              const want = findRoute(reference, method, path, d);
              const got = findRoute(t, method, path, d);
              const at = { seed, path, method, host, tenant };
              expect({ ...at, entry: got && t.entries.indexOf(got) }).toEqual({ ...at, entry: want && t.entries.indexOf(want) });
              if (want) matched++;
              else unmatched++;
            }
          }
        }
      }
    }
    // Both outcomes are well represented, so the comparison is not vacuous.
    expect(matched).toBeGreaterThan(1000);
    expect(unmatched).toBeGreaterThan(1000);
  });
});
