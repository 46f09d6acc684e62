// `pulumi up` entry point: the program lives in program.ts so that tests can run it under mocks.
import * as pulumi from "@pulumi/pulumi";
import { servedObjects } from "../../src";
import { platformSharedProxyExample } from "./program";

const llm = platformSharedProxyExample();

/** The OpenAI base URL of each provider (`gatewayUrl` + prefix). */
export const urls = llm.urls;
/** The client keys (secret): `pulumi stack output --show-secrets clientKeys`. */
export const clientKeys = llm.clientKeys;
/** The shared proxy inside the cluster. */
export const proxyServiceUrl = llm.serviceUrl;
/**
 * The objects the proxy serves, as a Kubernetes `List` without keys, to run the same providers on a
 * laptop: `openai-compatible-proxy --manifests <file> --secrets-dir <dir>` (see README.md).
 */
export const manifests = pulumi
    .all(Object.values(llm.providers).map((p) => p.objects))
    .apply((all) => ({ apiVersion: "v1", kind: "List", items: all.flatMap(servedObjects) }));
