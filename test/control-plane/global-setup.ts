/**
 * Jest global setup of the control-plane tier: builds (or reuses) the binaries, starts etcd and
 * kube-apiserver, installs the CRDs, and hands the connection details to the test workers.
 *
 * If the binaries cannot be built the tier fails; only OCP_SKIP_CONTROL_PLANE=1, for a developer
 * machine without Go, skips it.
 */
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { startControlPlane, stopControlPlane, type Binaries } from "./control-plane";
import { installCrds } from "./crds";
import { STATE_ENV } from "./kubectl";
import { SKIP_ENV, skipControlPlane } from "./skip";

export const BUILD_SCRIPT = path.resolve(__dirname, "../../controlplane/build.sh");

/** Runs controlplane/build.sh (its progress goes to our stderr) and reads the NAME=PATH lines it prints. */
function buildBinaries(): Binaries {
  const result = spawnSync("bash", [BUILD_SCRIPT], { stdio: ["ignore", "pipe", "inherit"], encoding: "utf8" });
  if (result.error || result.status !== 0) {
    throw new Error(
      `${BUILD_SCRIPT} failed (${result.error?.message ?? `exit ${result.status}`}): the control-plane tier needs ` +
        `Go and the Go module proxy to build etcd, kube-apiserver, kubectl and pulumi. Set ${SKIP_ENV}=1 to skip this tier locally.`,
    );
  }
  const paths = Object.fromEntries(
    result.stdout.split("\n").filter((l) => l.includes("=")).map((l) => [l.slice(0, l.indexOf("=")), l.slice(l.indexOf("=") + 1)]),
  );
  const names: (keyof Binaries)[] = ["etcd", "kube-apiserver", "kubectl", "pulumi", "pulumi-resource-kubernetes"];
  for (const name of names) {
    const file = paths[name];
    if (!file || !fs.existsSync(file)) throw new Error(`${BUILD_SCRIPT} did not produce ${name} (got ${file})`);
  }
  return Object.fromEntries(names.map((name) => [name, paths[name]])) as unknown as Binaries;
}

export default async function globalSetup(): Promise<void> {
  if (skipControlPlane()) {
    console.warn(`\n${SKIP_ENV}=1: the control-plane tier is skipped.`);
    return;
  }
  const started = Date.now();
  const info = await startControlPlane(buildBinaries());
  try {
    await installCrds(info);
  } catch (err) {
    await stopControlPlane(info);
    throw err;
  }
  const stateFile = path.join(info.workDir, "state.json");
  fs.writeFileSync(stateFile, JSON.stringify(info));
  // Workers are started after the global setup and inherit its environment.
  process.env[STATE_ENV] = stateFile;
  console.log(`\ncontrol plane ready at ${info.server} in ${((Date.now() - started) / 1000).toFixed(1)}s`);
}
