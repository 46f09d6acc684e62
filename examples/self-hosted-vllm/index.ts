// `pulumi up` entry point: the program lives in program.ts so that tests can run it under mocks.
import { selfHostedVllmExample } from "./program";

const vllm = selfHostedVllmExample();

export const url = vllm.url;
export const upstreamUrl = vllm.upstreamUrl;
export const proxyServiceName = vllm.proxyServiceName;
