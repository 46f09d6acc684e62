/**
 * The seam through which objects rendered elsewhere reach the real API server.
 *
 * The tier applies, in this order:
 *  1. every `.yaml`, `.yml` and `.json` file under `test/control-plane/fixtures/` (one source per file;
 *     multi-document YAML and JSON arrays or `List`s are fine), and
 *  2. every {@link ObjectSet} that {@link renderedObjects} returns.
 *
 * To feed the component's output in, make {@link renderedObjects} return what the component
 * renders for each example or test case, e.g.
 *
 * ```ts
 * import { renderExample } from "../helpers/render"; // whatever the component tests expose
 * export async function renderedObjects(): Promise<ObjectSet[]> {
 *   return [{ source: "examples/mistral", objects: await renderExample("mistral") }];
 * }
 * ```
 *
 * or write rendered YAML into `fixtures/`. Namespaces the objects use are created first, so the
 * objects need not include them. Every object must be accepted and read back as given (a Secret's
 * `stringData` is compared as `data`); fields the server adds (defaults, metadata) are allowed.
 */
import type { KubeObject } from "./kubectl";

export interface ObjectSet {
  /** Where the objects come from, shown in test names, e.g. `examples/mistral`. */
  source: string;
  objects: KubeObject[];
}

/** Objects rendered by the component's tests and examples. None are wired in yet. */
export function renderedObjects(): Promise<ObjectSet[]> {
  return Promise.resolve([]);
}
