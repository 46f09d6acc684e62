/**
 * BackendTLSPolicy (Gateway API v1) to TLS settings per Backend: `validation.hostname` is the SNI and
 * the name the certificate must be valid for; CAs are the system store or `caCertificateRefs` ConfigMaps.
 * https://gateway-api.sigs.k8s.io/api-types/backendtlspolicy/
 */
import { SERVER_NAME_IP_PROBLEM, isIpAddressName, type CaCertificate } from "../config/schema";
import { NOT_A_CA_BUNDLE, caBundleProblem, describeCaBundleProblem } from "./pem-bundle";
import { HOSTNAME, KGATEWAY_GROUP, arr, isObj, joinPath, key, olderFirst, readDataKey, str, type KubeObject, type Translation } from "./kube-objects";

const CA_KEY = "ca.crt";

export interface TlsSettings {
  serverName: string;
  caCertificates?: CaCertificate[];
}

export function translateTlsPolicies(t: Translation): Map<string, TlsSettings> {
  const result = new Map<string, TlsSettings>();
  const owner = new Map<string, KubeObject>();
  const policies = t.list
    .filter((o) => o.kind === "BackendTLSPolicy")
    // Gateway API conflict resolution: the oldest policy wins, then alphabetical namespace/name.
    .sort(olderFirst);
  for (const policy of policies) {
    const spec = isObj(policy.raw.spec) ? policy.raw.spec : {};
    const validation = isObj(spec.validation) ? spec.validation : undefined;
    if (!validation) {
      t.report("error", policy, "spec.validation", "is required");
      continue;
    }
    const serverName = str(validation.hostname);
    if (serverName && isIpAddressName(serverName)) {
      t.report("error", policy, "spec.validation.hostname", SERVER_NAME_IP_PROBLEM);
      continue;
    }
    if (!serverName || !HOSTNAME.test(serverName)) {
      t.report("error", policy, "spec.validation.hostname", "must be a DNS name: it is the SNI and the name the upstream certificate must be valid for");
      continue;
    }
    if (arr(validation.subjectAltNames).length > 0) {
      t.report("error", policy, "spec.validation.subjectAltNames", "is not supported: the certificate is verified against `validation.hostname`");
      continue;
    }
    if (spec.options !== undefined) t.report("warning", policy, "spec.options", "is ignored: TLS options are the Node.js defaults");
    // The CRD takes an empty `wellKnownCACertificates` for an unset one (its rules test `!= ""`).
    const wellKnown = str(validation.wellKnownCACertificates) || undefined;
    const refs = arr(validation.caCertificateRefs);
    let tls: TlsSettings | undefined;
    if (wellKnown !== undefined && refs.length > 0) {
      t.report("error", policy, "spec.validation", "set exactly one of `wellKnownCACertificates` and `caCertificateRefs`");
      continue;
    } else if (wellKnown !== undefined) {
      if (wellKnown !== "System") {
        t.report("error", policy, "spec.validation.wellKnownCACertificates", "must be `System`");
        continue;
      }
      tls = { serverName };
    } else if (refs.length > 0) {
      const cas: CaCertificate[] = [];
      refs.forEach((ref, i) => {
        const field = `spec.validation.caCertificateRefs[${i}]`;
        const r = isObj(ref) ? ref : {};
        const refName = str(r.name);
        if (str(r.kind) !== "ConfigMap" || (str(r.group) ?? "") !== "" || !refName) {
          t.report("error", policy, field, "only core `ConfigMap` references (group \"\") with a name are supported");
          return;
        }
        const configMap = t.get("ConfigMap", policy.namespace, refName);
        // The bundle's shape is checked here, to name the ConfigMap; the proxy also parses each certificate.
        const checked = (pem: string | undefined): pem is string => {
          if (pem === undefined) {
            t.report("error", policy, field, `ConfigMap ${policy.namespace}/${refName} has no \`${CA_KEY}\` key`);
            return false;
          }
          const problem = caBundleProblem(pem);
          if (problem !== undefined) {
            t.report("error", policy, field, `ConfigMap ${policy.namespace}/${refName} key \`${CA_KEY}\` is ${NOT_A_CA_BUNDLE}: ${describeCaBundleProblem(problem)}`);
            return false;
          }
          return true;
        };
        if (t.options.configMapsDir !== undefined) {
          if (configMap && !checked(readDataKey(t, configMap, CA_KEY))) return;
          cas.push({ file: joinPath(t.options.configMapsDir, refName, CA_KEY) });
          return;
        }
        if (!configMap) {
          t.report("error", policy, field, `ConfigMap ${policy.namespace}/${refName} is not among the objects`);
          return;
        }
        const pem = readDataKey(t, configMap, CA_KEY);
        if (!checked(pem)) return;
        cas.push({ pem });
      });
      if (cas.length !== refs.length) continue;
      tls = { serverName, caCertificates: cas };
    } else {
      t.report("error", policy, "spec.validation", "set `wellKnownCACertificates: System` or `caCertificateRefs`");
      continue;
    }
    arr(spec.targetRefs).forEach((ref, i) => {
      const field = `spec.targetRefs[${i}]`;
      const r = isObj(ref) ? ref : {};
      const targetName = str(r.name);
      if (str(r.group) !== KGATEWAY_GROUP || str(r.kind) !== "Backend" || !targetName) {
        t.report("error", policy, field, `only \`${KGATEWAY_GROUP}\` \`Backend\` targets are served`);
        return;
      }
      if (r.sectionName !== undefined) t.report("warning", policy, `${field}.sectionName`, "is ignored: the policy applies to the whole Backend");
      if (!t.get("Backend", policy.namespace, targetName)) {
        t.report("error", policy, field, `Backend ${policy.namespace}/${targetName} is not among the objects`);
        return;
      }
      const k = key("Backend", policy.namespace, targetName);
      const earlier = owner.get(k);
      if (earlier) {
        t.report("warning", policy, field, `Backend ${policy.namespace}/${targetName} is already targeted by BackendTLSPolicy ${earlier.namespace}/${earlier.name}, which wins (older, or first by name)`);
        return;
      }
      owner.set(k, policy);
      result.set(k, tls);
      tls.caCertificates?.forEach((_ca, j) => {
        t.values.setOrigin(`${policy.namespace}/${targetName}`, `tls.caCertificates[${j}]`, { kind: policy.kind, namespace: policy.namespace, name: policy.name, field: `spec.validation.caCertificateRefs[${j}]` });
      });
    });
  }
  return result;
}
