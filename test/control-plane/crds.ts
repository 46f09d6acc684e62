/**
 * The CRDs this tier installs, read at test time from `../shared/crds/` beside the repository.
 *
 * One consistent set: kgateway v2.1.x and the Gateway API v1.4.0 *standard* channel, which is what
 * the component targets. kgateway's `gateway-crds.yaml` is the experimental-channel bundle; its
 * HTTPRoute and BackendTLSPolicy would replace the standard ones, so it is not installed.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { parseAllDocuments } from "yaml";
import type { ControlPlaneInfo } from "./control-plane";
import { FIELD_MANAGER, kubectlOk } from "./kubectl";

export const CRD_DIR = path.resolve(__dirname, "../../../shared/crds");

export const CRD_FILES = [
  "kgateway/v2.1.x/gateway.kgateway.dev_backends.yaml",
  "kgateway/v2.1.x/gateway.kgateway.dev_trafficpolicies.yaml",
  "kgateway/v2.1.x/gateway.kgateway.dev_backendconfigpolicies.yaml",
  "gateway-api/v1.4.0/standard/gateway.networking.k8s.io_httproutes.yaml",
  "gateway-api/v1.4.0/standard/gateway.networking.k8s.io_backendtlspolicies.yaml",
].map((file) => path.join(CRD_DIR, file));

/** `metadata.name` of every CustomResourceDefinition in the files, e.g. `backends.gateway.kgateway.dev`. */
export function crdNames(files: string[]): string[] {
  return files.flatMap((file) =>
    parseAllDocuments(fs.readFileSync(file, "utf8"))
      .map((doc) => doc.toJS() as { kind?: string; metadata?: { name?: string } } | null)
      .filter((o) => o?.kind === "CustomResourceDefinition")
      .map((o) => o!.metadata!.name!),
  );
}

/** Applies the CRDs server-side and waits until the API server reports each one Established. */
export async function installCrds(info: ControlPlaneInfo, files = CRD_FILES): Promise<string[]> {
  const missing = files.filter((f) => !fs.existsSync(f));
  if (missing.length > 0) throw new Error(`CRD files not found (shared/ must sit beside the repo):\n${missing.join("\n")}`);
  await kubectlOk(info, ["apply", "--server-side", `--field-manager=${FIELD_MANAGER}`, ...files.flatMap((f) => ["-f", f])]);
  const names = crdNames(files);
  await kubectlOk(info, ["wait", "--for=condition=Established", "--timeout=120s", ...names.map((n) => `crd/${n}`)]);
  return names;
}
