/**
 * Starts etcd and kube-apiserver on loopback, for this tier only, and stops them again.
 *
 * Everything the API server needs is made at start in a private temporary folder: a self-signed
 * serving certificate, a static token, a service-account signing key. Each process runs in its own
 * process group under a small watchdog that ends it if the jest process that started it goes away,
 * so not even a killed test run leaves a server behind.
 */
import { spawn, execFileSync, type ChildProcess } from "node:child_process";
import { generateKeyPairSync, randomBytes } from "node:crypto";
import * as fs from "node:fs";
import * as https from "node:https";
import * as net from "node:net";
import * as os from "node:os";
import * as path from "node:path";

/** Paths of the binaries, as printed by `controlplane/build.sh`. */
export interface Binaries {
  etcd: string;
  "kube-apiserver": string;
  kubectl: string;
  pulumi: string;
  "pulumi-resource-kubernetes": string;
}

/** What a test needs to reach the running API server; serialisable, handed to workers as JSON. */
export interface ControlPlaneInfo {
  /** `https://127.0.0.1:<port>` */
  server: string;
  kubeconfig: string;
  binaries: Binaries;
  /** Folder for kubectl's discovery cache, so nothing is written under `$HOME`. */
  kubectlCacheDir: string;
  workDir: string;
  /** Process-group ids, for the teardown. */
  processGroups: number[];
}

const LOOPBACK = "127.0.0.1";
const READY_TIMEOUT_MS = 120_000;

/**
 * Runs "$@" and ends it when the jest process that started this script is gone, even if jest was
 * killed outright. Jest's death shows as this script being re-parented (checking the pid itself
 * would miss a killed jest that stays a zombie). An API server whose etcd is gone can take long to
 * shut down, so TERM is followed by KILL after 10 s.
 */
const WATCHDOG = `
parent=$PPID
"$@" &
child=$!
stop() {
  kill -TERM "$child" 2>/dev/null
  for _ in $(seq 20); do kill -0 "$child" 2>/dev/null || break; sleep 0.5; done
  kill -KILL "$child" 2>/dev/null
}
trap 'stop' TERM INT
while read -r _ _ _ ppid _ </proc/$$/stat && [ "$ppid" = "$parent" ] && kill -0 "$child" 2>/dev/null; do
  sleep 0.5
done
stop
wait "$child"
`;

interface Started {
  name: string;
  child: ChildProcess;
  logFile: string;
  exited: Promise<number | null>;
}

/** Reserves `count` distinct free loopback ports (all held open at once, then released). */
async function freePorts(count: number): Promise<number[]> {
  const servers = await Promise.all(
    Array.from({ length: count }, () =>
      new Promise<net.Server>((resolve, reject) => {
        const server = net.createServer();
        server.once("error", reject);
        server.listen(0, LOOPBACK, () => resolve(server));
      }),
    ),
  );
  const ports = servers.map((s) => (s.address() as net.AddressInfo).port);
  await Promise.all(servers.map((s) => new Promise((resolve) => s.close(resolve))));
  return ports;
}

function startProcess(workDir: string, name: string, binary: string, args: string[]): Started {
  const logFile = path.join(workDir, `${name}.log`);
  const log = fs.openSync(logFile, "a");
  const child = spawn("bash", ["-c", WATCHDOG, `${name}-watchdog`, binary, ...args], {
    cwd: workDir,
    detached: true, // its own process group, so the teardown can end the whole group
    stdio: ["ignore", log, log],
  });
  fs.closeSync(log);
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  return { name, child, logFile, exited };
}

/** Each watchdog leads its own process group (spawned detached), so its pid is the group id. */
function processGroups(started: Started[]): number[] {
  return started.map((p) => p.child.pid).filter((pid): pid is number => pid !== undefined);
}

function tail(file: string, lines = 40): string {
  try {
    return fs.readFileSync(file, "utf8").trimEnd().split("\n").slice(-lines).join("\n");
  } catch {
    return "(no log)";
  }
}

function getReadyz(server: string, ca: string, token: string): Promise<boolean> {
  return new Promise((resolve) => {
    const req = https.get(
      `${server}/readyz`,
      { ca, headers: { authorization: `Bearer ${token}` }, timeout: 5_000 },
      (res) => {
        res.resume();
        res.on("end", () => resolve(res.statusCode === 200));
      },
    );
    req.on("timeout", () => req.destroy());
    req.on("error", () => resolve(false));
  });
}

/** Waits for `/readyz`; fails at once, with the process's log, if etcd or the API server exits. */
async function waitReady(server: string, ca: string, token: string, processes: Started[]): Promise<void> {
  const deadline = Date.now() + READY_TIMEOUT_MS;
  let exitedEarly: Started | undefined;
  for (const p of processes) void p.exited.then(() => (exitedEarly ??= p));
  while (Date.now() < deadline) {
    if (exitedEarly) {
      throw new Error(`${exitedEarly.name} exited during start-up; its log ends:\n${tail(exitedEarly.logFile)}`);
    }
    if (await getReadyz(server, ca, token)) return;
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  const logs = processes.map((p) => `--- ${p.name}:\n${tail(p.logFile)}`).join("\n");
  throw new Error(`kube-apiserver was not ready within ${READY_TIMEOUT_MS / 1000}s at ${server}/readyz\n${logs}`);
}

function writeSecrets(workDir: string): { cert: string; key: string; token: string } {
  const cert = path.join(workDir, "serving.crt");
  const key = path.join(workDir, "serving.key");
  execFileSync(
    "openssl",
    ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "1",
      "-subj", "/CN=ocp-control-plane-test", "-addext", `subjectAltName=IP:${LOOPBACK},DNS:localhost`,
      "-keyout", key, "-out", cert],
    { stdio: ["ignore", "ignore", "pipe"] },
  );

  const serviceAccount = generateKeyPairSync("ec", { namedCurve: "P-256" });
  fs.writeFileSync(path.join(workDir, "sa.key"),
    serviceAccount.privateKey.export({ type: "pkcs8", format: "pem" }), { mode: 0o600 });
  fs.writeFileSync(path.join(workDir, "sa.pub"), serviceAccount.publicKey.export({ type: "spki", format: "pem" }));

  // A static token in system:masters: RBAC stays on, and this one user may do anything.
  const token = randomBytes(24).toString("hex");
  fs.writeFileSync(path.join(workDir, "tokens.csv"), `${token},ocp-test-admin,ocp-test-admin,"system:masters"\n`,
    { mode: 0o600 });
  return { cert, key, token };
}

function writeKubeconfig(workDir: string, server: string, cert: string, token: string): string {
  const kubeconfig = path.join(workDir, "kubeconfig");
  const doc = {
    apiVersion: "v1",
    kind: "Config",
    clusters: [{ name: "ocp-test", cluster: { server, "certificate-authority": cert } }],
    users: [{ name: "ocp-test-admin", user: { token } }],
    contexts: [{ name: "ocp-test", context: { cluster: "ocp-test", user: "ocp-test-admin" } }],
    "current-context": "ocp-test",
  };
  fs.writeFileSync(kubeconfig, JSON.stringify(doc, null, 2), { mode: 0o600 });
  return kubeconfig;
}

/** Starts etcd and kube-apiserver and resolves once `/readyz` answers 200. */
export async function startControlPlane(bin: Binaries): Promise<ControlPlaneInfo> {
  const workDir = fs.mkdtempSync(path.join(os.tmpdir(), "ocp-control-plane-"));
  const started: Started[] = [];
  try {
    const { cert, key, token } = writeSecrets(workDir);
    const [etcdClient, etcdPeer, apiserverPort] = (await freePorts(3)) as [number, number, number];
    const etcdUrl = `http://${LOOPBACK}:${etcdClient}`;
    const peerUrl = `http://${LOOPBACK}:${etcdPeer}`;

    started.push(startProcess(workDir, "etcd", bin.etcd, [
      "--name=ocp-test",
      `--data-dir=${path.join(workDir, "etcd-data")}`,
      `--listen-client-urls=${etcdUrl}`,
      `--advertise-client-urls=${etcdUrl}`,
      `--listen-peer-urls=${peerUrl}`,
      `--initial-advertise-peer-urls=${peerUrl}`,
      `--initial-cluster=ocp-test=${peerUrl}`,
      "--unsafe-no-fsync", // throw-away data: durability buys nothing here and costs seconds
      "--log-level=warn",
    ]));

    const server = `https://${LOOPBACK}:${apiserverPort}`;
    started.push(startProcess(workDir, "kube-apiserver", bin["kube-apiserver"], [
      `--etcd-servers=${etcdUrl}`,
      `--bind-address=${LOOPBACK}`,
      `--advertise-address=${LOOPBACK}`,
      `--secure-port=${apiserverPort}`,
      `--tls-cert-file=${cert}`,
      `--tls-private-key-file=${key}`,
      `--token-auth-file=${path.join(workDir, "tokens.csv")}`,
      "--authorization-mode=RBAC",
      `--service-account-key-file=${path.join(workDir, "sa.pub")}`,
      `--service-account-signing-key-file=${path.join(workDir, "sa.key")}`,
      "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
      // Only allocates ClusterIPs in etcd; nothing is ever sent to this range.
      "--service-cluster-ip-range=10.96.0.0/24",
      // The `kubernetes` Service's Endpoints would name a loopback address, which validation refuses.
      "--endpoint-reconciler-type=none",
      "--profiling=false",
      `--cert-dir=${workDir}`,
    ]));

    const ca = fs.readFileSync(cert, "utf8");
    await waitReady(server, ca, token, started);

    const kubectlCacheDir = path.join(workDir, "kubectl-cache");
    return {
      server,
      kubeconfig: writeKubeconfig(workDir, server, cert, token),
      binaries: bin,
      kubectlCacheDir,
      workDir,
      processGroups: processGroups(started),
    };
  } catch (err) {
    await stopProcessGroups(processGroups(started));
    fs.rmSync(workDir, { recursive: true, force: true });
    throw err;
  }
}

function groupAlive(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
    return true;
  } catch {
    return false;
  }
}

/** SIGTERM to each group, then SIGKILL to what is still there after `graceMs`. Resolves when all are gone. */
export async function stopProcessGroups(groups: number[], graceMs = 15_000): Promise<void> {
  // The API server first, so it does not spend its shutdown retrying a vanished etcd.
  for (const pgid of [...groups].reverse()) {
    try {
      process.kill(-pgid, "SIGTERM");
    } catch {
      // already gone
    }
    const deadline = Date.now() + graceMs;
    while (groupAlive(pgid) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    if (groupAlive(pgid)) {
      try {
        process.kill(-pgid, "SIGKILL");
      } catch {
        // gone in between
      }
      while (groupAlive(pgid)) await new Promise((r) => setTimeout(r, 50));
    }
  }
}

export async function stopControlPlane(info: ControlPlaneInfo): Promise<void> {
  await stopProcessGroups(info.processGroups);
  fs.rmSync(info.workDir, { recursive: true, force: true });
}
