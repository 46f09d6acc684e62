/**
 * `pulumi up`, `pulumi preview` (no changes) and `pulumi destroy` of the examples against the real
 * API server, with the pulumi CLI and pulumi-resource-kubernetes built by controlplane/build.sh and
 * a local file state backend.
 *
 * The program runs inline through the Automation API: the CLI talks to a language host inside this
 * process, so no `pulumi-language-nodejs` binary is needed (the Go module proxy does not serve it).
 * Only the kubernetes provider plugin is needed, found on PATH. The Go module proxy serves just one
 * commit of pulumi-kubernetes' provider module (release 4.25.0), so the CLI warns that
 * @pulumi/kubernetes expects a newer plugin; see controlplane/pin.sh.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { PulumiCommand } from "@pulumi/pulumi/automation";
import { mistralExample } from "../../examples/mistral/program";
import { deepseekExample } from "../../examples/deepseek/program";
import { inlineStack } from "./bare-api-server";
import type { ControlPlaneInfo } from "./control-plane";
import { differences } from "./differences";
import { controlPlaneInfo, ensureNamespace, getObject } from "./kubectl";
import { expectedReadBack, readFixtureFiles } from "./load-objects";
import { describeControlPlane } from "./skip";

/** The docs fixture each example reproduces; its value for the key is what the example gets. */
const EXAMPLES = [
  { example: "mistral", program: mistralExample, fixture: "fixtures/kgateway-docs-mistral.yaml" },
  { example: "deepseek", program: deepseekExample, fixture: "fixtures/kgateway-docs-deepseek.yaml" },
];
const API_KEY = "placeholder-not-a-real-key";

function projectName(example: string): string {
  const yaml = fs.readFileSync(path.resolve(__dirname, `../../examples/${example}/Pulumi.yaml`), "utf8");
  const name = /^name:\s*(\S+)\s*$/m.exec(yaml)?.[1];
  if (!name) throw new Error(`examples/${example}/Pulumi.yaml has no name`);
  return name;
}

describeControlPlane("pulumi up, preview and destroy of the examples against the real kube-apiserver", () => {
  let info: ControlPlaneInfo;
  let home: string;

  beforeAll(async () => {
    info = controlPlaneInfo();
    home = fs.mkdtempSync(path.join(os.tmpdir(), "ocp-pulumi-"));
    await ensureNamespace(info, "kgateway-system");
  });

  afterAll(() => {
    if (home) fs.rmSync(home, { recursive: true, force: true });
  });

  test("the pulumi CLI is the version of @pulumi/pulumi", async () => {
    const { version } = JSON.parse(
      fs.readFileSync(require.resolve("@pulumi/pulumi/package.json"), "utf8"),
    ) as { version: string };
    const cli = await PulumiCommand.get({ root: path.dirname(path.dirname(info.binaries.pulumi)), skipVersionCheck: true });
    expect(cli.version?.toString()).toBe(version);
  });

  test.each(EXAMPLES)("examples/$example", async ({ example, program, fixture }) => {
    const { stack } = await inlineStack(info, home, projectName(example), () => {
      const provider = program();
      return { url: provider.url, backendName: provider.backendName };
    });
    const output: string[] = [];
    const onOutput = (line: string): void => void output.push(line);
    try {
      await stack.setConfig("apiKey", { value: API_KEY, secret: true });

      const expected = readFixtureFiles().find((s) => s.source === fixture)!.objects;
      expect(expected.length).toBeGreaterThan(0);
      for (const object of expected) expect(await getObject(info, object)).toBeUndefined();

      const up = await stack.up({ onOutput });
      expect(up.summary.result).toBe("succeeded");
      expect(up.outputs.backendName?.value).toBe(example);

      for (const object of expected) {
        const live = await getObject(info, object);
        expect({ object: object.metadata.name, live: live !== undefined }).toEqual({ object: object.metadata.name, live: true });
        expect(differences(expectedReadBack(object), live)).toEqual([]);
      }

      const preview = await stack.preview({ onOutput, expectNoChanges: true });
      expect(Object.keys(preview.changeSummary)).toEqual(["same"]);

      const destroy = await stack.destroy({ onOutput });
      expect(destroy.summary.result).toBe("succeeded");
      for (const object of expected) expect(await getObject(info, object)).toBeUndefined();
    } catch (err) {
      // The engine's own account of what failed; it never holds the key (a secret in config and state).
      throw new Error(`${String(err)}\n--- pulumi output:\n${output.join("")}`, { cause: err });
    } finally {
      await stack.workspace.removeStack("control-plane", { force: true }).catch(() => undefined);
    }
  }, 300_000);
});
