/**
 * The proxy's one error catalogue. Every failure of the proxy itself answers with one of these codes,
 * in the OpenAI error shape `{"error":{"message","type","code"}}`. Messages are fixed strings: they never
 * carry internals, stack traces, request data or secrets. `docs/errors.md` lists the same table (a test
 * keeps the two in step). Upstream error responses are not in here: they pass through verbatim.
 */

export interface ErrorSpec {
  status: number;
  /** OpenAI `error.type`. */
  type: "invalid_request_error" | "server_error";
  message: string;
  /** When the proxy answers with it. */
  when: string;
}

export const ERROR_CATALOGUE = {
  invalid_request_target: {
    status: 400,
    type: "invalid_request_error",
    message: "The request target must be an absolute path without dot segments, encoded slashes, backslashes or a fragment.",
    when: "Absolute-form, authority-form (CONNECT) or asterisk-form target, `.`/`..` segments (plain or percent-encoded, alone or before a `;` parameter), `%2F`, `%5C` or `\\` in the path, `#` anywhere in the target.",
  },
  malformed_request: {
    status: 400,
    type: "invalid_request_error",
    message: "The request is not valid HTTP/1.1.",
    when: "The request has more than one Host header, or its body could not be parsed after its headers were accepted (invalid chunked encoding, for one); the connection closes.",
  },
  invalid_json: {
    status: 400,
    type: "invalid_request_error",
    message: "The request body is not valid JSON.",
    when: "The route rewrites or checks `model` and the body is not UTF-8 JSON, or a POST, PUT or PATCH has no body.",
  },
  invalid_body: {
    status: 400,
    type: "invalid_request_error",
    message: "The request body must be a JSON object.",
    when: "The route rewrites or checks `model` and the body is JSON but not an object.",
  },
  json_too_complex: {
    status: 400,
    type: "invalid_request_error",
    message: "The request body holds more JSON objects, arrays and object members than this proxy parses.",
    when: "The route rewrites or checks `model`, and a body over 256 KiB holds more than 200,000 `{`, `[` and `:` (inside strings too): parsing that many values would stop the proxy for a second or more (a 10 MiB body of `[` took 1.5 s, one object of a million keys 0.6 s), while chat requests, images sent inline included, hold a few thousand at most.",
  },
  model_required: {
    status: 400,
    type: "invalid_request_error",
    message: "The request body has no `model`, and this route does not set one.",
    when: "The backend has `requireModel: true`, no `model` override, and the body's `model` is missing or empty.",
  },
  invalid_api_key: {
    status: 401,
    type: "invalid_request_error",
    message: "Missing or invalid API key for this proxy.",
    when: "`clientAuth` is configured and the request has no `Authorization: Bearer` key, or an unknown one.",
  },
  route_not_found: {
    status: 404,
    type: "invalid_request_error",
    message: "No route matches this request.",
    when: "No route's path, method, header, query and hostname matches accept the request.",
  },
  request_too_large: {
    status: 413,
    type: "invalid_request_error",
    message: "The request body is larger than this proxy accepts.",
    when: "`Content-Length`, or the bytes actually received, exceed `limits.maxRequestBodyBytes` (default 10 MiB).",
  },
  unsupported_method: {
    status: 501,
    type: "invalid_request_error",
    message: "This method is not served by the proxy.",
    when: "A TRACE request: the upstream would echo it, the injected key included, so it is never forwarded.",
  },
  unsupported_transfer_coding: {
    status: 501,
    type: "invalid_request_error",
    message: "The request body uses a transfer coding this proxy does not support; send it with Content-Length or chunked only.",
    when: "`Transfer-Encoding` names a coding other than `chunked` (such as `gzip, chunked`), which the proxy could not pass on.",
  },
  no_backend: {
    status: 500,
    type: "server_error",
    message: "This route has no backend to send the request to.",
    when: "The matched route has no `backendRefs` (an HTTPRoute rule without any), or every weight is 0.",
  },
  bodies_over_memory_budget: {
    status: 503,
    type: "server_error",
    message: "The proxy is holding as many request bodies in memory as it may; retry shortly.",
    when: "A route that rewrites or checks `model` reads the body into memory, and the bodies held by requests in progress would exceed `limits.maxBufferedBodyBytes` (by default a quarter of the container's memory limit above 128 MiB, so that large bodies cannot get the proxy killed for memory).",
  },
  internal_error: {
    status: 500,
    type: "server_error",
    message: "The proxy failed to handle the request.",
    when: "An unexpected failure inside the proxy (logged with its error code, never sent).",
  },
  upstream_connect_failed: {
    status: 502,
    type: "server_error",
    message: "The proxy could not connect to the upstream.",
    when: "Connection refused, unreachable, or the host name does not resolve.",
  },
  upstream_tls_failed: {
    status: 502,
    type: "server_error",
    message: "The TLS connection to the upstream failed: its certificate could not be verified (an unknown CA, expired or not yet valid, or issued for another host name), or the handshake failed.",
    when: "Unknown CA, expired or not-yet-valid certificate, host name mismatch, or a TLS handshake failure (the upstream closing the connection during the handshake included).",
  },
  upstream_connection_lost: {
    status: 502,
    type: "server_error",
    message: "The upstream closed the connection before the response was complete.",
    when: "The upstream connection was reset or closed mid-exchange.",
  },
  upstream_protocol_error: {
    status: 502,
    type: "server_error",
    message: "The upstream sent an invalid HTTP response.",
    when: "The upstream's response could not be parsed, its status was outside 100-599 or an interim one undici does not accept (`100 Continue` unasked, `101`), its headers were over the size limit, its body had a transfer coding other than `chunked`, or its length did not match `Content-Length`.",
  },
  upstream_connect_timeout: {
    status: 504,
    type: "server_error",
    message: "Connecting to the upstream timed out.",
    when: "TCP connect plus TLS handshake took longer than `connectTimeoutMs`.",
  },
  upstream_headers_timeout: {
    status: 504,
    type: "server_error",
    message: "The upstream did not send response headers in time.",
    when: "No response headers within `headersTimeoutMs`.",
  },
  upstream_body_timeout: {
    status: 504,
    type: "server_error",
    message: "The upstream stopped sending the response body.",
    when: "No response body bytes for `bodyTimeoutMs`.",
  },
  request_timeout: {
    status: 504,
    type: "server_error",
    message: "The request took longer than this route allows.",
    when: "The route's `timeouts.requestMs` or `timeouts.backendRequestMs` elapsed.",
  },
  proxy_shutting_down: {
    status: 503,
    type: "server_error",
    message: "The proxy shut down before the request was complete; retry it.",
    when: "The proxy's shutdown grace (`--shutdown-grace-ms`) ended with the request still in progress: a request not yet answered gets this answer, a stream this error event; a request whose body a route that rewrites or checks `model` was still reading gets a closed connection. Logged with this code, not as the upstream's failure.",
  },
  client_closed_request: {
    status: 499,
    type: "invalid_request_error",
    message: "The client closed the request.",
    when: "The client went away (its connection closed, or ended in the middle of its request body); recorded in logs and metrics only (nothing can be sent).",
  },
} as const satisfies Record<string, ErrorSpec>;

export type ErrorCode = keyof typeof ERROR_CATALOGUE;

/** A failure of the proxy, carrying its catalogue code and the underlying cause (logged, never sent). */
export class ProxyError extends Error {
  override readonly name = "ProxyError";
  readonly status: number;
  constructor(
    readonly code: ErrorCode,
    options?: { cause?: unknown },
  ) {
    super(ERROR_CATALOGUE[code].message, options);
    this.status = ERROR_CATALOGUE[code].status;
  }
}

const isCatalogueCode = (code: unknown): code is ErrorCode => typeof code === "string" && Object.hasOwn(ERROR_CATALOGUE, code);

// Precomputed at load: responses are written from these buffers, with no per-request JSON work.
const BODIES = new Map<ErrorCode, Buffer>();
const SSE_EVENTS = new Map<ErrorCode, Buffer>();
for (const [code, spec] of Object.entries(ERROR_CATALOGUE) as [ErrorCode, ErrorSpec][]) {
  const json = JSON.stringify({ error: { message: spec.message, type: spec.type, code } });
  BODIES.set(code, Buffer.from(json));
  // One SSE event that the official clients surface as an APIError with this body.
  SSE_EVENTS.set(code, Buffer.from(`event: error\ndata: ${json}\n\n`));
}

/** The JSON body for a code. */
export function errorBody(code: ErrorCode): Buffer {
  return BODIES.get(code)!;
}

/** The SSE error event that ends a stream that failed after it started. */
export function sseErrorEvent(code: ErrorCode): Buffer {
  return SSE_EVENTS.get(code)!;
}

const TLS_CODES = new Set([
  "EPROTO",
  "CERT_HAS_EXPIRED",
  "CERT_NOT_YET_VALID",
  "CERT_REVOKED",
  "CERT_UNTRUSTED",
  "CERT_REJECTED",
  "CERT_SIGNATURE_FAILURE",
  "DEPTH_ZERO_SELF_SIGNED_CERT",
  "SELF_SIGNED_CERT_IN_CHAIN",
  "HOSTNAME_MISMATCH",
  "INVALID_CA",
  "PATH_LENGTH_EXCEEDED",
  "INVALID_PURPOSE",
]);
const CONNECT_CODES = new Set(["ECONNREFUSED", "ENOTFOUND", "EAI_AGAIN", "EHOSTUNREACH", "ENETUNREACH", "EADDRNOTAVAIL", "ETIMEDOUT", "EHOSTDOWN", "ENETDOWN"]);
const LOST_CODES = new Set(["ECONNRESET", "EPIPE", "ECONNABORTED", "UND_ERR_SOCKET", "UND_ERR_CLOSED", "UND_ERR_DESTROYED"]);
const PROTOCOL_CODES = new Set(["UND_ERR_RES_CONTENT_LENGTH_MISMATCH", "UND_ERR_RES_EXCEEDED_MAX_SIZE", "UND_ERR_INFO", "UND_ERR_NOT_SUPPORTED", "UND_ERR_HEADERS_OVERFLOW"]);

/** The messages of undici's SocketError for an interim response it does not accept. */
const UNTAKEN_INTERIM: ReadonlySet<string> = new Set(["bad response", "bad upgrade"]);

/**
 * Maps any error from the upstream exchange to a catalogue code, by `err.code` (and, where undici's code
 * does not tell, by its name or message). This is the one place transport errors are interpreted.
 */
export function codeForError(err: unknown): ErrorCode {
  const code = (err as { code?: unknown } | null)?.code;
  if (isCatalogueCode(code)) return code;
  // undici's HTTPParserError has no `code` for some parse failures (an invalid status line): its name is all there is.
  if (typeof code !== "string") return (err as { name?: unknown } | null)?.name === "HTTPParserError" ? "upstream_protocol_error" : "internal_error";
  switch (code) {
    case "UND_ERR_CONNECT_TIMEOUT":
      return "upstream_connect_timeout";
    case "UND_ERR_HEADERS_TIMEOUT":
      return "upstream_headers_timeout";
    case "UND_ERR_BODY_TIMEOUT":
      return "upstream_body_timeout";
    case "UND_ERR_REQ_CONTENT_LENGTH_MISMATCH":
    case "UND_ERR_ABORTED":
      return "client_closed_request";
  }
  // undici ends the connection on a 1xx it cannot take (an unrequested `100 Continue`, a `101` without an
  // upgrade): the upstream's answer, not a lost connection.
  if (code === "UND_ERR_SOCKET" && UNTAKEN_INTERIM.has((err as Error).message)) return "upstream_protocol_error";
  if (CONNECT_CODES.has(code)) return "upstream_connect_failed";
  if (LOST_CODES.has(code)) return "upstream_connection_lost";
  if (TLS_CODES.has(code) || code.startsWith("ERR_TLS_") || code.startsWith("ERR_SSL_") || code.startsWith("UNABLE_TO_") || code.startsWith("CERT_")) {
    return "upstream_tls_failed";
  }
  if (PROTOCOL_CODES.has(code) || code.startsWith("HPE_")) return "upstream_protocol_error";
  return "internal_error";
}
