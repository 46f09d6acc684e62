/**
 * Prometheus metrics, named after the OpenTelemetry semantic conventions where one exists
 * (GenAI: https://opentelemetry.io/docs/specs/semconv/gen-ai/gen-ai-metrics/, HTTP:
 * https://opentelemetry.io/docs/specs/semconv/http/http-metrics/), converted the way the OpenTelemetry
 * Prometheus exporter does (dots to underscores, unit suffix `_seconds`).
 *
 * Every metric child a request touches is created once per route, backend and status and cached, so
 * the hot path never hashes label sets.
 */
import { Counter, Gauge, Registry, collectDefaultMetrics } from "prom-client";
import { FastCounter, FastHistogram, type CounterChild, type HistogramChild } from "./fast-metrics";

// Bucket boundaries advised by the GenAI semantic conventions.
const TOKEN_BUCKETS = [1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864];
const OPERATION_BUCKETS = [0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92];
const HTTP_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10, 30, 60, 120, 300];

type StatusChildren = { count: CounterChild; duration: HistogramChild };

export class ProxyMetrics {
  readonly registry = new Registry();

  readonly requests = new FastCounter("http_server_requests_total", "Requests answered, by route and status (499: the client went away).", this.registry);
  readonly requestDuration = new FastHistogram(
    "http_server_request_duration_seconds",
    "Time from the request's arrival to the end of its response, streamed body included.",
    HTTP_BUCKETS,
    this.registry,
  );
  readonly upstreamErrors = new Counter({
    name: "openai_proxy_upstream_errors_total",
    help: "Failed upstream exchanges, by backend and error code (see docs/errors.md).",
    labelNames: ["backend", "error_code"] as const,
    registers: [this.registry],
  });
  readonly timeToFirstByte = new FastHistogram(
    "openai_proxy_upstream_time_to_first_byte_seconds",
    "Time from sending the request upstream to receiving the response headers.",
    HTTP_BUCKETS,
    this.registry,
  );
  readonly tokenUsage = new FastHistogram(
    "gen_ai_client_token_usage",
    "Tokens used per request, read from the response's `usage` (for streams, the final chunk).",
    TOKEN_BUCKETS,
    this.registry,
  );
  readonly operationDuration = new FastHistogram(
    "gen_ai_client_operation_duration_seconds",
    "Duration of GenAI operations through the proxy, from request to the end of the response.",
    OPERATION_BUCKETS,
    this.registry,
  );
  /** Reads the number of requests being served, when the registry is scraped (see {@link readInflight}). */
  private inflightNow: () => number = () => 0;
  readonly inflight: Gauge = new Gauge({
    name: "openai_proxy_inflight_requests",
    help: "Requests being served.",
    registers: [this.registry],
    collect: (): void => this.inflight.set(this.inflightNow()),
  });
  /** Reads the request-body bytes held in memory, when the registry is scraped (see {@link readInflight}). */
  private bufferedNow: () => { held: number; budget: number } = () => ({ held: 0, budget: 0 });
  readonly bufferedBodyBytes: Gauge = new Gauge({
    name: "openai_proxy_buffered_body_bytes",
    help: "Request-body bytes held in memory to rewrite or check `model` (`state`: `held`, or `budget`, the most that may be: limits.maxBufferedBodyBytes).",
    labelNames: ["state"] as const,
    registers: [this.registry],
    collect: (): void => {
      const { held, budget } = this.bufferedNow();
      this.bufferedBodyBytes.set({ state: "held" }, held);
      this.bufferedBodyBytes.set({ state: "budget" }, budget);
    },
  });
  readonly configReloads = new Counter({
    name: "openai_proxy_config_reloads_total",
    help: "Config reloads, by result (`success` or `failure`; a failure keeps the last good config).",
    labelNames: ["result"] as const,
    registers: [this.registry],
  });
  /** Whether the config files as they are now are rejected, read when the registry is scraped. */
  private configRejectedNow: () => boolean = () => false;
  readonly configLastReloadSuccessful: Gauge = new Gauge({
    name: "openai_proxy_config_last_reload_successful",
    help: "1 when the config as it is now on disk is the one served; 0 while it is rejected and the last good config is served.",
    registers: [this.registry],
    collect: (): void => this.configLastReloadSuccessful.set(this.configRejectedNow() ? 0 : 1),
  });
  readonly configGeneration = new Gauge({
    name: "openai_proxy_config_generation",
    help: "Increments with every config applied.",
    registers: [this.registry],
  });

  constructor(options: { processMetrics?: boolean } = {}) {
    if (options.processMetrics !== false) collectDefaultMetrics({ register: this.registry });
  }

  /** Where `openai_proxy_inflight_requests` comes from: read at each scrape, nothing to do per request. */
  readInflight(read: () => number): void {
    this.inflightNow = read;
  }

  /** Where `openai_proxy_config_last_reload_successful` comes from, read at each scrape. */
  readConfigRejected(read: () => boolean): void {
    this.configRejectedNow = read;
  }

  /** Where `openai_proxy_buffered_body_bytes` comes from, read at each scrape. */
  readBufferedBodyBytes(read: () => { held: number; budget: number }): void {
    this.bufferedNow = read;
  }

  /** Cached per-route children, keyed by status. */
  route(name: string): RouteMetrics {
    return new RouteMetrics(this, name);
  }
}

export class RouteMetrics {
  private readonly byStatus = new Map<number, StatusChildren>();
  constructor(
    private readonly metrics: ProxyMetrics,
    private readonly name: string,
  ) {}

  observe(status: number, seconds: number): void {
    let children = this.byStatus.get(status);
    if (!children) {
      const labels = { http_route: this.name, http_response_status_code: String(status) };
      children = { count: this.metrics.requests.labels(labels), duration: this.metrics.requestDuration.labels(labels) };
      this.byStatus.set(status, children);
    }
    children.count.inc();
    children.duration.observe(seconds);
  }
}

interface OperationChildren {
  readonly durations: Map<string, HistogramChild>;
  /** Token histograms, created on first use, so a backend that never reports usage shows no token series. */
  tokens: { readonly input: HistogramChild; readonly output: HistogramChild } | null;
}

export interface BackendMetricLabels {
  backend: string;
  provider: string;
  serverAddress: string;
  requestModel: string;
}

/** Per-backend children. The operation name comes from the upstream path (chat, embeddings, ...). */
export class BackendMetrics {
  private readonly ttfb: HistogramChild;
  private readonly errors = new Map<string, Counter.Internal>();
  /**
   * Children by operation, then by error type: looked up with the strings as they come (constants, in
   * practice), so recording a request builds no key.
   */
  private readonly byOperation = new Map<string, OperationChildren>();

  constructor(
    private readonly metrics: ProxyMetrics,
    private readonly labels: BackendMetricLabels,
  ) {
    this.ttfb = metrics.timeToFirstByte.labels({ backend: labels.backend });
  }

  firstByte(seconds: number): void {
    this.ttfb.observe(seconds);
  }

  upstreamError(code: string): void {
    let child = this.errors.get(code);
    if (!child) {
      child = this.metrics.upstreamErrors.labels({ backend: this.labels.backend, error_code: code });
      this.errors.set(code, child);
    }
    child.inc();
  }

  operation(operation: string, seconds: number, errorType: string): void {
    const children = this.of(operation);
    let child = children.durations.get(errorType);
    if (!child) {
      child = this.metrics.operationDuration.labels({ ...this.genAi(operation), error_type: errorType });
      children.durations.set(errorType, child);
    }
    child.observe(seconds);
  }

  usage(operation: string, input: number, output: number): void {
    const children = this.of(operation);
    let tokens = children.tokens;
    if (tokens === null) {
      const genAi = this.genAi(operation);
      tokens = {
        input: this.metrics.tokenUsage.labels({ ...genAi, gen_ai_token_type: "input" }),
        output: this.metrics.tokenUsage.labels({ ...genAi, gen_ai_token_type: "output" }),
      };
      children.tokens = tokens;
    }
    tokens.input.observe(input);
    tokens.output.observe(output);
  }

  private of(operation: string): OperationChildren {
    let children = this.byOperation.get(operation);
    if (!children) {
      children = { durations: new Map(), tokens: null };
      this.byOperation.set(operation, children);
    }
    return children;
  }

  private genAi(operation: string) {
    return {
      gen_ai_operation_name: operation,
      gen_ai_provider_name: this.labels.provider,
      gen_ai_request_model: this.labels.requestModel,
      server_address: this.labels.serverAddress,
      backend: this.labels.backend,
    };
  }
}

/** `gen_ai.operation.name` for an OpenAI-style path. */
export function operationForPath(path: string): string {
  const q = path.indexOf("?");
  const p = q < 0 ? path : path.slice(0, q);
  if (p.endsWith("/chat/completions")) return "chat";
  if (p.endsWith("/completions")) return "text_completion";
  if (p.endsWith("/embeddings")) return "embeddings";
  if (p.endsWith("/responses")) return "chat";
  return "other";
}
