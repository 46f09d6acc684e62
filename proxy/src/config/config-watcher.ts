/**
 * Watches the config and every file it points to, and calls back (debounced) on any change.
 *
 * The parent folder of each file is watched rather than the file: Kubernetes updates a mounted
 * ConfigMap or Secret by writing a new timestamped folder and atomically renaming a `..data` symlink
 * over the old one (https://kubernetes.io/docs/concepts/configuration/configmap/#mounted-configmaps-are-updated-automatically),
 * so the file's own inode never changes; the rename is an event in the folder.
 */
import { dirname, resolve } from "node:path";
import { watch, type FSWatcher } from "chokidar";

export class ConfigWatcher {
  private watcher: FSWatcher | null = null;
  private watched = new Set<string>();
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly onChange: () => void,
    private readonly debounceMs = 50,
  ) {}

  /** Watches these files (through their folders) and folders; unwatches the rest. Resolves once watching. */
  async update(files: readonly string[], folders: readonly string[]): Promise<void> {
    const next = new Set([...files.map((f) => dirname(resolve(f))), ...folders.map((d) => resolve(d))]);
    const added = [...next].filter((d) => !this.watched.has(d));
    const removed = [...this.watched].filter((d) => !next.has(d));
    this.watched = next;
    if (!this.watcher) {
      const watcher = watch([...next], { ignoreInitial: true, depth: 0, followSymlinks: false });
      this.watcher = watcher;
      watcher.on("all", this.schedule);
      watcher.on("error", () => undefined);
      await new Promise<void>((ready) => watcher.once("ready", ready));
      return;
    }
    if (removed.length > 0) this.watcher.unwatch(removed);
    if (added.length > 0) this.watcher.add(added);
  }

  private readonly schedule = (): void => {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = null;
      this.onChange();
    }, this.debounceMs);
  };

  async close(): Promise<void> {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    await this.watcher?.close();
    this.watcher = null;
  }
}
