// The component package's public surface. Re-exports only.
export * from "./args";
export * from "./errors";
export * from "./gateway-args";
export * from "./kubernetes-objects";
export * from "./openai-compatible-gateway";
export * from "./openai-compatible-provider";
export * from "./presets";
export * from "./proxy-args";
export { PROXY_MOUNTS, RenderedProxyConfig, renderProxyConfig, servedObjects } from "./proxy-config";
export { DATA_PLANES, DataPlane, DEFAULT_PROXY_RESOURCES, ProxySettings, resolveProxySettings } from "./proxy-settings";
export * from "./render";
export * from "./render-proxy";
export { ProviderSettings, ResolvedArgs, resolveSettings, validateArgs } from "./settings";
export * from "./version";
