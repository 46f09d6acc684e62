/**
 * Dot segments in a request path, as the proxy refuses them on incoming requests and the component in
 * a Backend's `path`: `.` or `..`, plain or percent-encoded (`%2e`), alone or before a `;` parameter
 * (`..;/`, `.;x`, `%2e%2e%3b`), which servlet containers (Tomcat, Jetty, Spring) strip before resolving
 * the dots. Pure: part of the translate subpath.
 */
const ENCODED_DOT = /%2e/gi;
const ENCODED_SEMICOLON = /%3b/gi;

/** Whether `path` holds a segment that servers would resolve as `.` or `..`. */
export function hasDotSegment(path: string): boolean {
  const decoded = path.replace(ENCODED_DOT, ".").replace(ENCODED_SEMICOLON, ";");
  for (const segment of decoded.split("/")) {
    const semicolon = segment.indexOf(";");
    const name = semicolon < 0 ? segment : segment.slice(0, semicolon);
    if (name === "." || name === "..") return true;
  }
  return false;
}
