/*
 * The proxy this package deploys by default. The component and the proxy are released together
 * from this repository at the same version, so the default image always reads the `ProxyConfig`
 * the component renders; test/proxy-data-plane.test.ts keeps these in step with both package.json files.
 */

/** This package's version, and the default tag of the proxy image. */
export const PROXY_VERSION = "0.1.0";

/**
 * The default image repository of `openai-compatible-proxy`, built from `proxy/Dockerfile`. Set
 * `proxy.image` to deploy from your own registry.
 */
export const PROXY_IMAGE_REPOSITORY = "ghcr.io/openai-compatible-provider/openai-compatible-proxy";
