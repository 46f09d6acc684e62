/** A config (or what it points to) that cannot be served. Each line names the file, object or field. */
export class ConfigLoadError extends Error {
  override readonly name = "ConfigLoadError";
  constructor(
    readonly problems: readonly string[],
    /** Files read, or tried, before the problems were found (the credential files), so a fix to them is noticed. */
    readonly files: readonly string[] = [],
  ) {
    super(problems.join("\n"));
  }
}
