// openai-compatible-proxy: the server API. The pure translation is at `openai-compatible-proxy/translate`.
export * from "./translate/index";
export { ProxyServer, DEFAULT_ADMIN_LISTEN, DEFAULT_LISTEN, type ListenAddress, type ProxyServerOptions, type ProxySource } from "./server/proxy-server";
export { ERROR_CATALOGUE, ProxyError, codeForError, errorBody, sseErrorEvent, type ErrorCode, type ErrorSpec } from "./server/errors";
export { ProxyMetrics } from "./server/metrics";
export { createLogger, type Logger } from "./server/logger";
export { ConfigLoadError } from "./config/config-load-error";
export { loadConfig, type ConfigSource, type LoadedConfig } from "./config/load-config";
export { replaceModel, topLevelValueSpans } from "./server/model-rewrite";
