/**
 * The translation's working set: the objects indexed by kind, namespace and name, the problems found,
 * and the small readers every part of the translation shares.
 */
import type { TranslationProblem, FromGatewayObjectsOptions } from "./from-gateway-objects";
import { ManifestValues } from "./manifest-values";

export const KGATEWAY_GROUP = "gateway.kgateway.dev";
export const GATEWAY_GROUP = "gateway.networking.k8s.io";
export const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
export const HOSTNAME = /^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;

export type Obj = Record<string, unknown>;

export interface KubeObject {
  apiVersion: string;
  kind: string;
  namespace: string;
  name: string;
  raw: Obj;
  order: number;
  created: string;
}

export const isObj = (v: unknown): v is Obj => typeof v === "object" && v !== null && !Array.isArray(v);
export const str = (v: unknown): string | undefined => (typeof v === "string" ? v : undefined);
export const arr = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);
export const groupOf = (apiVersion: string): string => (apiVersion.includes("/") ? apiVersion.slice(0, apiVersion.indexOf("/")) : "");
export const key = (kind: string, namespace: string, name: string): string => `${kind}/${namespace}/${name}`;

export class Translation {
  readonly problems: TranslationProblem[] = [];
  readonly values = new ManifestValues();
  readonly byKey = new Map<string, KubeObject>();
  readonly list: KubeObject[] = [];

  constructor(readonly options: FromGatewayObjectsOptions) {}

  report(severity: TranslationProblem["severity"], obj: Pick<KubeObject, "kind" | "namespace" | "name">, field: string, message: string): void {
    this.problems.push({ severity, kind: obj.kind, namespace: obj.namespace, name: obj.name, field, message });
  }

  get(kind: string, namespace: string, name: string): KubeObject | undefined {
    return this.byKey.get(key(kind, namespace, name));
  }
}

export const cmp = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

/** Oldest first (by `creationTimestamp`, when both have one), then `namespace/name`: Gateway API's tie-break. */
export function olderFirst(a: KubeObject, b: KubeObject): number {
  return (a.created !== b.created && a.created && b.created ? (a.created < b.created ? -1 : 1) : 0) || cmp(`${a.namespace}/${a.name}`, `${b.namespace}/${b.name}`);
}

export function joinPath(dir: string, ...parts: string[]): string {
  return [dir.replace(/\/+$/, ""), ...parts].join("/");
}

export function index(t: Translation, objects: readonly unknown[]): void {
  const defaultNamespace = t.options.defaultNamespace ?? "default";
  const flat: unknown[] = [];
  for (const o of objects) {
    if (isObj(o) && o.kind === "List" && Array.isArray(o.items)) flat.push(...(o.items as unknown[]));
    else flat.push(o);
  }
  flat.forEach((raw, order) => {
    if (raw === null || raw === undefined) return; // an empty YAML document
    const meta = isObj(raw) && isObj(raw.metadata) ? raw.metadata : undefined;
    const kind = isObj(raw) ? str(raw.kind) : undefined;
    const apiVersion = isObj(raw) ? str(raw.apiVersion) : undefined;
    const name = meta ? str(meta.name) : undefined;
    if (!isObj(raw) || !kind || !apiVersion || !name) {
      t.report("error", { kind: kind ?? "(unknown)", namespace: "", name: name ?? `(object #${order + 1})` }, kind ? (apiVersion ? "metadata.name" : "apiVersion") : "kind", "is required: every object needs `apiVersion`, `kind` and `metadata.name`");
      return;
    }
    const namespace = (meta && str(meta.namespace)) || defaultNamespace;
    const obj: KubeObject = { apiVersion, kind, namespace, name, raw, order, created: (meta && str(meta.creationTimestamp)) ?? "" };
    const group = groupOf(apiVersion);
    const known =
      (group === "" && (kind === "Secret" || kind === "ConfigMap")) ||
      (group === KGATEWAY_GROUP && kind === "Backend") ||
      (group === GATEWAY_GROUP && (kind === "HTTPRoute" || kind === "BackendTLSPolicy"));
    if (!known) {
      const why =
        group === GATEWAY_GROUP && (kind === "Gateway" || kind === "GatewayClass")
          ? "not needed: the proxy itself is the gateway and serves the HTTPRoutes directly"
          : "not read by the proxy";
      t.report("warning", obj, "kind", `\`${apiVersion}\` \`${kind}\` is ${why}`);
      return;
    }
    if (kind === "BackendTLSPolicy" && apiVersion !== `${GATEWAY_GROUP}/v1`) {
      t.report("error", obj, "apiVersion", `only \`${GATEWAY_GROUP}/v1\` BackendTLSPolicy is read (kgateway v2.1.x and Gateway API v1.4.0)`);
      return;
    }
    const k = key(kind, namespace, name);
    if (t.byKey.has(k)) {
      t.report("error", obj, "metadata.name", `duplicate ${kind} ${namespace}/${name}`);
      return;
    }
    t.byKey.set(k, obj);
    t.list.push(obj);
  });
}

/** Reads a key of a Secret or ConfigMap: `stringData` wins over base64 `data`, as the API server merges them. */
export function readDataKey(t: Translation, obj: KubeObject, dataKey: string): string | undefined {
  const stringData = obj.raw.stringData;
  if (isObj(stringData) && typeof stringData[dataKey] === "string") return stringData[dataKey];
  const data = obj.raw.data;
  if (isObj(data) && typeof data[dataKey] === "string") {
    if (obj.kind === "ConfigMap") return data[dataKey];
    const b64 = (data[dataKey]).replace(/\s+/g, "");
    if (!/^[A-Za-z0-9+/]*={0,2}$/.test(b64) || b64.length % 4 !== 0) {
      t.report("error", obj, `data.${dataKey}`, "is not valid base64");
      return undefined;
    }
    return Buffer.from(b64, "base64").toString("utf8");
  }
  return undefined;
}
