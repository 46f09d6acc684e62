/** The control plane itself: the pinned release, serving the CRDs' API versions. */
import * as fs from "node:fs";
import * as path from "node:path";
import type { ControlPlaneInfo } from "./control-plane";
import { CRD_FILES, crdNames } from "./crds";
import { controlPlaneInfo, kubectlOk } from "./kubectl";
import { describeControlPlane } from "./skip";

const WRAPPER_GO_MOD = path.resolve(__dirname, "../../controlplane/kubernetes/go.mod");

describeControlPlane("the control plane", () => {
  let info: ControlPlaneInfo;
  beforeAll(() => {
    info = controlPlaneInfo();
  });

  test("listens on loopback only", () => {
    expect(new URL(info.server).hostname).toBe("127.0.0.1");
  });

  test("reports the Kubernetes release pinned in controlplane/kubernetes/go.mod", async () => {
    const pinned = /^require k8s\.io\/kubernetes (v1\.(\d+)\.\d+)\b/m.exec(fs.readFileSync(WRAPPER_GO_MOD, "utf8"));
    expect(pinned).not.toBeNull();
    const version = JSON.parse(await kubectlOk(info, ["version", "-o", "json"])) as {
      serverVersion: { gitVersion: string; major: string; minor: string };
      clientVersion: { gitVersion: string };
    };
    // The apiserver derives its emulation version from these, set by build.sh's ldflags.
    expect(version.serverVersion).toMatchObject({ gitVersion: pinned![1], major: "1", minor: pinned![2] });
    expect(version.clientVersion.gitVersion).toBe(pinned![1]);
  });

  test("has every CRD established and serves the API versions the component uses", async () => {
    const crds = JSON.parse(await kubectlOk(info, ["get", "crd", "-o", "json"])) as {
      items: { metadata: { name: string }; status: { conditions?: { type: string; status: string }[] } }[];
    };
    const established = crds.items
      .filter((c) => c.status.conditions?.some((cond) => cond.type === "Established" && cond.status === "True"))
      .map((c) => c.metadata.name);
    expect(established.sort()).toEqual(crdNames(CRD_FILES).sort());

    const served = (await kubectlOk(info, ["api-versions"])).split("\n");
    expect(served).toEqual(
      expect.arrayContaining(["gateway.kgateway.dev/v1alpha1", "gateway.networking.k8s.io/v1"]),
    );
  });
});
