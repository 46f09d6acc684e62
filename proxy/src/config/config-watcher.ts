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
 *
 * A folder that is missing or cannot be listed (a Secret not mounted yet, a folder being replaced, one
 * whose permissions were taken away) is watched through its nearest ancestor that can be, and watched
 * itself again once it is back. chokidar's watch of a folder does not survive the folder being deleted
 * or made unreadable, so the watcher is rebuilt whenever the folders to watch, or their identity (device,
 * inode, creation time, mode), change, one of them is deleted or moved, or chokidar reports an error; after a rebuild the config is read again, for what
 * happened while nothing was watching.
 *
 * As a safety net for any event still missed (a key file that is a symlink to a file edited in place
 * elsewhere, an event lost by the kernel), the config is also read again every minute; a config that
 * has not changed is left as it is.
 */
import { accessSync, constants, statSync } from "node:fs";
import { basename, dirname, resolve, sep } from "node:path";
import { watch, type FSWatcher } from "chokidar";

/** How long the watched files must stay unchanged before a change is handed on. */
export const WRITE_SETTLE_MS = 500;
/** How often the config is read again without an event. */
export const FALLBACK_RELOAD_MS = 60_000;
/** After chokidar reports an error, its watcher is rebuilt at most this often (an error that persists, such as the inotify limit, would otherwise rebuild it in a loop). */
export const REBUILD_AFTER_ERROR_MS = 5_000;

/**
 * Why the callback runs: `change`, a watched file or folder changed; `check`, something else happened
 * (the watch was rebuilt, another entry of a watched folder changed) and the config should be read
 * again in case it changed unseen.
 */
export type WatchReason = "change" | "check";

export interface ConfigWatcherOptions {
  /** Default {@link WRITE_SETTLE_MS}. */
  settleMs?: number;
  /** Default {@link FALLBACK_RELOAD_MS}; 0 for never. */
  fallbackMs?: number;
  /**
   * Told of each error chokidar reports (the node's inotify limit, say). The watch is rebuilt at most
   * every {@link REBUILD_AFTER_ERROR_MS} and the config is still read every `fallbackMs`, so reloads go
   * on, later: this is for telling the operator.
   */
  onError?: (err: NodeJS.ErrnoException) => void;
}

export class ConfigWatcher {
  private watcher: FSWatcher | null = null;
  /** The folder watched for each wanted one (itself, or its nearest ancestor that can be listed) and that folder's identity. */
  private roots = new Map<string, string>();
  /** The folders of the files, and the folders given. */
  private wanted: string[] = [];
  private files = new Set<string>();
  private folders = new Set<string>();
  /** Files that appeared in a watched folder since the last callback (a new manifest may still be written). */
  private readonly added = new Set<string>();
  private snapshot = "";
  private timer: NodeJS.Timeout | null = null;
  private retry: NodeJS.Timeout | null = null;
  private readonly fallback: NodeJS.Timeout | null;
  private readonly settleMs: number;
  private readonly onError: ((err: NodeJS.ErrnoException) => void) | undefined;
  private due: WatchReason | null = null;
  /** chokidar reported an error: rebuilt, at most every REBUILD_AFTER_ERROR_MS. */
  private broken = false;
  /** A watched folder itself was deleted or moved (its inode may be reused at once by a new one): rebuilt. */
  private stale = false;
  private lastRebuild = 0;
  private queue: Promise<unknown> = Promise.resolve();
  private closed = false;

  constructor(
    private readonly onChange: (reason: WatchReason) => void,
    options: ConfigWatcherOptions = {},
  ) {
    this.settleMs = options.settleMs ?? WRITE_SETTLE_MS;
    this.onError = options.onError;
    const fallbackMs = options.fallbackMs ?? FALLBACK_RELOAD_MS;
    this.fallback = fallbackMs > 0 ? setInterval(() => this.poke("check"), fallbackMs).unref() : null;
  }

  /** Watches these files (through their folders) and folders, and nothing else. Resolves once watching. */
  async update(files: readonly string[], folders: readonly string[]): Promise<void> {
    this.files = new Set(files.map((f) => resolve(f)));
    this.folders = new Set(folders.map((d) => resolve(d)));
    this.wanted = [...new Set([...[...this.files].map((f) => dirname(f)), ...this.folders])];
    if (await this.serially(() => this.rewatch())) this.poke("check");
  }

  private serially<T>(task: () => Promise<T>): Promise<T> {
    const run = this.queue.then(task);
    this.queue = run.catch(() => undefined);
    return run;
  }

  /** Watches the wanted folders anew if what can be watched of them changed, or chokidar failed. Returns whether it did. */
  private async rewatch(): Promise<boolean> {
    if (this.closed) return false;
    const roots = new Map(this.wanted.map((folder) => watchable(folder)));
    const same = this.watcher !== null && roots.size === this.roots.size && [...roots].every(([root, id]) => this.roots.get(root) === id);
    if (same && !this.broken && !this.stale) return false;
    if (same && !this.stale) {
      const wait = this.lastRebuild + REBUILD_AFTER_ERROR_MS - Date.now();
      if (wait > 0) {
        this.retry ??= setTimeout(() => {
          this.retry = null;
          this.poke(null);
        }, wait);
        return false;
      }
    }
    this.broken = false;
    this.stale = false;
    this.roots = roots;
    this.lastRebuild = Date.now();
    // Closed before the new one starts: chokidar shares one fs.watch per path between its watchers,
    // and the old one may be bound to a folder since deleted.
    await this.watcher?.close();
    this.watcher = null;
    if (this.closed) return false;
    const watcher = watch([...roots.keys()], { ignoreInitial: true, depth: 0, followSymlinks: false });
    watcher.on("all", (_event, path) => this.changed(path));
    // Raw events also tell of what chokidar reports nothing for: a watched folder itself deleted or
    // moved, or its subfolder becoming readable again.
    watcher.on("raw", (event, path, details) => {
      const watchedPath = (details as { watchedPath?: unknown } | undefined)?.watchedPath;
      if (event === "rename" && typeof watchedPath === "string" && roots.has(watchedPath) && path === basename(watchedPath)) this.stale = true;
      this.poke(null);
    });
    // An error about a watched folder (made unreadable, say) may leave chokidar's watch of it broken;
    // one about a file in it (not readable by this process) does not, and would recur at each rebuild.
    watcher.on("error", (err) => {
      this.onError?.(err as NodeJS.ErrnoException);
      const path = (err as NodeJS.ErrnoException).path;
      if (path === undefined || roots.has(resolve(path))) this.broken = true;
      this.poke(null);
    });
    await new Promise<void>((ready) => watcher.once("ready", ready));
    if (this.closed) {
      await watcher.close();
      return false;
    }
    this.watcher = watcher;
    return true;
  }

  private changed(path: string): void {
    const full = resolve(path);
    if (this.folders.has(dirname(full))) this.added.add(full);
    const watched = this.files.has(full) || this.folders.has(dirname(full)) || this.wanted.some((w) => w === full || w.startsWith(full + sep));
    this.poke(watched ? "change" : "check");
  }

  /** Starts a settle period unless one is running; `reason` null only looks at what is watched. */
  private poke(reason: WatchReason | null): void {
    if (this.closed) return;
    if (reason === "change" || (reason === "check" && this.due === null)) this.due = reason;
    if (this.timer !== null) return;
    this.snapshot = this.stat();
    this.timer = setTimeout(this.settled, this.settleMs);
  }

  /** Hands the change on if nothing moved during the period; otherwise waits another one. */
  private readonly settled = (): void => {
    void this.serially(async () => {
      const rewatched = await this.rewatch();
      this.timer = null;
      if (this.closed) return;
      if (rewatched) this.due ??= "check";
      if (this.due === null) return;
      const now = this.stat();
      if (now !== this.snapshot) {
        this.snapshot = now;
        this.timer = setTimeout(this.settled, this.settleMs);
        return;
      }
      const reason = this.due;
      this.due = null;
      this.added.clear();
      this.onChange(reason);
    });
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
    this.closed = true;
    if (this.timer !== null) clearTimeout(this.timer);
    if (this.retry !== null) clearTimeout(this.retry);
    if (this.fallback !== null) clearInterval(this.fallback);
    this.timer = null;
    this.retry = null;
    await this.serially(async () => {
      await this.watcher?.close();
      this.watcher = null;
    });
  }
}

/**
 * The folder itself if it exists and can be listed, else its nearest ancestor that can; with that
 * folder's identity (device, inode, creation time, mode), so that a folder replaced or whose
 * permissions changed is watched anew.
 */
function watchable(folder: string): [string, string] {
  for (let d = folder; ; d = dirname(d)) {
    try {
      const s = statSync(d);
      if (s.isDirectory()) {
        accessSync(d, constants.R_OK | constants.X_OK);
        return [d, `${s.dev}:${s.ino}:${s.birthtimeMs}:${s.mode}`];
      }
    } catch {
      // missing or not readable: its parent is watched instead
    }
    if (dirname(d) === d) return [d, ""];
  }
}
