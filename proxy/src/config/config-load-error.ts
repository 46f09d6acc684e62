/** A config (or what it points to) that cannot be served. Each line names the file, object or field. */
export class ConfigLoadError extends Error {
  override readonly name = "ConfigLoadError";
  constructor(readonly problems: readonly string[]) {
    super(problems.join("\n"));
  }
}
