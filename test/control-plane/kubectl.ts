/**
 * Runs the kubectl built from the same module graph as the API server against the tier's cluster.
 */
import { spawn } from "node:child_process";
import * as fs from "node:fs";
import type { ControlPlaneInfo } from "./control-plane";

/** Set by the global setup: path of a JSON file holding the {@link ControlPlaneInfo}. */
export const STATE_ENV = "OCP_CONTROL_PLANE_STATE";

/** Field manager of every server-side apply this tier makes. */
export const FIELD_MANAGER = "ocp-control-plane-test";

export interface KubeObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; [key: string]: unknown };
  [key: string]: unknown;
}

export interface KubectlResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

export function controlPlaneInfo(): ControlPlaneInfo {
  const file = process.env[STATE_ENV];
  if (!file) throw new Error(`${STATE_ENV} is not set: run this tier through test/control-plane/jest.config.js`);
  return JSON.parse(fs.readFileSync(file, "utf8")) as ControlPlaneInfo;
}

export function kubectl(info: ControlPlaneInfo, args: string[], input?: string): Promise<KubectlResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      info.binaries.kubectl,
      [`--kubeconfig=${info.kubeconfig}`, `--cache-dir=${info.kubectlCacheDir}`, ...args],
      { stdio: ["pipe", "pipe", "pipe"] },
    );
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (d: string) => (stdout += d));
    child.stderr.setEncoding("utf8").on("data", (d: string) => (stderr += d));
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, stdout, stderr }));
    child.stdin.end(input ?? "");
  });
}

/** Like {@link kubectl}, but a non-zero exit is an error carrying kubectl's stderr. */
export async function kubectlOk(info: ControlPlaneInfo, args: string[], input?: string): Promise<string> {
  const result = await kubectl(info, args, input);
  if (result.code !== 0) {
    throw new Error(`kubectl ${args.join(" ")} exited ${result.code}:\n${result.stderr}`);
  }
  return result.stdout;
}

/** Server-side apply of one object, with strict field validation (kubectl's default). */
export function applyServerSide(info: ControlPlaneInfo, object: KubeObject): Promise<KubectlResult> {
  return kubectl(
    info,
    ["apply", "--server-side", `--field-manager=${FIELD_MANAGER}`, "--validate=strict", "-o", "json", "-f", "-"],
    JSON.stringify(object),
  );
}

/**
 * The object as a kubectl argument with its exact group and version, e.g.
 * `Backend.v1alpha1.gateway.kgateway.dev/mistral`; core objects are `Kind/name` (`Secret/x`).
 */
export function resourceRef(object: KubeObject): string {
  const slash = object.apiVersion.indexOf("/");
  if (slash === -1) return `${object.kind}/${object.metadata.name}`;
  const group = object.apiVersion.slice(0, slash);
  const version = object.apiVersion.slice(slash + 1);
  return `${object.kind}.${version}.${group}/${object.metadata.name}`;
}

export function namespaceArgs(object: KubeObject): string[] {
  return object.metadata.namespace ? ["--namespace", object.metadata.namespace] : [];
}

/** Creates (or keeps) a namespace; objects of the tier need not carry their own. */
export async function ensureNamespace(info: ControlPlaneInfo, name: string): Promise<void> {
  const result = await applyServerSide(info, { apiVersion: "v1", kind: "Namespace", metadata: { name } });
  if (result.code !== 0) throw new Error(`could not create namespace ${name}:\n${result.stderr}`);
}

/** Reads an object back from the API server; `undefined` if it does not exist. */
export async function getObject(info: ControlPlaneInfo, object: KubeObject): Promise<KubeObject | undefined> {
  const result = await kubectl(info, [
    "get", resourceRef(object), ...namespaceArgs(object), "--show-managed-fields", "-o", "json",
  ]);
  if (result.code === 0) return JSON.parse(result.stdout) as KubeObject;
  if (/\(NotFound\)/.test(result.stderr)) return undefined;
  throw new Error(`kubectl get ${resourceRef(object)} exited ${result.code}:\n${result.stderr}`);
}
