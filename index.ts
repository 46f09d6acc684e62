// The platform team's stack (Pulumi.yaml `main`): providers come from stack config, see
// platform/program.ts and README.md. The logic lives in platform/program.ts so tests can run it.
import * as pulumi from "@pulumi/pulumi";
import { platformStack } from "./platform/program";

const { providers, gateway } = platformStack();

/** Per provider: the base URL clients use (`route.baseUrl` + path prefix, or the path prefix). */
export const urls = pulumi.all(Object.fromEntries(Object.entries(providers).map(([name, p]) => [name, p.url])));
/** Per provider: the upstream endpoint the gateway calls. */
export const upstreams = pulumi.all(Object.fromEntries(Object.entries(providers).map(([name, p]) => [name, p.upstreamUrl])));
/** The shared proxy inside the cluster (with `dataPlane: proxy`, the default). */
export const proxyServiceUrl = gateway?.serviceUrl;
/** The proxy's client keys by name, with `proxy.clientKeys` (secret: `pulumi stack output --show-secrets clientKeys`). */
export const clientKeys = gateway?.clientKeys;
