/**
 * Parses a config or manifest file (YAML, or JSON, which is YAML) without ever quoting its text.
 *
 * The `yaml` library's messages embed the offending source (`Not a YAML token: <text>`,
 * `Block scalar header includes extra characters: |<text>`, `Invalid escape sequence <text>`), and in
 * a Secret manifest that text is the key. So a problem names the file, the line and column, the
 * library's error code and a fixed description of that code, never the message.
 */
import { LineCounter, isAlias, parseAllDocuments, visit, type Alias, type Document, type ErrorCode, type YAMLError } from "yaml";
import { ConfigLoadError } from "./config-load-error";

export interface ParsedYaml {
  /** One value per document (`null` for an empty one), in order. */
  documents: unknown[];
}

/** Fixed descriptions of the `yaml` library's error codes: what is wrong and what usually fixes it. */
const DESCRIPTIONS: Record<ErrorCode, string> = {
  ALIAS_PROPS: "an alias (`*name`) cannot have an anchor or a tag",
  BAD_ALIAS: "invalid alias or anchor name",
  BAD_COLLECTION_TYPE: "the tag does not fit this kind of value",
  BAD_DIRECTIVE: "invalid `%` directive",
  BAD_DQ_ESCAPE: "invalid escape sequence in a double-quoted string: use single quotes, or escape the backslash as `\\\\`",
  BAD_INDENT: "bad indentation",
  BAD_PROP_ORDER: "an anchor or a tag is not in its place",
  BAD_SCALAR_START: "a plain value cannot start with this character: quote the value",
  BLOCK_AS_IMPLICIT_KEY: "a block value cannot be a key",
  BLOCK_IN_FLOW: "block syntax inside a flow collection (`[...]` or `{...}`)",
  DUPLICATE_KEY: "duplicate key",
  IMPOSSIBLE: "the parser could not read this",
  KEY_OVER_1024_CHARS: "a key longer than 1024 characters",
  MISSING_CHAR: "a character is missing (a closing quote or bracket, a space after `:` or `,`, ...)",
  MULTILINE_IMPLICIT_KEY: "a key spans several lines (often a missing `:` or a bad indentation)",
  MULTIPLE_ANCHORS: "a value has more than one anchor",
  MULTIPLE_DOCS: "more than one document",
  MULTIPLE_TAGS: "a value has more than one tag",
  NON_STRING_KEY: "a key that is not a string",
  RESOURCE_EXHAUSTION: "nested too deeply",
  TAB_AS_INDENT: "a tab used as indentation: indent with spaces",
  TAG_RESOLVE_FAILED: "unknown tag (`!name`): quote a value that starts with `!`",
  UNEXPECTED_TOKEN: "unexpected text (for example text after a block scalar indicator `|` or `>` on its line, or an unclosed bracket): quote the value, or put it on the next line, indented",
};

/**
 * Every document of `text`, or a {@link ConfigLoadError} naming `file`, the line and the column of
 * each problem (`what` says what the file should be, for example `YAML`). Warnings (an unknown tag, read
 * as a string) are added to `warnings` in the same form; the library itself prints nothing (it would
 * write them to stderr with the source line, at every load).
 */
export function parseYamlFile(file: string, text: string, what: string, warnings: string[]): ParsedYaml {
  const lineCounter = new LineCounter();
  const at = (offset: number): string => {
    const { line, col } = lineCounter.linePos(offset);
    return `line ${line}, column ${col}`;
  };
  const describe = (e: YAMLError): string => `${at(e.pos[0])}: ${DESCRIPTIONS[e.code] ?? "cannot be read"} (${e.code})`;
  let docs: ReturnType<typeof parseAllDocuments>;
  try {
    docs = parseAllDocuments(text, { lineCounter, prettyErrors: false, logLevel: "error" });
  } catch (err) {
    // Never the error's message: it may quote the source.
    throw new ConfigLoadError([`${file}: not valid ${what}: the parser failed (${err instanceof Error ? err.name : "error"})`]);
  }
  const list = Array.isArray(docs) ? docs : [docs];
  const errors = list.flatMap((d) => d.errors);
  if (errors.length > 0) {
    const shown = errors.slice(0, 3).map((e) => `${file}: not valid ${what} at ${describe(e)}`);
    if (errors.length > 3) shown.push(`${file}: ${errors.length - 3} more YAML problems after these`);
    throw new ConfigLoadError(shown);
  }
  for (const w of list.flatMap((d) => d.warnings)) warnings.push(`${file}: warning: YAML at ${describe(w)}`);
  return { documents: list.map((d) => toJS(d, file, what, at)) };
}

/** A document's value; an alias without its anchor (`key: *text`) is a problem naming its line, not a crash quoting it. */
function toJS(doc: Document, file: string, what: string, at: (offset: number) => string): unknown {
  try {
    return doc.toJS();
  } catch (err) {
    let unresolved: Alias | undefined;
    visit(doc, {
      Alias: (_key, node) => {
        if (isAlias(node) && node.resolve(doc) === undefined) {
          unresolved = node;
          return visit.BREAK;
        }
        return undefined;
      },
    });
    const where = unresolved?.range ? ` at ${at(unresolved.range[0])}` : "";
    const why =
      unresolved !== undefined
        ? "an alias (`*name`) refers to no anchor (`&name`) set before it: quote a value that starts with `*`"
        : `cannot be converted (${err instanceof Error ? err.name : "error"})`;
    // Never the error's message: it quotes the alias, which may be a key.
    throw new ConfigLoadError([`${file}: not valid ${what}${where}: ${why}`]);
  }
}
