/**
 * Watches the config and every file it points to, and calls back once a change has settled.
 *
 * The parent folder of each file is watched rather than the file: Kubernetes updates a mounted
 * ConfigMap or Secret by writing a new timestamped folder and atomically renaming a `..data` symlink
 * over the old one (https://kubernetes.io/docs/concepts/configuration/configmap/#mounted-configmaps-are-updated-automatically),
 * so the file's own inode never changes; the rename is an event in the folder.
 *
 * A file is often seen mid-write (`cmd > file` truncates it first, a copy arrives in chunks), and its
 * first half can be a valid config of its own (no routes, a truncated key). So a change is handed on only
 * once the watched files have stayed the same (size, modification and change times, inode) for a whole
 * settle period: the first event starts the period, and any difference at its end starts another.
 * A writer that pauses for longer than the period is still seen mid-write.
 */
import { statSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { watch, type FSWatcher } from "chokidar";

/** How long the watched files must stay unchanged before a change is handed on. */
export const WRITE_SETTLE_MS = 500;

export class ConfigWatcher {
  private watcher: FSWatcher | null = null;
  private watched = new Set<string>();
  private files: string[] = [];
  private folders = new Set<string>();
  /** Files that appeared in a watched folder since the last callback (a new manifest may still be written). */
  private readonly added = new Set<string>();
  private snapshot = "";
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly onChange: () => void,
    private readonly settleMs = WRITE_SETTLE_MS,
  ) {}

  /** Watches these files (through their folders) and folders; unwatches the rest. Resolves once watching. */
  async update(files: readonly string[], folders: readonly string[]): Promise<void> {
    this.files = [...new Set(files.map((f) => resolve(f)))];
    this.folders = new Set(folders.map((d) => resolve(d)));
    const next = new Set([...this.files.map((f) => dirname(f)), ...this.folders]);
    const added = [...next].filter((d) => !this.watched.has(d));
    const removed = [...this.watched].filter((d) => !next.has(d));
    this.watched = next;
    if (!this.watcher) {
      const watcher = watch([...next], { ignoreInitial: true, depth: 0, followSymlinks: false });
      this.watcher = watcher;
      watcher.on("all", (_event, path) => this.changed(path));
      watcher.on("error", () => undefined);
      await new Promise<void>((ready) => watcher.once("ready", ready));
      return;
    }
    if (removed.length > 0) this.watcher.unwatch(removed);
    if (added.length > 0) this.watcher.add(added);
  }

  private changed(path: string): void {
    const full = resolve(path);
    if (this.folders.has(dirname(full))) this.added.add(full);
    if (this.timer !== null) return;
    this.snapshot = this.stat();
    this.arm();
  }

  private arm(): void {
    this.timer = setTimeout(this.settled, this.settleMs);
  }

  /** Hands the change on if nothing moved during the period; otherwise waits another one. */
  private readonly settled = (): void => {
    this.timer = null;
    const now = this.stat();
    if (now !== this.snapshot) {
      this.snapshot = now;
      this.arm();
      return;
    }
    this.added.clear();
    this.onChange();
  };

  /** What the watched files look like: size, times and inode of each, or why it cannot be read. */
  private stat(): string {
    const parts: string[] = [];
    for (const file of new Set([...this.files, ...this.added])) {
      try {
        const s = statSync(file, { bigint: true });
        parts.push(`${file}\0${s.size}\0${s.mtimeNs}\0${s.ctimeNs}\0${s.dev}\0${s.ino}`);
      } catch (err) {
        parts.push(`${file}\0${(err as NodeJS.ErrnoException).code ?? "error"}`);
      }
    }
    return parts.join("\n");
  }

  async close(): Promise<void> {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    await this.watcher?.close();
    this.watcher = null;
  }
}
