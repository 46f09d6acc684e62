// The multi-language SDKs (`pulumi package add`, PulumiPlugin.yaml) are generated from the schema
// that Pulumi's component analyzer derives from these classes. It accepts only what a schema can
// express (no unions, no resource handles as outputs), so a change that breaks SDK generation
// fails here rather than in a user's `pulumi package add`.
import * as fs from "node:fs";
import * as path from "node:path";
import { Analyzer, type AnalyzeResult, type PropertyDefinition } from "@pulumi/pulumi/provider/experimental/analyzer";
import { OpenAICompatibleGateway, OpenAICompatibleProvider } from "../src";

const root = path.resolve(__dirname, "..");

/** The outputs each component registers, which the schema (and so every SDK) carries. */
const PROVIDER_OUTPUTS = [
    "namespace", "secretName", "caConfigMapName", "backendName", "httpRouteName", "backendTLSPolicyName", "routePath", "url",
    "upstreamUrl", "model", "clientCredential", "dataPlane", "proxyServiceName", "proxyConfig", "clientKeys",
];
const GATEWAY_OUTPUTS = ["clientKeys", "namespace", "proxyConfig", "serviceName", "serviceUrl", "urls"];
// eslint-disable-next-line @typescript-eslint/no-require-imports
const packageJson = require("../package.json") as Record<string, unknown>;

const analyses = new Map<string, AnalyzeResult>();

/** The analyzer's result for `component`, computed once per file. */
function analyze(component: string): AnalyzeResult {
    let result = analyses.get(component);
    if (result === undefined) {
        result = new Analyzer(root, "openai-compatible", packageJson, new Set([component])).analyze();
        analyses.set(component, result);
    }
    return result;
}

/**
 * Every component and property, nested types included, must carry its JSDoc into the schema as
 * text. The analyzer joins a comment holding `{@link X}` as "[object Object],...", so such a
 * comment counts as missing.
 */
function undocumented(result: AnalyzeResult): string[] {
    const missing: string[] = [];
    const documented = (description: string | undefined) => !!description && !description.includes("[object Object]");
    const check = (where: string, props: Record<string, PropertyDefinition> | undefined) => {
        for (const [name, prop] of Object.entries(props ?? {})) if (!documented(prop.description)) missing.push(`${where}.${name}`);
    };
    for (const c of Object.values(result.components)) {
        if (!documented(c.description)) missing.push(c.name);
        check(`${c.name} input`, c.inputs);
        check(`${c.name} output`, c.outputs);
    }
    for (const [name, t] of Object.entries(result.typeDefinitions)) {
        if (t.description !== undefined && !documented(t.description)) missing.push(name);
        check(name, t.properties);
    }
    return missing;
}

describe("the schema behind SDK generation", () => {
    // The analyzer type-checks the whole project once per call.
    jest.setTimeout(120_000);

    test("OpenAICompatibleProvider analyses, with every argument and output documented", () => {
        const result = analyze("OpenAICompatibleProvider");
        const c = result.components.OpenAICompatibleProvider!;
        expect(Object.keys(c.inputs).sort()).toEqual(
            [
                "preset", "host", "port", "path", "model", "authHeader", "apiKey", "apiKeySecretName", "passthrough", "namespace",
                "kubernetesName", "route", "tls", "labels", "annotations", "dataPlane", "proxy",
            ].sort(),
        );
        expect(Object.keys(c.outputs).sort()).toEqual([...PROVIDER_OUTPUTS].sort());
        expect(c.inputs.port).toMatchObject({ type: "number" });
        expect(c.inputs.route).toMatchObject({ $ref: "#/types/openai-compatible:index:RouteArgs" });
        expect(result.dependencies).toEqual([]);
        expect(undocumented(result)).toEqual([]);
    });

    test("OpenAICompatibleGateway analyses, with every argument and output documented", () => {
        const result = analyze("OpenAICompatibleGateway");
        const c = result.components.OpenAICompatibleGateway!;
        expect(Object.keys(c.inputs).sort()).toEqual(["annotations", "kubernetesName", "labels", "namespace", "providers", "proxy"]);
        expect(Object.keys(c.outputs).sort()).toEqual([...GATEWAY_OUTPUTS].sort());
        expect(undocumented(result)).toEqual([]);
    });
});

/** The getters of a component class: TypeScript-only handles, not outputs. */
function getters(component: { prototype: object }): string[] {
    return Object.entries(Object.getOwnPropertyDescriptors(component.prototype))
        .filter(([, d]) => d.get !== undefined)
        .map(([name]) => name);
}

/** The names README.md lists as outputs and as getters, in the first "Outputs ... Getters ..." text after `heading`. */
function readmeLists(heading: string): { outputs: string[]; getters: string[] } {
    const readme = fs.readFileSync(path.join(root, "README.md"), "utf8");
    const outputsAt = readme.indexOf("\nOutputs", readme.indexOf(heading));
    const gettersAt = readme.indexOf("Getters", outputsAt);
    const end = readme.indexOf("\n\n", gettersAt);
    const names = (text: string) => [...text.matchAll(/`([A-Za-z]+)`/g)].map((m) => m[1]!);
    return { outputs: names(readme.slice(outputsAt, gettersAt)), getters: names(readme.slice(gettersAt, end)) };
}

describe("README.md says exactly what is an output and what is a getter", () => {
    it.each([
        ["## The component: `OpenAICompatibleProvider`", PROVIDER_OUTPUTS, getters(OpenAICompatibleProvider)],
        ["### Several providers, one proxy: `OpenAICompatibleGateway`", GATEWAY_OUTPUTS, getters(OpenAICompatibleGateway)],
    ])("%s", (heading, outputs, classGetters) => {
        const listed = readmeLists(heading);
        expect(listed.outputs).toEqual(expect.arrayContaining(outputs));
        expect(listed.outputs.filter((n) => classGetters.includes(n))).toEqual([]);
        expect(listed.getters).toEqual(expect.arrayContaining(classGetters));
        expect(listed.getters.filter((n) => outputs.includes(n))).toEqual([]);
    });
});

/** The rows of the README.md argument table that follows `heading`. */
function readmeArgumentRows(heading: string): { argument: string; meaning: string }[] {
    const readme = fs.readFileSync(path.join(root, "README.md"), "utf8");
    const tableAt = readme.indexOf("\n| argument | meaning |", readme.indexOf(heading));
    const table = readme.slice(tableAt + 1, readme.indexOf("\n\n", tableAt)).split("\n").slice(2);
    return table.map((row) => {
        const cells = /^\| (.*?) \| (.*) \|$/.exec(row);
        return { argument: cells?.[1] ?? "", meaning: cells?.[2] ?? "" };
    });
}

describe("README.md's argument table of each component names every argument and marks the required ones", () => {
    jest.setTimeout(120_000);

    it.each([
        ["OpenAICompatibleProvider", "## The component: `OpenAICompatibleProvider`"],
        ["OpenAICompatibleGateway", "### Several providers, one proxy: `OpenAICompatibleGateway`"],
    ])("%s", (component, heading) => {
        const inputs = analyze(component).components[component]!.inputs;
        const rows = readmeArgumentRows(heading);
        for (const [name, input] of Object.entries(inputs)) {
            const row = rows.find((r) => new RegExp(`\`${name}(?![A-Za-z0-9])`).test(r.argument));
            expect([name, row !== undefined]).toEqual([name, true]);
            if (!input.optional) expect([name, row!.meaning]).toEqual([name, expect.stringContaining("**required**")]);
        }
    });
});
