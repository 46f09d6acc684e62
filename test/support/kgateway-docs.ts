/*
 * The YAML objects of the kgateway docs page "OpenAI-compatible LLM providers", parsed at test time
 * from ../shared/reference (never copied into the repository).
 */
import * as fs from "node:fs";
import * as path from "node:path";
import * as YAML from "yaml";

/** The reference copy of the docs page, beside the repository. */
export const DOCS_PAGE = path.resolve(__dirname, "../../../shared/reference/kgateway-docs-openai-compatible-providers.md");

/** The value the docs' Hugo namespace snippet stands for (kgateway's install namespace). */
export const DOCS_NAMESPACE = "kgateway-system";

/** One docs object, keyed by the section it appears in. */
export interface DocsObject {
    section: "mistral" | "deepseek";
    object: Record<string, unknown> & { apiVersion: string; kind: string; metadata: { name: string; namespace: string } };
}

/** Every `kubectl apply` YAML block of the page, with the namespace placeholder resolved. */
export function docsObjects(): DocsObject[] {
    const text = fs.readFileSync(DOCS_PAGE, "utf8");
    const deepseekAt = text.indexOf("### DeepSeek example");
    const out: DocsObject[] = [];
    for (const match of text.matchAll(/```yaml\n([\s\S]*?)```/g)) {
        const body = (match[1] ?? "")
            .split("\n")
            .filter((line) => !/^\s*kubectl apply -f- <<EOF\s*$/.test(line) && !/^\s*EOF\s*$/.test(line))
            .join("\n")
            .replace(/\{\{<\s*reuse\s+"docs\/snippets\/namespace\.md"\s*>\}\}/g, DOCS_NAMESPACE);
        const object = YAML.parse(body) as DocsObject["object"] | null;
        if (!object || typeof object !== "object" || !("kind" in object)) continue;
        out.push({ section: (match.index ?? 0) > deepseekAt ? "deepseek" : "mistral", object });
    }
    return out;
}

/** The docs object of `kind` in `section`. */
export function docsObject(section: DocsObject["section"], kind: string): DocsObject["object"] {
    const found = docsObjects().find((o) => o.section === section && o.object.kind === kind);
    if (!found) throw new Error(`the docs page has no ${kind} in the ${section} section`);
    return found.object;
}
