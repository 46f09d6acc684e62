/*
 * Pulumi mocks that record every resource registration, with secrets unwrapped and their paths
 * noted. Pulumi's mocks are process-global (one monitor per process), so every use goes through
 * withRecordingMocks, which runs one program at a time and waits until all its registrations have
 * finished before the next one may install its own mocks.
 */
import { createHash } from "node:crypto";
import * as pulumi from "@pulumi/pulumi";

/** The marker Pulumi uses for secret values on the wire (sdk/nodejs/runtime/rpc.ts). */
const SECRET_SIG_KEY = "4dabf18193072939515e22adb298388d";
const SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270";

/** One resource registration as the engine would receive it. */
export interface RecordedResource {
    type: string;
    name: string;
    custom: boolean;
    /** The provider reference (`urn::id`), or "" for the default provider. */
    provider: string;
    /** The inputs, with secret values unwrapped. */
    inputs: Record<string, unknown>;
    /** JSON-pointer paths of the inputs that arrived as secrets. */
    secretPaths: string[];
}

function unwrapSecrets(value: unknown, at: string, secretPaths: string[]): unknown {
    if (Array.isArray(value)) return value.map((v, i) => unwrapSecrets(v, `${at}/${i}`, secretPaths));
    if (typeof value === "object" && value !== null) {
        const obj = value as Record<string, unknown>;
        if (obj[SECRET_SIG_KEY] === SECRET_SIG) {
            secretPaths.push(at === "" ? "/" : at);
            return unwrapSecrets(obj.value, at, []);
        }
        return Object.fromEntries(Object.entries(obj).map(([k, v]) => [k, unwrapSecrets(v, `${at}/${k}`, secretPaths)]));
    }
    return value;
}

/** Options of one mocked program run. */
export interface MockRunOptions {
    /** The Pulumi project name (`pulumi.getProject()`, and the default config namespace). */
    project?: string;
    stack?: string;
    /** Run as `pulumi preview` (true) or `pulumi up` (false, the default). */
    preview?: boolean;
    /** Stack config, as `pulumi config` would hold it: full keys (`project:key`) to string values. */
    config?: Record<string, string>;
    /** The config keys that are secrets. */
    secretKeys?: string[];
}

let queue: Promise<unknown> = Promise.resolve();

/** `@pulumi/random`'s RandomPassword, whose `result` the provider would generate. */
const RANDOM_PASSWORD = "random:index/randomPassword:RandomPassword";

/**
 * What the random provider would generate for a RandomPassword: here a deterministic function of
 * its name and inputs, so that the same program renders the same keys and a changed `keepers`
 * (a rotation) renders a new one, as a replacement would.
 */
export function mockPassword(name: string, inputs: Record<string, unknown>): string {
    const length = typeof inputs.length === "number" ? inputs.length : 16;
    const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let out = "";
    for (let block = 0; out.length < length; block++) {
        const digest = createHash("sha256").update(`${name}\0${JSON.stringify(inputs.keepers ?? {})}\0${block}`).digest();
        for (const byte of digest) out += alphabet[byte % alphabet.length];
    }
    return out.slice(0, length);
}

/**
 * Waits until every RPC the program started (resource registrations included, each holds an
 * rpcKeepAlive until the monitor answered) has finished. `waitForRPCs` is the SDK's own drain,
 * used by `runtime.disconnect()`; it is marked internal, so its absence fails loudly.
 */
async function drainRpcs(): Promise<void> {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const settings = require("@pulumi/pulumi/runtime/settings") as { waitForRPCs?: () => Promise<void> };
    if (typeof settings.waitForRPCs !== "function") throw new Error("@pulumi/pulumi no longer has runtime/settings.waitForRPCs; update test/support/pulumi-mocks.ts");
    await settings.waitForRPCs();
}

/**
 * Runs `program` under fresh recording mocks and returns what it returned and every registration.
 * Calls are serialized process-wide, and each returns only once every registration it started has
 * reached the mocks.
 */
export function withRecordingMocks<T>(options: MockRunOptions, program: () => Promise<T>): Promise<{ result: T; resources: RecordedResource[] }> {
    const run = async () => {
        const resources: RecordedResource[] = [];
        await pulumi.runtime.setMocks(
            {
                newResource(args: pulumi.runtime.MockResourceArgs) {
                    const secretPaths: string[] = [];
                    const inputs = unwrapSecrets(args.inputs, "", secretPaths) as Record<string, unknown>;
                    resources.push({ type: args.type, name: args.name, custom: args.custom ?? true, provider: args.provider ?? "", inputs, secretPaths });
                    const state = { ...(args.inputs as Record<string, unknown>) };
                    // The API server stores a Secret's stringData base64-encoded under data.
                    const stringData = inputs.stringData as Record<string, string> | undefined;
                    if (args.type === "kubernetes:core/v1:Secret" && stringData) {
                        state.data = Object.fromEntries(Object.entries(stringData).map(([k, v]) => [k, Buffer.from(v).toString("base64")]));
                    }
                    if (args.type === RANDOM_PASSWORD) state.result = mockPassword(args.name, inputs);
                    return { id: `${args.name}-id`, state };
                },
                call(args: pulumi.runtime.MockCallArgs) {
                    return args.inputs as Record<string, unknown>;
                },
            },
            options.project ?? "project",
            options.stack ?? "stack",
            options.preview ?? false,
        );
        pulumi.runtime.setAllConfig(options.config ?? {}, options.secretKeys ?? []);
        try {
            const result = await program();
            return { result, resources };
        } finally {
            // Nothing of this run may reach the next run's mocks.
            await drainRpcs();
        }
    };
    const next = queue.then(run, run);
    queue = next.catch(() => undefined);
    return next;
}

/**
 * The value of `output`, rejecting when it failed (unlike `apply`, which never runs its callback
 * then). Uses the SDK's `OutputImpl.promise()`, the same call `pulumi.all` is built on.
 */
export function settled<T>(output: pulumi.Output<T>): Promise<T> {
    return (output as unknown as { promise(): Promise<T> }).promise();
}

/** Whether `output` is marked secret. */
export function isSecret(output: pulumi.Output<unknown>): Promise<boolean> {
    return (output as unknown as { isSecret: Promise<boolean> }).isSecret;
}


/**
 * An Output whose value is unknown, as `pulumi preview` gives for a resource's output that only
 * `pulumi up` will know. Built with the SDK's Output class itself (its constructor is internal).
 */
export function unknownOutput<T>(): pulumi.Output<T> {
    const OutputImpl = pulumi.Output as unknown as new (...args: unknown[]) => pulumi.Output<T>;
    return new OutputImpl(new Set(), Promise.resolve(undefined), Promise.resolve(false), Promise.resolve(false), Promise.resolve(new Set()));
}
