/** The one way to skip this tier: for a developer machine without Go. CI never sets it. */
export const SKIP_ENV = "OCP_SKIP_CONTROL_PLANE";

export function skipControlPlane(): boolean {
  return process.env[SKIP_ENV] === "1";
}

/** `describe`, or `describe.skip` when {@link SKIP_ENV} is 1. (A function: the global setup imports this file too.) */
export function describeControlPlane(name: string, fn: () => void): void {
  (skipControlPlane() ? describe.skip : describe)(name, fn);
}
