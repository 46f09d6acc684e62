/**
 * Gateway API v1 `HTTPRoute` rules to ProxyConfig routes: PathPrefix and Exact matches with method,
 * header and query conditions, URLRewrite, Request- and ResponseHeaderModifier, weighted `backendRefs`
 * to Backends of the route's namespace, and `timeouts`.
 * https://gateway-api.sigs.k8s.io/reference/spec/#httproute
 */
import { HEADER_VALUE, HEADER_VALUE_RULE, UNMODIFIABLE_HEADERS, UNMODIFIABLE_HEADER_RULE, type ProxyConfigInput } from "../config/schema";
import { parseGatewayDuration } from "./gateway-duration";
import { GATEWAY_GROUP, HOSTNAME, KGATEWAY_GROUP, TOKEN, arr, isObj, str, type KubeObject, type Translation } from "./kube-objects";

export type RouteInput = NonNullable<ProxyConfigInput["routes"]>[number];
type MatchInput = NonNullable<RouteInput["matches"]>[number];

function attachedToGateway(t: Translation, route: KubeObject): boolean {
  const gw = t.options.gateway;
  if (!gw) return true;
  const spec = isObj(route.raw.spec) ? route.raw.spec : {};
  return arr(spec.parentRefs).some((p) => {
    if (!isObj(p)) return false;
    const kind = str(p.kind) ?? "Gateway";
    const group = str(p.group) ?? GATEWAY_GROUP;
    return kind === "Gateway" && group === GATEWAY_GROUP && p.name === gw.name && (str(p.namespace) ?? route.namespace) === (gw.namespace ?? route.namespace);
  });
}

export function translateHttpRoute(t: Translation, obj: KubeObject, backends: Map<string, unknown>): RouteInput[] {
  if (!attachedToGateway(t, obj)) {
    t.report("warning", obj, "spec.parentRefs", `not attached to Gateway ${t.options.gateway?.namespace ?? obj.namespace}/${t.options.gateway?.name}: not served`);
    return [];
  }
  const spec = isObj(obj.raw.spec) ? obj.raw.spec : {};
  const hostnames = arr(spec.hostnames).filter((h): h is string => typeof h === "string");
  const out: RouteInput[] = [];
  const rules = arr(spec.rules);
  // A rule's route is named by the rule's name, or by its index when it has none: a rule named as the
  // index of an unnamed one would share its name (the CRD keeps names unique among named rules only).
  const unnamed = new Set(rules.flatMap((r, i) => (isObj(r) && str(r.name) !== undefined ? [] : [String(i)])));
  rules.forEach((ruleRaw, ri) => {
    const base = `spec.rules[${ri}]`;
    const rule = isObj(ruleRaw) ? ruleRaw : {};
    let ok = true;
    const fail = (field: string, message: string): void => {
      t.report("error", obj, field, message);
      ok = false;
    };
    const ruleName = str(rule.name);
    if (ruleName !== undefined && unnamed.has(ruleName)) {
      fail(`${base}.name`, `\`${ruleName}\` is also the index of rule ${ruleName}, which has no name: both would be route \`${obj.namespace}/${obj.name}/${ruleName}\` in logs and metrics; rename this rule, or name rule ${ruleName}`);
    }

    const matches: MatchInput[] = [];
    arr(rule.matches).forEach((mRaw, mi) => {
      const m = isObj(mRaw) ? mRaw : {};
      const mf = `${base}.matches[${mi}]`;
      const match: MatchInput = {};
      if (m.path !== undefined) {
        const p = isObj(m.path) ? m.path : {};
        const type = str(p.type) ?? "PathPrefix";
        const value = str(p.value) ?? "/";
        if (type !== "PathPrefix" && type !== "Exact") fail(`${mf}.path.type`, `\`${type}\` is not supported: use \`PathPrefix\` or \`Exact\``);
        else if (!value.startsWith("/")) fail(`${mf}.path.value`, "must start with `/`");
        else match.path = { type, value };
      }
      if (m.method !== undefined) {
        if (typeof m.method !== "string" || !TOKEN.test(m.method)) fail(`${mf}.method`, "must be an HTTP method such as `POST`");
        else match.method = m.method;
      }
      for (const kind of ["headers", "queryParams"] as const) {
        if (m[kind] === undefined) continue;
        const list: NonNullable<MatchInput["headers"]> = [];
        arr(m[kind]).forEach((hRaw, hi) => {
          const h = isObj(hRaw) ? hRaw : {};
          const type = str(h.type) ?? "Exact";
          if (type !== "Exact" && type !== "RegularExpression") fail(`${mf}.${kind}[${hi}].type`, "must be `Exact` or `RegularExpression`");
          else if (typeof h.name !== "string" || typeof h.value !== "string") fail(`${mf}.${kind}[${hi}]`, "needs `name` and `value`");
          else if (kind === "headers" && !TOKEN.test(h.name)) fail(`${mf}.${kind}[${hi}].name`, "must be an HTTP header name (RFC 9110 token)");
          else list.push({ type, name: h.name, value: h.value });
        });
        match[kind] = list;
      }
      matches.push(match);
    });

    const route: RouteInput = {
      name: `${obj.namespace}/${obj.name}/${ruleName ?? ri}`,
      backendRefs: [],
      ...(hostnames.length > 0 ? { hostnames } : {}),
      ...(matches.length > 0 ? { matches } : {}),
    };

    arr(rule.filters).forEach((fRaw, fi) => {
      const f = isObj(fRaw) ? fRaw : {};
      const ff = `${base}.filters[${fi}]`;
      switch (str(f.type)) {
        case "URLRewrite": {
          const u = isObj(f.urlRewrite) ? f.urlRewrite : {};
          const rewrite: NonNullable<RouteInput["urlRewrite"]> = {};
          if (u.hostname !== undefined) {
            if (typeof u.hostname !== "string" || !HOSTNAME.test(u.hostname)) fail(`${ff}.urlRewrite.hostname`, "must be a DNS name");
            else rewrite.hostname = u.hostname;
          }
          if (u.path !== undefined) {
            const p = isObj(u.path) ? u.path : {};
            if (p.type === "ReplaceFullPath" && typeof p.replaceFullPath === "string") rewrite.path = { type: "ReplaceFullPath", replaceFullPath: p.replaceFullPath };
            // An empty replacement, which the CRD allows, rewrites as `/` does: `/foo/bar` to `/bar`, `/foo` to `/`.
            else if (p.type === "ReplacePrefixMatch" && typeof p.replacePrefixMatch === "string") rewrite.path = { type: "ReplacePrefixMatch", replacePrefixMatch: p.replacePrefixMatch || "/" };
            else fail(`${ff}.urlRewrite.path`, "needs `type: ReplaceFullPath` with `replaceFullPath`, or `type: ReplacePrefixMatch` with `replacePrefixMatch`");
          }
          route.urlRewrite = rewrite;
          break;
        }
        case "RequestHeaderModifier":
        case "ResponseHeaderModifier": {
          const which = f.type === "RequestHeaderModifier" ? "requestHeaderModifier" : "responseHeaderModifier";
          const mod = isObj(f[which]) ? (f[which]) : {};
          const out: NonNullable<RouteInput["requestHeaderModifier"]> = {};
          for (const op of ["set", "add"] as const) {
            if (mod[op] === undefined) continue;
            const list: { name: string; value: string }[] = [];
            arr(mod[op]).forEach((hRaw, hi) => {
              const h = isObj(hRaw) ? hRaw : {};
              if (typeof h.name !== "string" || !TOKEN.test(h.name)) fail(`${ff}.${which}.${op}[${hi}].name`, "must be an HTTP header name (RFC 9110 token)");
              else if (UNMODIFIABLE_HEADERS.has(h.name.toLowerCase())) fail(`${ff}.${which}.${op}[${hi}].name`, UNMODIFIABLE_HEADER_RULE);
              else if (typeof h.value !== "string" || !HEADER_VALUE.test(h.value)) fail(`${ff}.${which}.${op}[${hi}].value`, `must be a header value: ${HEADER_VALUE_RULE}`);
              else list.push({ name: h.name, value: h.value });
            });
            out[op] = list;
          }
          if (mod.remove !== undefined) {
            const names: string[] = [];
            arr(mod.remove).forEach((n, ni) => {
              if (typeof n !== "string" || !TOKEN.test(n)) fail(`${ff}.${which}.remove[${ni}]`, "must be an HTTP header name (RFC 9110 token)");
              else names.push(n);
            });
            out.remove = names;
          }
          route[which] = out;
          break;
        }
        default:
          fail(`${ff}.type`, `\`${String(f.type)}\` is not supported: the proxy serves \`URLRewrite\`, \`RequestHeaderModifier\` and \`ResponseHeaderModifier\``);
      }
    });

    if (route.urlRewrite?.path?.type === "ReplacePrefixMatch") {
      matches.forEach((m, mi) => {
        if (m.path?.type === "Exact") fail(`${base}.matches[${mi}].path.type`, "must be `PathPrefix`: the rule's URLRewrite uses `ReplacePrefixMatch`");
      });
    }

    if (rule.timeouts !== undefined) {
      const to = isObj(rule.timeouts) ? rule.timeouts : {};
      const timeouts: NonNullable<RouteInput["timeouts"]> = {};
      for (const [field, out] of [["request", "requestMs"], ["backendRequest", "backendRequestMs"]] as const) {
        if (to[field] === undefined) continue;
        const ms = typeof to[field] === "string" ? parseGatewayDuration(to[field]) : undefined;
        if (ms === undefined) fail(`${base}.timeouts.${field}`, "must be a Gateway API duration such as `10s` or `1m30s`");
        else timeouts[out] = ms;
      }
      route.timeouts = timeouts;
    }
    if (rule.retry !== undefined) t.report("warning", obj, `${base}.retry`, "is ignored: the proxy retries no request an upstream may have received (a retried completion costs tokens twice); it sends one again only when it closed before any byte of it was written");
    if (rule.sessionPersistence !== undefined) t.report("warning", obj, `${base}.sessionPersistence`, "is ignored");

    arr(rule.backendRefs).forEach((bRaw, bi) => {
      const b = isObj(bRaw) ? bRaw : {};
      const bf = `${base}.backendRefs[${bi}]`;
      const name = str(b.name);
      if (str(b.group) !== KGATEWAY_GROUP || str(b.kind) !== "Backend" || !name) {
        fail(bf, `only \`group: ${KGATEWAY_GROUP}\`, \`kind: Backend\` references are served`);
        return;
      }
      const ns = str(b.namespace) ?? obj.namespace;
      if (ns !== obj.namespace) {
        fail(`${bf}.namespace`, "must be the HTTPRoute's namespace: cross-namespace references need a ReferenceGrant, which the proxy does not read");
        return;
      }
      if (b.filters !== undefined) {
        fail(`${bf}.filters`, "is not supported: put filters on the rule");
        return;
      }
      if (!t.get("Backend", ns, name)) {
        fail(bf, `Backend ${ns}/${name} is not among the objects`);
        return;
      }
      if (!backends.has(`${ns}/${name}`)) {
        fail(bf, `Backend ${ns}/${name} cannot be served (see its own problems)`);
        return;
      }
      const weight = b.weight === undefined ? 1 : b.weight;
      if (typeof weight !== "number" || !Number.isInteger(weight) || weight < 0) {
        fail(`${bf}.weight`, "must be a non-negative integer");
        return;
      }
      route.backendRefs.push({ name: `${ns}/${name}`, weight });
    });
    // Its requests are answered 500 `no_backend`, as Gateway API has it, not served by another rule.
    if (arr(rule.backendRefs).length === 0) t.report("warning", obj, `${base}.backendRefs`, "is empty: the rule's requests are answered 500 `no_backend` (Gateway API)");
    if (ok) out.push(route);
  });
  return out;
}
