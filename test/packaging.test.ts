// What a user gets from `npm install`: the two published tarballs. `npm pack` packs the built dist/
// (this test never builds: run `npm run build` first), the file lists are checked against what the
// sources and package.json promise, and the tarballs are installed the way npm would, without the
// network: extracted into a consumer's node_modules, next to their declared dependencies linked from
// this repository's node_modules. There the packed packages must load, the packed .d.ts files must
// type-check a user's program, and the packed CLI must run. The temporary directory is removed at the
// end (set OCP_KEEP_PACKAGING_DIR=1 to keep it).
import { execFileSync, spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";

const repo = path.resolve(__dirname, "..");
const proxyDir = path.join(repo, "proxy");
const tsc = path.join(repo, "node_modules", ".bin", "tsc");

interface PackedPackage {
    name: string;
    version: string;
    /** Where the tarball was unpacked: <consumer>/node_modules/<name>. */
    dir: string;
    /** The packed files, as `npm pack --json` lists them, sorted. */
    files: string[];
    size: number;
    unpackedSize: number;
    manifest: PackageJson;
}

interface PackageJson {
    name: string;
    version: string;
    main?: string;
    types?: string;
    bin?: Record<string, string>;
    exports?: Record<string, string | Record<string, string>>;
    typesVersions?: Record<string, Record<string, string[]>>;
    files?: string[];
    dependencies?: Record<string, string>;
}

let tmp: string;
let consumer: string;
let root: PackedPackage;
let proxy: PackedPackage;

/** Every file under `dir`, relative to it, with forward slashes. */
function walk(dir: string, prefix = ""): string[] {
    return fs.readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
        const relative = prefix + entry.name;
        return entry.isDirectory() ? walk(path.join(dir, entry.name), `${relative}/`) : [relative];
    });
}

/** The outputs tsc writes for each source file under `srcDir` (no tests, no .d.ts), in `distPrefix`. */
function compiledOutputs(srcDir: string, distPrefix: string): string[] {
    return walk(srcDir)
        .filter((f) => f.endsWith(".ts") && !f.endsWith(".d.ts") && !/\.(test|spec)\.ts$/.test(f))
        .flatMap((f) => {
            const base = distPrefix + f.slice(0, -".ts".length);
            return [`${base}.js`, `${base}.js.map`, `${base}.d.ts`];
        });
}

/** `npm pack` of the package in `cwd` into `tmp`, unpacked into the consumer's node_modules. */
function packAndInstall(cwd: string): PackedPackage {
    const pack = spawnSync("npm", ["pack", "--json", "--ignore-scripts", "--pack-destination", tmp], { cwd, encoding: "utf8" });
    if (pack.status !== 0) throw new Error(`npm pack in ${cwd} failed (${pack.status ?? pack.signal}):\n${pack.stderr}`);
    const [result] = JSON.parse(pack.stdout) as { name: string; version: string; filename: string; size: number; unpackedSize: number; files: { path: string }[] }[];
    if (!result) throw new Error(`npm pack in ${cwd} printed no package:\n${pack.stdout}`);
    const dir = path.join(consumer, "node_modules", result.name);
    fs.mkdirSync(dir, { recursive: true });
    // Every entry of an npm tarball is under `package/`.
    execFileSync("tar", ["-xzf", path.join(tmp, result.filename), "-C", dir, "--strip-components=1"]);
    return {
        name: result.name,
        version: result.version,
        dir,
        files: result.files.map((f) => f.path).sort(),
        size: result.size,
        unpackedSize: result.unpackedSize,
        manifest: JSON.parse(fs.readFileSync(path.join(dir, "package.json"), "utf8")) as PackageJson,
    };
}

/** Where this repository installed `name` for the workspace in `workspace`, the way Node.js would find it. */
function installedDependency(workspace: string, name: string): string {
    for (let dir = workspace; ; dir = path.dirname(dir)) {
        const candidate = path.join(dir, "node_modules", name);
        if (fs.existsSync(path.join(candidate, "package.json"))) return fs.realpathSync(candidate);
        if (dir === repo || dir === path.dirname(dir)) throw new Error(`${name} is not installed for ${workspace}; run npm ci`);
    }
}

/** The version of `name` this repository installed at its root. */
function installedVersion(name: string): string {
    return (JSON.parse(fs.readFileSync(path.join(installedDependency(repo, name), "package.json"), "utf8")) as { version: string }).version;
}

/** Links `name` from this repository's node_modules (as installed for `workspace`) into the consumer's. */
function linkDependency(workspace: string, name: string, wanted: string): void {
    const source = installedDependency(workspace, name);
    const { version } = JSON.parse(fs.readFileSync(path.join(source, "package.json"), "utf8")) as { version: string };
    // Both packages pin exact versions, so the installed copy must be that version.
    if (version !== wanted) throw new Error(`${name}: the tarball declares ${wanted}, but ${source} is ${version}`);
    const target = path.join(consumer, "node_modules", name);
    if (fs.existsSync(target)) {
        if (fs.realpathSync(target) !== source) throw new Error(`${name}: two versions are declared (${fs.realpathSync(target)}, ${source})`);
        return;
    }
    fs.mkdirSync(path.dirname(target), { recursive: true });
    fs.symlinkSync(source, target, "dir");
}

/** Runs `file` with `args` in the consumer directory; its stdout, or an error carrying both streams. */
function run(file: string, args: string[], env: NodeJS.ProcessEnv = process.env): string {
    const result = spawnSync(file, args, { cwd: consumer, encoding: "utf8", env: { ...env, NODE_PATH: "" }, timeout: 60_000 });
    if (result.status !== 0) {
        throw new Error(`${path.basename(file)} ${args.join(" ")} exited with ${result.status ?? result.signal}:\n${result.stdout}${result.stderr}`);
    }
    return result.stdout;
}

beforeAll(() => {
    const missing = ["dist/src/index.js", "dist/src/index.d.ts", "proxy/dist/cli.js", "proxy/dist/translate/index.d.ts"].filter(
        (f) => !fs.existsSync(path.join(repo, f)),
    );
    if (missing.length > 0) {
        throw new Error(`dist is missing (${missing.join(", ")}): run \`npm run build\` before this test, which packs the built output and never builds`);
    }
    tmp = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), "ocp-packaging-")));
    consumer = path.join(tmp, "consumer");
    fs.mkdirSync(path.join(consumer, "node_modules"), { recursive: true });
    fs.writeFileSync(path.join(consumer, "package.json"), JSON.stringify({ name: "consumer", private: true }));
    root = packAndInstall(repo);
    proxy = packAndInstall(proxyDir);
    const ours = new Set([root.name, proxy.name]);
    for (const [pkg, workspace] of [[root, repo], [proxy, proxyDir]] as const) {
        for (const [name, version] of Object.entries(pkg.manifest.dependencies ?? {})) {
            if (!ours.has(name)) linkDependency(workspace, name, version);
        }
    }
    // The user's own dev dependency for the type-check below.
    linkDependency(repo, "@types/node", installedVersion("@types/node"));
}, 60_000);

afterAll(() => {
    // OCP_KEEP_PACKAGING_DIR=1 keeps the tarballs and the consumer, to look at after a failure.
    if (tmp && !process.env.OCP_KEEP_PACKAGING_DIR) fs.rmSync(tmp, { recursive: true, force: true });
});

/** The repository's own sources and builds: nothing the consumer loads may come from there. */
const repoBuild = ["dist", "src", "proxy/dist", "proxy/src"].map((d) => path.join(fs.realpathSync(repo), d) + path.sep);

/** What must never be in a tarball, whatever "files" says. */
const FORBIDDEN: [string, RegExp][] = [
    ["a test file", /(^|\/)(test|tests|__tests__|fixtures)\/|\.(test|spec)\.[cm]?[jt]s/],
    ["a TypeScript source (not a declaration)", /(?<!\.d)\.[cm]?ts$/],
    ["the sources", /^(src|proxy)\//],
    ["CI scripts", /^\.ci(\/|$)|^\.github\//],
    ["the benchmark", /(^|\/)bench\//],
    ["the control-plane test tier", /(^|\/)controlplane\//],
    ["the examples", /(^|\/)examples\//],
    ["the platform stack", /^(platform\/|Pulumi\.yaml$|index\.ts$)/],
    ["a build cache", /\.tsbuildinfo$|(^|\/)coverage\//],
    ["a dependency", /(^|\/)node_modules\//],
    ["a tarball", /\.tgz$/],
    ["a profile", /\.cpuprofile$/],
    ["a key or certificate file", /(^|\/)\.env|\.(pem|key|crt|p12|pfx)$/],
    ["a Dockerfile", /(^|\/)Dockerfile/],
];

/** Strings that look like a credential, in any packed file's text. */
const KEY_LOOKING: RegExp[] = [
    /-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----/,
    /\bsk-(?:proj-|ant-)?[A-Za-z0-9_-]{20,}/, // OpenAI, Anthropic
    /\bAKIA[0-9A-Z]{16}\b/, // AWS
    /\bgh[pousr]_[A-Za-z0-9]{36,}/, // GitHub
    /\bnpm_[A-Za-z0-9]{36}\b/,
    /\bxox[abprs]-[A-Za-z0-9-]{10,}/, // Slack
    /\bAIza[0-9A-Za-z_-]{35}\b/, // Google
    /\bgsk_[A-Za-z0-9]{20,}/, // Groq
    /\bhf_[A-Za-z0-9]{30,}/, // Hugging Face
    /\beyJ[A-Za-z0-9_-]{10,}\.eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}/, // a JWT
];

function forbiddenFiles(pkg: PackedPackage): string[] {
    return pkg.files.flatMap((f) => FORBIDDEN.filter(([, pattern]) => pattern.test(f)).map(([what]) => `${f} (${what})`));
}

function keyLookingFiles(pkg: PackedPackage): string[] {
    return pkg.files.filter((f) => {
        const text = fs.readFileSync(path.join(pkg.dir, f), "latin1");
        return KEY_LOOKING.some((pattern) => pattern.test(text));
    });
}

/** Every file package.json points at: main, types, bin, exports and typesVersions targets. */
function entryPoints(manifest: PackageJson): string[] {
    const targets = [manifest.main, manifest.types, ...Object.values(manifest.bin ?? {})];
    for (const target of Object.values(manifest.exports ?? {})) targets.push(...(typeof target === "string" ? [target] : Object.values(target)));
    for (const map of Object.values(manifest.typesVersions ?? {})) for (const list of Object.values(map)) targets.push(...list);
    return [...new Set(targets.filter((t): t is string => t !== undefined).map((t) => path.posix.normalize(t)))].sort();
}

/** The packed .js files whose `//# sourceMappingURL=` names a file that was not packed. */
function danglingSourceMaps(pkg: PackedPackage): string[] {
    const packed = new Set(pkg.files);
    return pkg.files
        .filter((f) => f.endsWith(".js"))
        .flatMap((f) => {
            const url = /\/\/# sourceMappingURL=(\S+)\s*$/.exec(fs.readFileSync(path.join(pkg.dir, f), "utf8"))?.[1];
            const map = url === undefined ? undefined : path.posix.join(path.posix.dirname(f), url);
            return map !== undefined && !packed.has(map) ? [`${f} -> ${map}`] : [];
        });
}

describe("the openai-compatible-provider tarball", () => {
    it("is the compiled src/ (each source's .js, .d.ts and map), PulumiPlugin.yaml, README.md, LICENSE and package.json, nothing else", () => {
        expect(root.files).toEqual(expect.arrayContaining(["dist/src/index.js", "dist/src/index.d.ts", "PulumiPlugin.yaml", "README.md", "LICENSE", "package.json"]));
        // A file in dist/src without a source (a stale build) or a source without its outputs fails here.
        expect(root.files).toEqual([...compiledOutputs(path.join(repo, "src"), "dist/src/"), "LICENSE", "PulumiPlugin.yaml", "README.md", "package.json"].sort());
    });

    it("holds no test, source, CI, bench, example, build cache, dependency or key", () => {
        expect(forbiddenFiles(root)).toEqual([]);
        expect(keyLookingFiles(root)).toEqual([]);
    });

    it("packs every file its package.json points at, and each source map a .js names", () => {
        expect(entryPoints(root.manifest)).toEqual(["dist/src/index.d.ts", "dist/src/index.js"]);
        expect(entryPoints(root.manifest).filter((f) => !root.files.includes(f))).toEqual([]);
        expect(danglingSourceMaps(root)).toEqual([]);
    });

    it("depends on the proxy package of its own version, released together", () => {
        expect(root.manifest.dependencies?.[proxy.name]).toBe(root.version);
        expect(proxy.version).toBe(root.version);
    });
});

describe("the openai-compatible-proxy tarball", () => {
    it("is bin/, the compiled src/ (each source's .js, .d.ts and map), schema/, docs/, README.md, LICENSE and package.json, nothing else", () => {
        expect(proxy.files).toEqual(
            expect.arrayContaining([
                "bin/openai-compatible-proxy.js",
                "dist/cli.js",
                "dist/cli.d.ts",
                "dist/index.js",
                "dist/index.d.ts",
                "dist/translate/index.js",
                "dist/translate/index.d.ts",
                "docs/errors.md",
                "schema/proxy-config.schema.json",
                "README.md",
                "LICENSE",
                "package.json",
            ]),
        );
        const committed = (dir: string) => walk(path.join(proxyDir, dir)).map((f) => `${dir}/${f}`);
        expect(proxy.files).toEqual(
            [...committed("bin"), ...compiledOutputs(path.join(proxyDir, "src"), "dist/"), ...committed("docs"), ...committed("schema"), "LICENSE", "README.md", "package.json"].sort(),
        );
    });

    it("holds no test, source, CI, bench, example, build cache, dependency or key", () => {
        expect(forbiddenFiles(proxy)).toEqual([]);
        expect(keyLookingFiles(proxy)).toEqual([]);
    });

    it("packs every file its package.json points at, and each source map a .js names", () => {
        expect(entryPoints(proxy.manifest)).toEqual([
            "bin/openai-compatible-proxy.js",
            "dist/index.d.ts",
            "dist/index.js",
            "dist/translate/index.d.ts",
            "dist/translate/index.js",
            "package.json",
        ]);
        expect(entryPoints(proxy.manifest).filter((f) => !proxy.files.includes(f))).toEqual([]);
        expect(danglingSourceMaps(proxy)).toEqual([]);
    });

    it("ships the ProxyConfig JSON schema, as valid JSON", () => {
        const schemas = proxy.files.filter((f) => f.startsWith("schema/"));
        expect(schemas).toEqual(["schema/proxy-config.schema.json"]);
        for (const f of schemas) expect(() => JSON.parse(fs.readFileSync(path.join(proxy.dir, f), "utf8")) as unknown).not.toThrow();
    });
});

describe("installed from the tarballs", () => {
    it("loads in Node.js with only the declared dependencies, the component on the packed proxy", () => {
        const script = `
            const pulumi = require("@pulumi/pulumi");
            const component = require("openai-compatible-provider");
            const translate = require("openai-compatible-proxy/translate");
            const server = require("openai-compatible-proxy");
            const loadedFromRepo = Object.keys(require.cache).filter((f) => ${JSON.stringify(repoBuild)}.some((d) => f.startsWith(d)));
            process.stdout.write(JSON.stringify({
                component: Object.keys(component).sort(),
                components: ["OpenAICompatibleProvider", "OpenAICompatibleGateway"]
                    .filter((c) => typeof component[c] === "function" && component[c].prototype instanceof pulumi.ComponentResource),
                version: component.PROXY_VERSION,
                translate: Object.keys(translate).sort(),
                server: typeof server.ProxyServer,
                resolved: [require.resolve("openai-compatible-provider"), require.resolve("openai-compatible-proxy/translate")],
                loadedFromRepo,
            }));`;
        const loaded = JSON.parse(run(process.execPath, ["-e", script])) as {
            component: string[];
            components: string[];
            version: string;
            translate: string[];
            server: string;
            resolved: string[];
            loadedFromRepo: string[];
        };
        expect(loaded.resolved).toEqual([path.join(root.dir, "dist/src/index.js"), path.join(proxy.dir, "dist/translate/index.js")]);
        expect(loaded.loadedFromRepo).toEqual([]);
        expect(loaded.components).toEqual(["OpenAICompatibleProvider", "OpenAICompatibleGateway"]);
        expect(loaded.component).toEqual(
            expect.arrayContaining(["PRESETS", "PRESET_NAMES", "ProviderArgumentError", "renderObjects", "renderProxyConfig", "validateArgs", "PROXY_VERSION"]),
        );
        expect(loaded.version).toBe(root.version);
        expect(loaded.translate).toEqual(expect.arrayContaining(["fromGatewayObjects", "validateProxyConfig", "caBundleProblem", "PROXY_CONFIG_API_VERSION"]));
        expect(loaded.server).toBe("function");
    });

    it("type-checks a user's program against the packed .d.ts files (skipLibCheck off)", () => {
        fs.writeFileSync(
            path.join(consumer, "index.ts"),
            `import * as pulumi from "@pulumi/pulumi";
import { OpenAICompatibleGateway, OpenAICompatibleProvider, type OpenAICompatibleProviderArgs } from "openai-compatible-provider";
import { fromGatewayObjects, type ProxyConfig } from "openai-compatible-proxy/translate";
import { ProxyServer } from "openai-compatible-proxy";

/** A user's own component: Mistral behind the cluster's Gateway, as the README's quickstart writes it. */
export class LlmPlatform extends pulumi.ComponentResource {
    public readonly url: pulumi.Output<string>;

    constructor(name: string, args: { apiKey: pulumi.Input<string> }, opts?: pulumi.ComponentResourceOptions) {
        super("acme:llm:Platform", name, {}, opts);
        const providerArgs: OpenAICompatibleProviderArgs = {
            preset: "mistral",
            apiKey: args.apiKey,
            model: "mistral-medium-2505",
            namespace: "kgateway-system",
            route: { gateway: { name: "agentgateway" }, pathPrefix: "/mistral" },
        };
        const mistral = new OpenAICompatibleProvider(\`\${name}-mistral\`, providerArgs, { parent: this });
        this.url = mistral.url;
        // The types are real, not \`any\` from a declaration that failed to resolve.
        // @ts-expect-error apiKey is an Input<string>
        new OpenAICompatibleProvider(\`\${name}-bad\`, { ...providerArgs, apiKey: 42 }, { parent: this });
        this.registerOutputs({ url: this.url });
    }
}

export const gateway: typeof OpenAICompatibleGateway = OpenAICompatibleGateway;
export const translated: ProxyConfig = fromGatewayObjects([]).config;
export const server: typeof ProxyServer = ProxyServer;
`,
        );
        // node10 is what Pulumi's TypeScript templates use (the proxy's subpath resolves through
        // typesVersions there); node16 resolves it through "exports". Under node10, zod's and pino's
        // own declarations (zod/v4/locales/index.d.cts, pino.d.ts) default-import CommonJS modules and
        // fail without esModuleInterop (TS1259), which node16 implies; that is theirs, not ours.
        const configs = {
            "tsconfig.node10.json": { module: "commonjs", moduleResolution: "node10", esModuleInterop: true },
            "tsconfig.node16.json": { module: "node16", moduleResolution: "node16" },
        };
        for (const [file, resolution] of Object.entries(configs)) {
            fs.writeFileSync(
                path.join(consumer, file),
                JSON.stringify({
                    compilerOptions: { ...resolution, target: "ES2022", lib: ["ES2023"], types: ["node"], strict: true, skipLibCheck: false, noEmit: true },
                    files: ["index.ts"],
                }),
            );
            // No output but the files it read: no error, in index.ts or in any declaration file.
            const files = run(tsc, ["-p", file, "--listFiles"]).trim().split("\n");
            // Our declarations come from the tarballs, none from the repository.
            expect({ file, fromRepo: files.filter((f) => repoBuild.some((d) => f.startsWith(d))) }).toEqual({ file, fromRepo: [] });
            expect(files).toEqual(expect.arrayContaining([path.join(root.dir, "dist/src/index.d.ts"), path.join(proxy.dir, "dist/translate/index.d.ts"), path.join(proxy.dir, "dist/index.d.ts")]));
        }
    }, 120_000);

    it("runs the packed CLI: --version from dist/cli.js and from the bin npm links", () => {
        expect(run(process.execPath, [path.join(proxy.dir, "dist/cli.js"), "--version"])).toBe(`${proxy.version}\n`);
        // What npm does at install: link each "bin" into node_modules/.bin and make its target executable.
        const binDir = path.join(consumer, "node_modules", ".bin");
        fs.mkdirSync(binDir, { recursive: true });
        for (const [name, target] of Object.entries(proxy.manifest.bin ?? {})) {
            const script = path.join(proxy.dir, target);
            expect(fs.readFileSync(script, "utf8")).toMatch(/^#!\/usr\/bin\/env node\n/);
            fs.chmodSync(script, 0o755);
            fs.symlinkSync(path.relative(binDir, script), path.join(binDir, name));
        }
        expect(Object.keys(proxy.manifest.bin ?? {})).toEqual(["openai-compatible-proxy"]);
        const PATH = [path.dirname(process.execPath), process.env.PATH].join(path.delimiter);
        expect(run(path.join(binDir, "openai-compatible-proxy"), ["--version"], { ...process.env, PATH })).toBe(`${proxy.version}\n`);
        expect(run(path.join(binDir, "openai-compatible-proxy"), ["--help"], { ...process.env, PATH })).toContain("--config FILE");
    });
});
