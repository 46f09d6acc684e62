/**
 * The seam through which objects rendered elsewhere reach the real API server.
 *
 * The tier applies, in this order:
 *  1. every `.yaml`, `.yml` and `.json` file under `test/control-plane/fixtures/` (one source per file;
 *     multi-document YAML and JSON arrays or `List`s are fine), and
 *  2. every {@link ObjectSet} that {@link renderedObjects} returns: today, every scenario of
 *     `test/support/scenarios.ts` (each example and each option case of the component, rendered
 *     under Pulumi mocks). A scenario added there is applied here with no change to this tier.
 *
 * Namespaces the objects use are created first, so the objects need not include them. Every object
 * must be accepted and read back as given (a Secret's `stringData` is compared as `data`); fields
 * the server adds (defaults, metadata) are allowed.
 */
import type { KubeObject } from "./kubectl";
import { renderScenario, scenarioIds } from "../support/scenarios";

export interface ObjectSet {
  /** Where the objects come from, shown in test names, e.g. `scenario example-mistral`. */
  source: string;
  objects: KubeObject[];
}

/** The objects of every component scenario, one set per scenario, rendered one after another. */
export async function renderedObjects(): Promise<ObjectSet[]> {
  const sets: ObjectSet[] = [];
  // renderScenario serialises on Pulumi's process-global mocks anyway; sequential keeps the order stable.
  for (const id of scenarioIds()) {
    const { objects } = await renderScenario(id);
    sets.push({ source: `scenario ${id}`, objects });
  }
  return sets;
}
