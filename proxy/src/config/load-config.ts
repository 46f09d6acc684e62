/**
 * Reads a config from a `--config` file (YAML or JSON ProxyConfig) or from `--manifests` (YAML files or
 * folders of Kubernetes objects, multi-document), validating it. Every error names the file and, for
 * manifests, the object and the field.
 */
import { readFileSync, readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { validateProxyConfig, type ProxyConfig } from "./schema";
import { ConfigLoadError } from "./config-load-error";
import { parseYamlFile } from "./parse-yaml";
import { fromGatewayObjects, type FromGatewayObjectsOptions } from "../translate/from-gateway-objects";
import { formatTranslationProblem } from "../translate/format-problem";
import type { ManifestValues } from "../translate/manifest-values";

export type ConfigSource = { configFile: string } | { manifests: readonly string[]; translate?: FromGatewayObjectsOptions };

export interface LoadedConfig {
  config: ProxyConfig;
  /** Credential values from Secrets in the manifests (memory only), or null for `--config`. */
  values: ManifestValues | null;
  /** Non-fatal findings (for example an ignored `retry`), to log. */
  warnings: string[];
  /** Files the config was read from (watched), and folders whose entries were read. */
  files: string[];
  folders: string[];
}

const MANIFEST_FILE = /\.(ya?ml|json)$/i;

export function loadConfig(source: ConfigSource): LoadedConfig {
  if ("configFile" in source) return loadConfigFile(source.configFile);
  return loadManifests(source.manifests, source.translate ?? {});
}

function loadConfigFile(file: string): LoadedConfig {
  const warnings: string[] = [];
  const { documents } = parseYamlFile(file, readText(file), "YAML or JSON", warnings);
  if (documents.length > 1) throw new ConfigLoadError([`${file}: holds ${documents.length} YAML documents: a ProxyConfig is one document`]);
  const document = documents[0] ?? null;
  const result = validateProxyConfig(document);
  if (!result.ok) throw new ConfigLoadError(result.issues.map((i) => `${file}: ProxyConfig: ${i.field ? `\`${i.field}\` ` : ""}${i.message}`));
  return { config: result.config, values: null, warnings, files: [file], folders: [] };
}

function loadManifests(paths: readonly string[], options: FromGatewayObjectsOptions): LoadedConfig {
  const files: string[] = [];
  const folders: string[] = [];
  for (const path of paths) {
    let isDir: boolean;
    try {
      isDir = statSync(path).isDirectory();
    } catch (err) {
      throw new ConfigLoadError([`${path}: cannot read (${(err as NodeJS.ErrnoException).code ?? "error"})`]);
    }
    if (!isDir) {
      files.push(path);
      continue;
    }
    folders.push(path);
    let entries: string[];
    try {
      entries = readdirSync(path);
    } catch (err) {
      throw new ConfigLoadError([`${path}: cannot list (${(err as NodeJS.ErrnoException).code ?? "error"})`]);
    }
    // Entries starting with `.` are skipped, which also skips Kubernetes' `..data` and `..<timestamp>` folders.
    for (const entry of entries.sort()) {
      if (entry.startsWith(".") || !MANIFEST_FILE.test(entry)) continue;
      const full = join(path, entry);
      try {
        if (statSync(full).isFile()) files.push(full);
      } catch {
        // vanished between readdir and stat: the watcher will reload again
      }
    }
  }

  const objects: unknown[] = [];
  const origin = new Map<string, string>();
  const yamlWarnings: string[] = [];
  for (const file of files) {
    const { documents } = parseYamlFile(file, readText(file), "YAML", yamlWarnings);
    // An empty file is more likely one caught while being written than a wish to serve nothing: refused,
    // so a reload keeps the last good config. An explicit `kind: List` with no items is an object, and loads.
    if (documents.every((d) => d === null || d === undefined)) {
      throw new ConfigLoadError([`${file}: contains no Kubernetes objects (it is empty, or holds only comments): add the objects, or remove the file`]);
    }
    for (const value of documents) {
      const items = isList(value) ? value.items : [value];
      for (const item of items) {
        objects.push(item);
        const id = identity(item, options.defaultNamespace ?? "default");
        if (id && !origin.has(id)) origin.set(id, file);
      }
    }
  }

  const result = fromGatewayObjects(objects, options);
  // Credential errors (found later, when the proxy reads them) name the manifest file too.
  for (const o of result.values.origins) o.file = origin.get(`${o.kind}/${o.namespace}/${o.name}`);
  const where = (p: { kind: string; namespace: string; name: string }): string => origin.get(`${p.kind}/${p.namespace}/${p.name}`) ?? paths.join(", ");
  const errors = result.problems.filter((p) => p.severity === "error").map((p) => `${where(p)}: ${formatTranslationProblem(p)}`);
  if (errors.length > 0) throw new ConfigLoadError(errors);
  const warnings = [...yamlWarnings, ...result.problems.filter((p) => p.severity === "warning").map((p) => `${where(p)}: ${formatTranslationProblem(p)}`)];
  return { config: result.config, values: result.values, warnings, files, folders };
}

function readText(file: string): string {
  try {
    return readFileSync(file, "utf8");
  } catch (err) {
    throw new ConfigLoadError([`${file}: cannot read (${(err as NodeJS.ErrnoException).code ?? "error"})`]);
  }
}

function isList(v: unknown): v is { items: unknown[] } {
  return typeof v === "object" && v !== null && (v as { kind?: unknown }).kind === "List" && Array.isArray((v as { items?: unknown }).items);
}

function identity(item: unknown, defaultNamespace: string): string | undefined {
  if (typeof item !== "object" || item === null) return undefined;
  const o = item as { kind?: unknown; metadata?: { name?: unknown; namespace?: unknown } };
  if (typeof o.kind !== "string" || typeof o.metadata?.name !== "string") return undefined;
  const ns = typeof o.metadata.namespace === "string" ? o.metadata.namespace : defaultNamespace;
  return `${o.kind}/${ns}/${o.metadata.name}`;
}
