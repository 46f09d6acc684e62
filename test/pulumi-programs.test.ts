/*
 * Every Pulumi program in the repository (each folder with a Pulumi.yaml) type-checks the way
 * `pulumi up` compiles it. Pulumi's Node.js runtime (@pulumi/pulumi cmd/run/run.js) registers
 * ts-node with the folder's own tsconfig.json, or with no project at all when the folder has none,
 * and with its own `target`, `module` and `moduleResolution` under the compilerOptions written in
 * that file (it reads them without following `extends`); ts-node (the vendored 7.0.1,
 * `readConfig`) then puts its own emit options on top. Without a tsconfig.json that means
 * TypeScript's defaults: no `strict`, so no strictNullChecks.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import ts from "typescript";
import { parse } from "yaml";

const ROOT = path.resolve(__dirname, "..");

/** What Pulumi's runtime sets under a project's own compilerOptions (cmd/run/run.js, ts-node on TypeScript >= 4.7). */
const PULUMI_COMPILER_OPTIONS = { target: "ES2020", module: "nodenext", moduleResolution: "nodenext", sourceMap: true };
/** What ts-node 7.0.1 sets over everything (DEFAULT_COMPILER_OPTIONS). */
const TS_NODE_COMPILER_OPTIONS = { sourceMap: true, inlineSourceMap: false, inlineSources: true, declaration: false, noEmit: false, outDir: "$$ts-node$$" };
/** Diagnostics ts-node always ignores: 6059 (rootDir), 18002 and 18003 (no input files). */
const TS_NODE_IGNORED = new Set([6059, 18002, 18003]);

/** The repository's settings, as `tsc` reads tsconfig.base.json. */
function baseOptions(): ts.CompilerOptions {
    const configFile = path.join(ROOT, "tsconfig.base.json");
    const read = ts.readConfigFile(configFile, (f) => ts.sys.readFile(f));
    return ts.parseJsonConfigFileContent({ ...(read.config as object), files: [] }, ts.sys, ROOT, undefined, configFile).options;
}

/** Every folder holding a Pulumi.yaml, relative to the repository root ("" for the root). */
function pulumiProjects(dir = ROOT): string[] {
    const found = fs.existsSync(path.join(dir, "Pulumi.yaml")) ? [path.relative(ROOT, dir)] : [];
    for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
        if (entry.isDirectory() && !entry.name.startsWith(".") && !["node_modules", "dist", "coverage"].includes(entry.name)) {
            found.push(...pulumiProjects(path.join(dir, entry.name)));
        }
    }
    return found;
}

/** The program's entry point: Pulumi.yaml `main` (a file, or a folder holding index.ts), else index.ts. */
function entryPoint(project: string): string {
    const dir = path.join(ROOT, project);
    const { main } = (parse(fs.readFileSync(path.join(dir, "Pulumi.yaml"), "utf8")) ?? {}) as { main?: string };
    const entry = path.resolve(dir, main ?? "index.ts");
    return fs.existsSync(entry) && fs.statSync(entry).isDirectory() ? path.join(entry, "index.ts") : entry;
}

/** The compiler options ts-node gets from `pulumi up` in `project`, with its tsconfig.json or, with `useTsconfig: false`, none. */
function pulumiCompilerOptions(project: string, useTsconfig: boolean): ts.CompilerOptions {
    const configFile = path.join(ROOT, project, "tsconfig.json");
    let config: { compilerOptions?: Record<string, unknown>; include?: unknown } = {};
    if (useTsconfig) {
        const read = ts.readConfigFile(configFile, (f) => ts.sys.readFile(f));
        if (read.error) throw new Error(format([read.error]));
        config = read.config as typeof config;
    }
    // Only the options matter: ts-node compiles the files Node.js loads, not the project's file list.
    const { include: _include, ...rest } = config;
    const parsed = ts.parseJsonConfigFileContent(
        { ...rest, files: [], compilerOptions: { ...PULUMI_COMPILER_OPTIONS, ...config.compilerOptions, ...TS_NODE_COMPILER_OPTIONS } },
        ts.sys,
        path.join(ROOT, project),
        undefined,
        useTsconfig ? configFile : undefined,
    );
    const errors = parsed.errors.filter((d) => !TS_NODE_IGNORED.has(d.code));
    if (errors.length > 0) throw new Error(format(errors));
    return parsed.options;
}

// Declaration files under node_modules (TypeScript's libs, @pulumi/kubernetes' large typings) are
// parsed once for the whole file; each program still binds and checks its own sources.
const declarationFiles = new Map<string, ts.SourceFile>();

function compilerHost(options: ts.CompilerOptions): ts.CompilerHost {
    const host = ts.createCompilerHost(options);
    const getSourceFile = host.getSourceFile.bind(host);
    host.getSourceFile = (fileName, languageVersion, ...rest) => {
        if (!fileName.includes("/node_modules/") || !fileName.endsWith(".d.ts")) return getSourceFile(fileName, languageVersion, ...rest);
        const version = typeof languageVersion === "object" ? `${languageVersion.languageVersion}/${languageVersion.impliedNodeFormat}` : `${languageVersion}`;
        const key = `${version}\0${fileName}`;
        let file = declarationFiles.get(key);
        if (file === undefined) {
            file = getSourceFile(fileName, languageVersion, ...rest);
            if (file !== undefined) declarationFiles.set(key, file);
        }
        return file;
    };
    return host;
}

/**
 * The errors of compiling `entries` as ts-node would: in the files it compiles, which are this
 * repository's sources that Node.js loads. The proxy package is loaded from its build (`dist/`),
 * not compiled, even where the root tsconfig.json maps its types to its sources.
 */
function typeErrors(entries: string[], options: ts.CompilerOptions): string {
    const program = ts.createProgram(entries, options, compilerHost(options));
    const diagnostics = [...program.getOptionsDiagnostics(), ...program.getGlobalDiagnostics()];
    for (const file of program.getSourceFiles()) {
        const relative = path.relative(ROOT, file.fileName);
        if (file.isDeclarationFile || relative.startsWith("..") || relative.split(path.sep).some((p) => p === "node_modules") || relative.startsWith(`proxy${path.sep}`)) continue;
        diagnostics.push(...program.getSyntacticDiagnostics(file), ...program.getSemanticDiagnostics(file));
    }
    return format(diagnostics.filter((d) => !TS_NODE_IGNORED.has(d.code)));
}

function format(diagnostics: readonly ts.Diagnostic[]): string {
    return ts.formatDiagnostics(diagnostics, { getCanonicalFileName: (f) => f, getCurrentDirectory: () => ROOT, getNewLine: () => "\n" });
}

const projects = pulumiProjects();

describe("every Pulumi program compiles as `pulumi up` compiles it", () => {
    jest.setTimeout(120_000);

    it("finds the root stack and the examples", () => {
        expect(projects).toEqual(expect.arrayContaining(["", "examples/mistral", "examples/deepseek", "examples/platform-shared-proxy", "examples/self-hosted-vllm"]));
    });

    it.each(projects.map((p) => [p === "" ? "." : p]))("%s has a tsconfig.json extending the repository's settings, and type-checks with it", (project) => {
        const configFile = path.join(ROOT, project, "tsconfig.json");
        if (!fs.existsSync(configFile)) {
            throw new Error(`${path.relative(ROOT, configFile)} is missing: without it \`pulumi up\` compiles ${project} with TypeScript's defaults (not strict); add one that extends tsconfig.base.json.`);
        }
        // The repository's settings reach ts-node, not Pulumi's replacements for some of them.
        const options = pulumiCompilerOptions(project, true);
        const settings = ["strict", "noUncheckedIndexedAccess", "target", "module", "moduleResolution", "esModuleInterop"] as const;
        const pick = (o: ts.CompilerOptions) => Object.fromEntries(settings.map((k) => [k, o[k]]));
        expect(pick(options)).toEqual(pick(baseOptions()));
        expect(typeErrors([entryPoint(project)], options)).toBe("");
    });

    it("each also type-checks with no tsconfig.json, under TypeScript's defaults as Pulumi sets them", () => {
        // The options do not depend on the folder then, so one program checks every entry point.
        const options = pulumiCompilerOptions("", false);
        expect(options.strict).toBeUndefined();
        expect(typeErrors(projects.map(entryPoint), options)).toBe("");
    });
});
