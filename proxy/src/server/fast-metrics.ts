/**
 * Counters and histograms for the per-request path. prom-client's own children re-validate and
 * re-hash their label set on every `observe()`; these keep one plain accumulator per label set, created
 * once, and are read only when Prometheus scrapes. They register in a prom-client `Registry` (which
 * formats them) through the interface its `metrics()` reads: `name`, `help`, `type`, `get()`.
 */
import type { Registry } from "prom-client";

type Labels = Record<string, string>;
interface MetricValue {
  value: number;
  labels: Labels;
  metricName?: string;
}

abstract class FastMetric<Child> {
  protected readonly children = new Map<string, { labels: Labels; child: Child }>();

  constructor(
    readonly name: string,
    readonly help: string,
    readonly type: "counter" | "histogram",
    registry: Registry,
  ) {
    registry.registerMetric(this as never);
  }

  /** The accumulator for these label values, created on first use. Callers keep it. */
  labels(labels: Labels): Child {
    const key = JSON.stringify(labels);
    let entry = this.children.get(key);
    if (!entry) {
      entry = { labels: { ...labels }, child: this.create() };
      this.children.set(key, entry);
    }
    return entry.child;
  }

  protected abstract create(): Child;
  protected abstract values(): MetricValue[];

  get(): Promise<{ name: string; help: string; type: string; values: MetricValue[]; aggregator: string }> {
    return Promise.resolve({ name: this.name, help: this.help, type: this.type, values: this.values(), aggregator: "sum" });
  }

  reset(): void {
    this.children.clear();
  }
}

export class CounterChild {
  value = 0;
  inc(by = 1): void {
    this.value += by;
  }
}

export class FastCounter extends FastMetric<CounterChild> {
  constructor(name: string, help: string, registry: Registry) {
    super(name, help, "counter", registry);
  }

  protected create(): CounterChild {
    return new CounterChild();
  }

  protected values(): MetricValue[] {
    return [...this.children.values()].map(({ labels, child }) => ({ value: child.value, labels }));
  }
}

export class HistogramChild {
  /** Per-bucket counts (not cumulative); the last slot is +Inf. */
  readonly counts: Float64Array;
  sum = 0;
  count = 0;

  constructor(private readonly bounds: readonly number[]) {
    this.counts = new Float64Array(bounds.length + 1);
  }

  observe(value: number): void {
    const bounds = this.bounds;
    let i = 0;
    while (i < bounds.length && value > bounds[i]!) i++;
    this.counts[i]!++;
    this.sum += value;
    this.count++;
  }
}

export class FastHistogram extends FastMetric<HistogramChild> {
  constructor(
    name: string,
    help: string,
    private readonly buckets: readonly number[],
    registry: Registry,
  ) {
    super(name, help, "histogram", registry);
  }

  protected create(): HistogramChild {
    return new HistogramChild(this.buckets);
  }

  protected values(): MetricValue[] {
    const out: MetricValue[] = [];
    for (const { labels, child } of this.children.values()) {
      let cumulative = 0;
      this.buckets.forEach((le, i) => {
        cumulative += child.counts[i]!;
        out.push({ metricName: `${this.name}_bucket`, labels: { ...labels, le: String(le) }, value: cumulative });
      });
      out.push({ metricName: `${this.name}_bucket`, labels: { ...labels, le: "+Inf" }, value: child.count });
      out.push({ metricName: `${this.name}_sum`, labels, value: child.sum });
      out.push({ metricName: `${this.name}_count`, labels, value: child.count });
    }
    return out;
  }
}
