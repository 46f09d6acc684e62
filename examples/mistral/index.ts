// `pulumi up` entry point: the program lives in program.ts so that tests can run it under mocks.
import { mistralExample } from "./program";

const mistral = mistralExample();

export const url = mistral.url;
export const upstreamUrl = mistral.upstreamUrl;
export const backendName = mistral.backendName;
export const httpRouteName = mistral.httpRouteName;
