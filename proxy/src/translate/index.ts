// The translation subpath `openai-compatible-proxy/translate`: pure, no server code.
export {
  fromGatewayObjects,
  OPENAI_DEFAULT_HOST,
  OPENAI_DEFAULT_PATH,
  type FromGatewayObjectsOptions,
  type TranslationProblem,
  type TranslationResult,
} from "./from-gateway-objects";
export { formatTranslationProblem } from "./format-problem";
export { ManifestValues, type CredentialOrigin } from "./manifest-values";
export { parseGatewayDuration } from "./gateway-duration";
export { hasDotSegment } from "./path-segments";
export { caBundleProblem, type CaBundleProblem } from "./pem-bundle";
export {
  BackendSchema,
  CredentialSourceSchema,
  DEFAULT_MAX_REQUEST_BODY_BYTES,
  HEADER_VALUE,
  PROXY_CONFIG_API_VERSION,
  ProxyConfigError,
  ProxyConfigSchema,
  RouteSchema,
  formatFieldPath,
  parseProxyConfig,
  proxyConfigJsonSchema,
  validateProxyConfig,
  type BackendConfig,
  type CaCertificate,
  type ConfigIssue,
  type CredentialSource,
  type ProxyConfig,
  type ProxyConfigInput,
  type RouteConfig,
  type ValidationResult,
} from "../config/schema";
