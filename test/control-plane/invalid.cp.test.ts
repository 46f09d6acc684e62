/**
 * Deliberately invalid objects are refused by the API server, with its own message. Each one is a
 * docs fixture (accepted by apply.cp.test.ts) with exactly one thing broken.
 */
import type { ControlPlaneInfo } from "./control-plane";
import { applyServerSide, controlPlaneInfo, ensureNamespace, getObject, type KubeObject } from "./kubectl";
import { FIXTURES_DIR, readFixtureFiles } from "./load-objects";
import { describeControlPlane } from "./skip";

function fixture(kind: string): KubeObject {
  const set = readFixtureFiles(FIXTURES_DIR).find((s) => s.source === "fixtures/kgateway-docs-mistral.yaml");
  const object = set?.objects.find((o) => o.kind === kind);
  if (!object) throw new Error(`no ${kind} in fixtures/kgateway-docs-mistral.yaml`);
  return structuredClone(object);
}

// The spec is reshaped in place as plain data: the CRD, not a TypeScript type, is the schema under test.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Spec = any;

/** A copy of the Mistral fixture of `kind`, renamed, with `breakIt` applied to its spec. */
function broken(kind: string, name: string, breakIt: (spec: Spec) => void): KubeObject {
  const object = fixture(kind);
  object.metadata.name = name;
  breakIt(object.spec as Spec);
  return object;
}

interface InvalidCase {
  what: string;
  object: KubeObject;
  /** The API server's refusal, as kubectl prints it: `The <Kind> "<name>" is invalid: <field>: ...`. */
  field: string;
  message: string;
}

const cases: InvalidCase[] = [
  {
    what: "a Backend with host but no port",
    object: broken("Backend", "invalid-host-without-port", (spec) => delete spec.ai.llm.port),
    field: "spec.ai.llm",
    message: "both host and port must be set together",
  },
  {
    what: "a Backend with two credentials (inline and secretRef)",
    object: broken("Backend", "invalid-two-credentials", (spec) => (spec.ai.llm.openai.authToken.inline = "placeholder")),
    field: "spec.ai.llm.openai.authToken",
    message: "at most one of the fields in [inline secretRef] may be set",
  },
  {
    what: "a BackendTLSPolicy with both wellKnownCACertificates and caCertificateRefs",
    object: broken("BackendTLSPolicy", "invalid-both-ca-kinds", (spec) => {
      spec.validation.caCertificateRefs = [{ group: "", kind: "ConfigMap", name: "mistral-ca" }];
    }),
    field: "spec.validation",
    message: "must not contain both CACertificateRefs and WellKnownCACertificates",
  },
  {
    what: "an HTTPRoute whose path prefix is not absolute",
    object: broken("HTTPRoute", "invalid-relative-path", (spec) => (spec.rules[0].matches[0].path.value = "mistral")),
    field: "spec.rules[0].matches[0].path",
    message: "value must be an absolute path and start with '/' when type one of ['Exact', 'PathPrefix']",
  },
];

describeControlPlane("invalid objects are refused by the real kube-apiserver", () => {
  let info: ControlPlaneInfo;

  beforeAll(async () => {
    info = controlPlaneInfo();
    await ensureNamespace(info, "kgateway-system");
  });

  test.each(cases)("$what", async ({ object, field, message }) => {
    const result = await applyServerSide(info, object);
    expect(result.code).not.toBe(0);
    expect(result.stderr).toContain(`The ${object.kind} "${object.metadata.name}" is invalid: `);
    expect(result.stderr).toContain(`${field}: Invalid value: `);
    expect(result.stderr).toContain(message);
    expect(await getObject(info, object)).toBeUndefined();
  });
});
