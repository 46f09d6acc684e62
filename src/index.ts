// The component package's public surface. Re-exports only.
export * from "./args";
export * from "./errors";
export * from "./kubernetes-objects";
export * from "./openai-compatible-provider";
export * from "./presets";
export * from "./render";
export { ProviderSettings, ResolvedArgs, resolveSettings, validateArgs } from "./settings";
