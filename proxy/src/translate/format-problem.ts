import type { TranslationProblem } from "./from-gateway-objects";

/**
 * One line for a problem: `error: Backend kgateway-system/mistral: \`spec.ai.llm.port\` must be ...`.
 * The message names the object and the field, never a credential value.
 */
export function formatTranslationProblem(problem: TranslationProblem): string {
  const object = problem.namespace || problem.name ? `${problem.kind} ${problem.namespace ? `${problem.namespace}/` : ""}${problem.name}` : problem.kind;
  return `${problem.severity}: ${object}: \`${problem.field}\` ${problem.message}`;
}
