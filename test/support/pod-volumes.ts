/*
 * The files a pod of a rendered Deployment sees: every ConfigMap and Secret volume written the way
 * kubelet writes them, under a folder standing for the pod's root filesystem.
 *
 * kubelet's AtomicWriter (kubernetes pkg/volume/util/atomic_writer.go) puts a volume's files in a
 * timestamped folder `..<timestamp>`, points the symlink `..data` at it, and shows each file as a
 * symlink `<key> -> ..data/<key>`. An update writes a new timestamped folder, creates `..data_tmp`
 * pointing at it and renames it over `..data` (the one atomic step), adjusts the file symlinks, and
 * removes the old folder. https://kubernetes.io/docs/concepts/configuration/configmap/#mounted-configmaps-are-updated-automatically
 */
import { randomBytes } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import type { PlainObject } from "./scenarios";

/** The files of one volume, by path inside the volume. */
export type VolumeFiles = Record<string, string>;

/** A ConfigMap or Secret volume kubelet keeps up to date in `dir`. */
export class AtomicVolume {
    private generation = 0;

    constructor(
        readonly dir: string,
        readonly mode = 0o644,
    ) {}

    /** What the volume shows now (read through the user-visible symlinks). */
    read(): VolumeFiles {
        if (!fs.existsSync(path.join(this.dir, "..data"))) return {};
        const files: VolumeFiles = {};
        for (const name of fs.readdirSync(path.join(this.dir, "..data"))) files[name] = fs.readFileSync(path.join(this.dir, name), "utf8");
        return files;
    }

    /**
     * Makes the volume show `files`, in kubelet's order of steps. Returns false, writing nothing,
     * when it already shows them (kubelet skips unchanged payloads too).
     */
    write(files: VolumeFiles): boolean {
        const current = this.read();
        if (JSON.stringify(Object.entries(current).sort()) === JSON.stringify(Object.entries(files).sort())) return false;
        fs.mkdirSync(this.dir, { recursive: true });
        const previous = fs.existsSync(path.join(this.dir, "..data")) ? fs.readlinkSync(path.join(this.dir, "..data")) : undefined;

        // 1. The payload, in a new timestamped folder.
        const stamp = `..${new Date().toISOString().replace(/[-:]/g, "_").replace("T", "_").replace(/\..*$/, "")}.${String(++this.generation).padStart(3, "0")}${randomBytes(3).toString("hex")}`;
        fs.mkdirSync(path.join(this.dir, stamp));
        for (const [name, content] of Object.entries(files)) {
            if (name.includes("/")) throw new Error(`nested volume paths are not modelled: ${name}`);
            fs.writeFileSync(path.join(this.dir, stamp, name), content, { mode: this.mode });
        }
        // 2. The atomic swap.
        fs.symlinkSync(stamp, path.join(this.dir, "..data_tmp"));
        fs.renameSync(path.join(this.dir, "..data_tmp"), path.join(this.dir, "..data"));
        // 3. User-visible symlinks for new names; 4. none for names gone.
        for (const name of Object.keys(files)) {
            if (!fs.existsSync(path.join(this.dir, name))) fs.symlinkSync(path.join("..data", name), path.join(this.dir, name));
        }
        for (const name of Object.keys(current)) if (!(name in files)) fs.unlinkSync(path.join(this.dir, name));
        // 5. The old payload goes.
        if (previous !== undefined) fs.rmSync(path.join(this.dir, previous), { recursive: true, force: true });
        return true;
    }
}

interface Volume {
    name: string;
    configMap?: { name: string; items?: { key: string; path: string }[] };
    secret?: { secretName: string; items?: { key: string; path: string }[]; defaultMode?: number };
    emptyDir?: unknown;
}

interface Container {
    name: string;
    args: string[];
    volumeMounts: { name: string; mountPath: string }[];
}

/** The Deployment's pod spec, typed as far as the tests read it. */
export function podSpec(deployment: PlainObject): { containers: Container[]; volumes: Volume[]; terminationGracePeriodSeconds?: number } {
    return (deployment.spec as { template: { spec: { containers: Container[]; volumes: Volume[]; terminationGracePeriodSeconds?: number } } }).template.spec;
}

function select(data: Record<string, string>, items: { key: string; path: string }[] | undefined): VolumeFiles {
    if (!items) return { ...data };
    return Object.fromEntries(items.map((i) => {
        if (!(i.key in data)) throw new Error(`key ${i.key} is missing`);
        return [i.path, data[i.key]!];
    }));
}

/**
 * What each volume mount of `container` shows, by mount path, from the rendered ConfigMaps and
 * Secrets (`stringData`, or base64 `data`). An object the pod mounts but `objects` lack is an error,
 * as the pod would not start.
 */
export function mountedFiles(deployment: PlainObject, objects: PlainObject[], container = "proxy"): Map<string, { files: VolumeFiles; mode: number }> {
    const spec = podSpec(deployment);
    const c = spec.containers.find((x) => x.name === container);
    if (!c) throw new Error(`no container ${container}`);
    const mounts = new Map<string, { files: VolumeFiles; mode: number }>();
    for (const mount of c.volumeMounts) {
        const volume = spec.volumes.find((v) => v.name === mount.name);
        if (!volume) throw new Error(`volumeMount ${mount.name} has no volume`);
        if (volume.emptyDir !== undefined) continue;
        if (volume.configMap) {
            const cm = objects.find((o) => o.kind === "ConfigMap" && o.metadata.name === volume.configMap!.name);
            if (!cm) throw new Error(`ConfigMap ${volume.configMap.name} is not among the objects`);
            mounts.set(mount.mountPath, { files: select(cm.data as Record<string, string>, volume.configMap.items), mode: 0o644 });
        } else if (volume.secret) {
            const secret = objects.find((o) => o.kind === "Secret" && o.metadata.name === volume.secret!.secretName);
            if (!secret) throw new Error(`Secret ${volume.secret.secretName} is not among the objects`);
            const data = (secret.stringData as Record<string, string> | undefined) ??
                Object.fromEntries(Object.entries((secret.data as Record<string, string>) ?? {}).map(([k, v]) => [k, Buffer.from(v, "base64").toString("utf8")]));
            mounts.set(mount.mountPath, { files: select(data, volume.secret.items), mode: volume.secret.defaultMode ?? 0o644 });
        } else {
            throw new Error(`volume ${volume.name}: only configMap, secret and emptyDir volumes are modelled`);
        }
    }
    return mounts;
}
