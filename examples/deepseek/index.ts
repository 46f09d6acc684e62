// `pulumi up` entry point: the program lives in program.ts so that tests can run it under mocks.
import { deepseekExample } from "./program";

const deepseek = deepseekExample();

export const url = deepseek.url;
export const upstreamUrl = deepseek.upstreamUrl;
export const backendName = deepseek.backendName;
export const httpRouteName = deepseek.httpRouteName;
