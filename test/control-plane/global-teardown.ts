/** Jest global teardown of the control-plane tier: stops kube-apiserver and etcd, removes their files. */
import * as fs from "node:fs";
import { stopControlPlane, type ControlPlaneInfo } from "./control-plane";
import { STATE_ENV } from "./kubectl";

export default async function globalTeardown(): Promise<void> {
  const stateFile = process.env[STATE_ENV];
  if (!stateFile || !fs.existsSync(stateFile)) return;
  await stopControlPlane(JSON.parse(fs.readFileSync(stateFile, "utf8")) as ControlPlaneInfo);
  delete process.env[STATE_ENV];
}
