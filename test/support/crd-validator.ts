/*
 * Validates Kubernetes objects the way the API server would on create, against the CRDs in
 * ../shared/crds (read at test time, never copied into the repository):
 *
 * 1. structural defaulting (the API server applies `default`s before validating) and the
 *    OpenAPI v3 schema, with ajv; `x-kubernetes-int-or-string` and `nullable` are translated to
 *    JSON Schema, and unknown fields are rejected (the API server would prune them silently,
 *    which for a typo such as `hostName` is worse than an error);
 * 2. `x-kubernetes-list-type: set|map` uniqueness;
 * 3. every `x-kubernetes-validations` CEL rule, with @marcbachmann/cel-js, on the defaulted object,
 *    with integers as CEL ints and property names escaped as Kubernetes escapes them;
 * 4. ObjectMeta rules the API server enforces for every kind (name, namespace, labels,
 *    annotations), and for core/v1 Secret and ConfigMap, which have no CRD, their key rules.
 *
 * Transition rules (those reading `oldSelf`) only run on update and are skipped.
 */
import Ajv, { ValidateFunction } from "ajv";
import addFormats from "ajv-formats";
import { Environment } from "@marcbachmann/cel-js";
import * as fs from "node:fs";
import * as path from "node:path";
import { isDeepStrictEqual } from "node:util";
import * as YAML from "yaml";

/** The shared CRD folder, beside the repository (`../shared/crds` from the repo root). */
export const CRD_ROOT = path.resolve(__dirname, "../../../shared/crds");

/** The CRDs the component's objects must satisfy: kgateway v2.1.x and both Gateway API v1.4.0 channels. */
export const DEFAULT_CRD_FILES = [
    "kgateway/v2.1.x/gateway.kgateway.dev_backends.yaml",
    "gateway-api/v1.4.0/standard/gateway.networking.k8s.io_httproutes.yaml",
    "gateway-api/v1.4.0/standard/gateway.networking.k8s.io_backendtlspolicies.yaml",
    "gateway-api/v1.4.0/experimental/gateway.networking.k8s.io_httproutes.yaml",
    "gateway-api/v1.4.0/experimental/gateway.networking.k8s.io_backendtlspolicies.yaml",
];

/** One reason an object would be rejected. */
export interface Violation {
    /** `apiVersion/kind name`. */
    object: string;
    /** The CRD file that rejects it (relative to {@link CRD_ROOT}), or `core` for built-in rules. */
    source: string;
    /** JSON-pointer-like path of the offending field. */
    path: string;
    /** The schema error or the CEL rule's message. */
    message: string;
}

type Schema = Record<string, unknown> & {
    type?: string | string[];
    properties?: Record<string, Schema>;
    additionalProperties?: Schema | boolean;
    items?: Schema;
    "x-kubernetes-validations"?: { rule: string; message?: string; messageExpression?: string }[];
    "x-kubernetes-list-type"?: string;
    "x-kubernetes-list-map-keys"?: string[];
    "x-kubernetes-int-or-string"?: boolean;
    "x-kubernetes-preserve-unknown-fields"?: boolean;
};

interface CompiledRule {
    rule: string;
    message: string;
    evaluate: (ctx: { self: unknown }) => unknown;
}

interface VersionSchema {
    file: string;
    schema: Schema;
    validate: ValidateFunction;
    rules: WeakMap<object, CompiledRule[]>;
}

/** CEL reserved words Kubernetes escapes as `__word__` (apiserver/pkg/cel/escaping.go). */
const CEL_RESERVED = new Set([
    "true", "false", "null", "in", "as", "break", "const", "continue", "else", "for", "function",
    "if", "import", "let", "loop", "package", "namespace", "return", "var", "void", "while",
]);

/** A property name as CEL expressions in CRDs see it (Kubernetes' escaping rules). */
export function escapeCelProperty(name: string): string {
    if (CEL_RESERVED.has(name)) return `__${name}__`;
    return name
        .replace(/__/g, "__underscores__")
        .replace(/\./g, "__dot__")
        .replace(/-/g, "__dash__")
        .replace(/\//g, "__slash__");
}

/**
 * cel-js 8 rejects `has()` when the selected operand ends in an index, as in the HTTPRoute rule
 * `has(self.matches[0].path)` ("has() invalid argument"), though CEL allows it. For the map values
 * CRD objects are, `has(e[i].f)` means exactly `'f' in e[i]`, so such macros are rewritten to that
 * key-presence test before compiling. Every other rule is compiled verbatim.
 */
export function adaptRuleForCelJs(rule: string): string {
    return rule.replace(/has\(([A-Za-z_][A-Za-z0-9_.]*\[[0-9]+\])\.([A-Za-z_][A-Za-z0-9_]*)\)/g, "('$2' in $1)");
}

/** Kubernetes' JSON Schema dialect to plain JSON Schema ajv understands. */
function toJsonSchema(node: Schema): Schema {
    const out: Schema = {};
    for (const [key, value] of Object.entries(node)) {
        if (key === "properties" && value && typeof value === "object") {
            out.properties = Object.fromEntries(Object.entries(value as Record<string, Schema>).map(([k, v]) => [k, toJsonSchema(v)]));
        } else if ((key === "items" || key === "additionalProperties" || key === "not") && value && typeof value === "object") {
            out[key] = toJsonSchema(value as Schema);
        } else if ((key === "anyOf" || key === "allOf" || key === "oneOf") && Array.isArray(value)) {
            out[key] = value.map((v) => toJsonSchema(v as Schema));
        } else {
            out[key] = value;
        }
    }
    if (out["x-kubernetes-int-or-string"] === true) {
        delete out.type;
        if (!out.anyOf) out.anyOf = [{ type: "integer" }, { type: "string" }];
    }
    if (out.nullable === true && typeof out.type === "string") out.type = [out.type, "null"];
    if (out.type === "object" && out.properties && out.additionalProperties === undefined && out["x-kubernetes-preserve-unknown-fields"] !== true) {
        out.additionalProperties = false;
    }
    return out;
}

function isInteger(schema: Schema | undefined): boolean {
    return schema?.type === "integer";
}

/** A JSON value as CEL sees it under `schema`: integers as BigInt, object properties escaped. */
function toCel(value: unknown, schema: Schema | undefined): unknown {
    if (value === null || value === undefined) return value;
    if (typeof value === "number") return isInteger(schema) || (schema?.["x-kubernetes-int-or-string"] && Number.isInteger(value)) ? BigInt(value) : value;
    if (Array.isArray(value)) {
        // A fresh array literal: an array from another realm (structuredClone under jest's vm
        // context) is not a list to cel-js.
        const list: unknown[] = [];
        for (const v of value) list.push(toCel(v, schema?.items));
        return list;
    }
    if (typeof value === "object") {
        const out: Record<string, unknown> = {};
        for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
            const prop = schema?.properties?.[k];
            if (prop) out[escapeCelProperty(k)] = toCel(v, prop);
            else out[k] = toCel(v, typeof schema?.additionalProperties === "object" ? schema.additionalProperties : undefined);
        }
        return out;
    }
    return value;
}

const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const QUALIFIED_NAME = /^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$/;
/** k8s.io/apimachinery IsConfigMapKey, used for Secret and ConfigMap keys. */
const CONFIG_KEY = /^[-._a-zA-Z0-9]+$/;

function qualifiedKeyOk(key: string): boolean {
    const slash = key.lastIndexOf("/");
    const prefix = slash >= 0 ? key.slice(0, slash) : undefined;
    const name = slash >= 0 ? key.slice(slash + 1) : key;
    return (prefix === undefined || (prefix.length <= 253 && DNS1123_SUBDOMAIN.test(prefix))) && name.length <= 63 && QUALIFIED_NAME.test(name);
}

/** A loaded set of CRDs that validates objects. */
export class CrdValidator {
    private readonly versions = new Map<string, VersionSchema[]>();
    private readonly env = new Environment({ unlistedVariablesAreDyn: true });
    /** Every CEL rule of the loaded CRDs, with the file it comes from. */
    readonly allRules: { file: string; kind: string; rule: string; message: string }[] = [];

    constructor(files: string[] = DEFAULT_CRD_FILES, root: string = CRD_ROOT) {
        const ajv = new Ajv({ allErrors: true, strict: false, useDefaults: true });
        addFormats(ajv);
        // Kubernetes' integer formats (kube-openapi validate/formats).
        ajv.addFormat("int32", { type: "number", validate: (n: number) => Number.isInteger(n) && n >= -(2 ** 31) && n <= 2 ** 31 - 1 });
        ajv.addFormat("int64", { type: "number", validate: (n: number) => Number.isSafeInteger(n) });
        for (const file of files) {
            const text = fs.readFileSync(path.join(root, file), "utf8");
            for (const doc of YAML.parseAllDocuments(text)) {
                const crd = doc.toJS() as {
                    kind?: string;
                    spec?: { group: string; names: { kind: string }; versions: { name: string; served?: boolean; schema: { openAPIV3Schema: Schema } }[] };
                } | null;
                if (!crd || crd.kind !== "CustomResourceDefinition" || !crd.spec) continue;
                for (const version of crd.spec.versions) {
                    if (version.served === false) continue;
                    const key = `${crd.spec.group}/${version.name}/${crd.spec.names.kind}`;
                    const schema = version.schema.openAPIV3Schema;
                    const entry: VersionSchema = { file, schema, validate: ajv.compile(toJsonSchema(schema)), rules: new WeakMap() };
                    this.compileRules(entry, schema, `${crd.spec.group}/${version.name}/${crd.spec.names.kind}`);
                    const list = this.versions.get(key) ?? [];
                    list.push(entry);
                    this.versions.set(key, list);
                }
            }
        }
    }

    /** The `group/version/Kind`s this validator knows, besides core/v1 Secret and ConfigMap. */
    kinds(): string[] {
        return [...this.versions.keys()].sort();
    }

    private compileRules(entry: VersionSchema, node: Schema, kind: string): void {
        const validations = node["x-kubernetes-validations"];
        if (validations) {
            const compiled: CompiledRule[] = [];
            for (const v of validations) {
                this.allRules.push({ file: entry.file, kind, rule: v.rule, message: v.message ?? "" });
                // Transition rules need the old object; creation never runs them.
                if (/\boldSelf\b/.test(v.rule)) continue;
                const parsed = this.env.parse(adaptRuleForCelJs(v.rule));
                compiled.push({ rule: v.rule, message: v.message ?? `failed rule: ${v.rule}`, evaluate: (ctx) => parsed(ctx) as unknown });
            }
            entry.rules.set(node, compiled);
        }
        for (const child of Object.values(node.properties ?? {})) this.compileRules(entry, child, kind);
        if (node.items) this.compileRules(entry, node.items, kind);
        if (typeof node.additionalProperties === "object") this.compileRules(entry, node.additionalProperties, kind);
    }

    /** Why the API server would reject `object` on create; empty when it would accept it. */
    validate(object: unknown): Violation[] {
        const obj = (object ?? {}) as { apiVersion?: unknown; kind?: unknown; metadata?: { name?: unknown } };
        const id = `${String(obj.apiVersion)}/${String(obj.kind)} ${String(obj.metadata?.name)}`;
        const violations: Violation[] = [];
        const push = (source: string, p: string, message: string) => violations.push({ object: id, source, path: p, message });

        this.validateMeta(obj.metadata, push);

        if (obj.apiVersion === "v1" && (obj.kind === "Secret" || obj.kind === "ConfigMap")) {
            this.validateCore(object as Record<string, unknown>, push);
            return violations;
        }
        const apiVersion = typeof obj.apiVersion === "string" ? obj.apiVersion : "";
        const key = `${apiVersion.includes("/") ? apiVersion : `/${apiVersion}`}/${String(obj.kind)}`;
        const entries = this.versions.get(key);
        if (!entries) {
            push("core", "", `no CRD loaded serves ${apiVersion} ${String(obj.kind)}`);
            return violations;
        }
        for (const entry of entries) {
            const data = structuredClone(object);
            if (!entry.validate(data)) {
                for (const e of entry.validate.errors ?? []) push(entry.file, e.instancePath, `${e.message ?? "invalid"}${e.params ? ` ${JSON.stringify(e.params)}` : ""}`);
                continue;
            }
            // CEL runs on the defaulted object, as in the API server.
            this.walk(entry, entry.schema, data, "", (p, m) => push(entry.file, p, m));
        }
        return violations;
    }

    private walk(entry: VersionSchema, schema: Schema, data: unknown, at: string, push: (p: string, m: string) => void): void {
        if (data === undefined || data === null) return;
        for (const rule of entry.rules.get(schema) ?? []) {
            let result: unknown;
            try {
                result = rule.evaluate({ self: toCel(data, schema) });
            } catch (err) {
                push(at, `CEL rule could not be evaluated (${(err as Error).message}): ${rule.rule}`);
                continue;
            }
            if (result !== true) push(at, rule.message);
        }
        if (Array.isArray(data)) {
            const listType = schema["x-kubernetes-list-type"];
            if (listType === "set") {
                data.forEach((item, i) => {
                    if (data.findIndex((other) => isDeepStrictEqual(other, item)) !== i) push(`${at}/${i}`, "duplicate entry in a list of type set");
                });
            } else if (listType === "map") {
                const keys = schema["x-kubernetes-list-map-keys"] ?? [];
                const seen = new Set<string>();
                data.forEach((item, i) => {
                    const k = JSON.stringify(keys.map((key) => (item as Record<string, unknown>)[key]));
                    if (seen.has(k)) push(`${at}/${i}`, `duplicate entry with map keys ${k}`);
                    seen.add(k);
                });
            }
            if (schema.items) data.forEach((item, i) => this.walk(entry, schema.items as Schema, item, `${at}/${i}`, push));
            return;
        }
        if (typeof data === "object") {
            for (const [k, v] of Object.entries(data as Record<string, unknown>)) {
                const child = schema.properties?.[k] ?? (typeof schema.additionalProperties === "object" ? schema.additionalProperties : undefined);
                if (child) this.walk(entry, child, v, `${at}/${k}`, push);
            }
        }
    }

    /** ObjectMeta rules (k8s.io/apimachinery ValidateObjectMeta) for the fields the component sets. */
    private validateMeta(metadata: unknown, push: (source: string, p: string, m: string) => void): void {
        if (typeof metadata !== "object" || metadata === null) {
            push("core", "/metadata", "metadata is required");
            return;
        }
        const m = metadata as { name?: unknown; namespace?: unknown; labels?: unknown; annotations?: unknown };
        if (typeof m.name !== "string" || m.name.length > 253 || !DNS1123_SUBDOMAIN.test(m.name)) push("core", "/metadata/name", `name must be a DNS-1123 subdomain, got ${JSON.stringify(m.name)}`);
        if (m.namespace !== undefined && (typeof m.namespace !== "string" || m.namespace.length > 63 || !DNS1123_LABEL.test(m.namespace))) push("core", "/metadata/namespace", `namespace must be a DNS-1123 label, got ${JSON.stringify(m.namespace)}`);
        for (const [field, valueRule] of [["labels", true], ["annotations", false]] as const) {
            const map = m[field];
            if (map === undefined) continue;
            if (typeof map !== "object" || map === null) {
                push("core", `/metadata/${field}`, `${field} must be a map`);
                continue;
            }
            for (const [k, v] of Object.entries(map as Record<string, unknown>)) {
                if (!qualifiedKeyOk(k)) push("core", `/metadata/${field}/${k}`, `invalid ${field} key ${JSON.stringify(k)}`);
                if (typeof v !== "string" || (valueRule && (v.length > 63 || (v !== "" && !QUALIFIED_NAME.test(v))))) push("core", `/metadata/${field}/${k}`, `invalid ${field} value ${JSON.stringify(v)}`);
            }
        }
    }

    /** core/v1 Secret and ConfigMap: known top-level fields and valid keys (IsConfigMapKey). */
    private validateCore(object: Record<string, unknown>, push: (source: string, p: string, m: string) => void): void {
        const allowed = object.kind === "Secret" ? ["apiVersion", "kind", "metadata", "type", "data", "stringData", "immutable"] : ["apiVersion", "kind", "metadata", "data", "binaryData", "immutable"];
        for (const k of Object.keys(object)) if (!allowed.includes(k)) push("core", `/${k}`, `unknown field ${JSON.stringify(k)}`);
        if (object.kind === "Secret" && object.type !== undefined && typeof object.type !== "string") push("core", "/type", "type must be a string");
        for (const field of ["data", "stringData", "binaryData"]) {
            const map = object[field];
            if (map === undefined) continue;
            if (typeof map !== "object" || map === null) {
                push("core", `/${field}`, `${field} must be a map`);
                continue;
            }
            for (const [k, v] of Object.entries(map as Record<string, unknown>)) {
                if (k.length > 253 || !CONFIG_KEY.test(k)) push("core", `/${field}/${k}`, `invalid key ${JSON.stringify(k)}: must consist of alphanumerics, '-', '_' or '.'`);
                if (typeof v !== "string") push("core", `/${field}/${k}`, "value must be a string");
            }
        }
    }
}

let shared: CrdValidator | undefined;

/** The validator for {@link DEFAULT_CRD_FILES}, loaded once per process. */
export function crdValidator(): CrdValidator {
    shared ??= new CrdValidator();
    return shared;
}

/** Throws with every violation when `object` would be rejected. */
export function assertValid(object: unknown): void {
    const violations = crdValidator().validate(object);
    if (violations.length > 0) {
        throw new Error(`object rejected:\n${violations.map((v) => `  ${v.object} ${v.path} [${v.source}]: ${v.message}`).join("\n")}`);
    }
}
