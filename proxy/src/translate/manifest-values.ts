/**
 * Credential values read from Kubernetes objects (`--manifests`): held in memory only.
 * `toJSON` and `util.inspect` print the ids, never a value, so a stray log of the object is harmless.
 */
const INSPECT = Symbol.for("nodejs.util.inspect.custom");

/** The object and field a credential of the translated config comes from, so its errors can name them. */
export interface CredentialOrigin {
  kind: string;
  namespace: string;
  name: string;
  /** Dotted path inside the object, for example `spec.ai.llm.openai.authToken.secretRef.name`. */
  field: string;
  /** The manifest file holding the object, when known (set by the loader). */
  file?: string;
}

export class ManifestValues {
  readonly #values = new Map<string, string>();
  readonly #origins = new Map<string, CredentialOrigin>();

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

  /**
   * Records where a credential of the translated config comes from: `backend` is the config's backend
   * name (`<namespace>/<name>`), `credential` its field there (`auth.key`, `tls.caCertificates[0]`).
   */
  setOrigin(backend: string, credential: string, origin: CredentialOrigin): void {
    this.#origins.set(`${backend}\0${credential}`, origin);
  }

  origin(backend: string, credential: string): CredentialOrigin | undefined {
    return this.#origins.get(`${backend}\0${credential}`);
  }

  get origins(): CredentialOrigin[] {
    return [...this.#origins.values()];
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
