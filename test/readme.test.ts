/**
 * Facts README.md states that the code decides, where they drift silently: the commands it gives
 * against package.json and .ci/run, the preset list, and the version in image tags and tarball names.
 * (The argument tables and the outputs are checked in sdk-schema.test.ts.)
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { PRESET_NAMES, PROXY_IMAGE_REPOSITORY, PROXY_VERSION } from "../src";

const root = path.resolve(__dirname, "..");
const read = (file: string): string => fs.readFileSync(path.join(root, file), "utf8");
const README = read("README.md");

describe("README.md states what the code does", () => {
    it("its set-up and test commands are the scripts of package.json, and the ones .ci/run runs", () => {
        const block = README.slice(README.indexOf("## Set up, run, test"));
        const commands = /```sh\n([\s\S]*?)```/.exec(block)![1]!.split("\n").map((line) => line.replace(/\s+#.*$/, "").trim());
        expect(commands[0]).toBe("npm ci && npm run build");
        expect(commands[2]).toBe("npm test");
        const scripts = (JSON.parse(read("package.json")) as { scripts: Record<string, string> }).scripts;
        expect(Object.keys(scripts)).toEqual(expect.arrayContaining(["build", "test"]));
        // `.ci/run` also prints `npm --version`, and quietens `npm ci` with --no-audit --no-fund.
        const run = read(".ci/run").split("\n").filter((line) => /^npm (?!--version)/.test(line));
        expect(run.map((line) => line.split(" ").slice(0, 2).join(" "))).toEqual(["npm ci", "npm test"]);
    });

    it("lists the presets there are, as args.ts does", () => {
        const row = README.split("\n").find((line) => line.startsWith("| `preset` |"))!;
        expect([...row.split("|")[2]!.split("(")[0]!.matchAll(/`([a-z]+)`/g)].map((m) => m[1])).toEqual([...PRESET_NAMES]);
        const jsdoc = read("src/args.ts");
        const listed = jsdoc.slice(jsdoc.indexOf("component fills in: one of"), jsdoc.indexOf("`host`, `port` and `path` each override"));
        expect([...listed.matchAll(/`([a-z]+)`/g)].map((m) => m[1])).toEqual([...PRESET_NAMES]);
    });

    it("gives the packages' version in the default image and the tarball names", () => {
        expect(README).toContain(`default \`${PROXY_IMAGE_REPOSITORY}:${PROXY_VERSION}\``);
        expect(README).toContain(`openai-compatible-proxy-${PROXY_VERSION}.tgz /path/to/clone/openai-compatible-provider-${PROXY_VERSION}.tgz`);
        // Every other version-looking tag of the proxy image is the packages' version too.
        for (const [, tag] of README.matchAll(/openai-compatible-proxy:([0-9][^\s`)]*)/g)) expect(tag).toBe(PROXY_VERSION);
    });
});
