/**
 * Credential values read from Kubernetes objects (`--manifests`): held in memory only.
 * `toJSON` and `util.inspect` print the ids, never a value, so a stray log of the object is harmless.
 */
const INSPECT = Symbol.for("nodejs.util.inspect.custom");

export class ManifestValues {
  readonly #values = new Map<string, string>();

  /** Records a value under an id such as `Secret/<namespace>/<name>/<key>`. */
  set(id: string, value: string): void {
    this.#values.set(id, value);
  }

  get(id: string): string | undefined {
    return this.#values.get(id);
  }

  has(id: string): boolean {
    return this.#values.has(id);
  }

  get ids(): string[] {
    return [...this.#values.keys()];
  }

  toJSON(): { ids: string[] } {
    return { ids: this.ids };
  }

  [INSPECT](): string {
    return `ManifestValues(${this.ids.join(", ")})`;
  }
}

/** A Secret key's value as kgateway reads it: surrounding whitespace and a leading `Bearer ` removed. */
export function normalizeKey(raw: string): string {
  const trimmed = raw.trim();
  return /^bearer(?:\s|$)/i.test(trimmed) ? trimmed.slice(6).trim() : trimmed;
}
