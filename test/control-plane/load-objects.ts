/** Collects the objects the tier applies: fixture files plus {@link renderedObjects}. */
import * as fs from "node:fs";
import * as path from "node:path";
import { parseAllDocuments } from "yaml";
import type { KubeObject } from "./kubectl";
import { renderedObjects, type ObjectSet } from "./objects";

export const FIXTURES_DIR = path.join(__dirname, "fixtures");

function isKubeObject(value: unknown): value is KubeObject {
  const o = value as Partial<KubeObject> | null;
  return typeof o?.apiVersion === "string" && typeof o.kind === "string" && typeof o.metadata?.name === "string";
}

/** Flattens `List`s and arrays, and insists that every item is an object with apiVersion, kind and name. */
function toObjects(source: string, values: unknown[]): KubeObject[] {
  return values.flatMap((value, index): KubeObject[] => {
    if (value === null || value === undefined) return []; // an empty YAML document
    if (Array.isArray(value)) return toObjects(source, value);
    const list = value as { kind?: unknown; items?: unknown };
    if (typeof list.kind === "string" && list.kind.endsWith("List") && Array.isArray(list.items)) {
      return toObjects(source, list.items);
    }
    if (!isKubeObject(value)) {
      throw new Error(`${source}: item ${index} is not a Kubernetes object (needs apiVersion, kind, metadata.name)`);
    }
    return [value];
  });
}

export function readFixtureFiles(dir = FIXTURES_DIR): ObjectSet[] {
  if (!fs.existsSync(dir)) return [];
  return fs
    .readdirSync(dir, { recursive: true, encoding: "utf8" })
    .filter((file) => /\.(ya?ml|json)$/.test(file))
    .sort()
    .map((file) => {
      const text = fs.readFileSync(path.join(dir, file), "utf8");
      const source = `fixtures/${file}`;
      const values = file.endsWith(".json")
        ? [JSON.parse(text) as unknown]
        : parseAllDocuments(text).map((doc) => {
            if (doc.errors.length > 0) throw new Error(`${source}: ${doc.errors[0]!.message}`);
            return doc.toJS() as unknown;
          });
      return { source, objects: toObjects(source, values) };
    });
}

export async function allObjectSets(): Promise<ObjectSet[]> {
  const rendered = (await renderedObjects()).map((set) => ({ ...set, objects: toObjects(set.source, set.objects) }));
  const sets = [...readFixtureFiles(), ...rendered];
  if (sets.every((set) => set.objects.length === 0)) {
    throw new Error(`no objects to apply: add fixtures to ${FIXTURES_DIR} or return them from objects.ts`);
  }
  return sets;
}

/** What the object should read back as: a Secret's `stringData` is stored base64-encoded in `data`. */
export function expectedReadBack(object: KubeObject): KubeObject {
  if (object.apiVersion !== "v1" || object.kind !== "Secret" || object.stringData === undefined) return object;
  const { stringData, ...rest } = object as KubeObject & { stringData: Record<string, string> };
  const data = { ...(rest.data as Record<string, string> | undefined) };
  for (const [key, value] of Object.entries(stringData)) data[key] = Buffer.from(value, "utf8").toString("base64");
  return { ...rest, data };
}
