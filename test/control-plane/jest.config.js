/**
 * The control-plane tier: real etcd + kube-apiserver built from the Go module proxy
 * (controlplane/build.sh), CRDs from ../shared/crds/. Run with `npm run test:control-plane`.
 * @type {import('jest').Config}
 */
module.exports = {
  rootDir: "../..",
  testEnvironment: "node",
  roots: ["<rootDir>/test/control-plane"],
  testMatch: ["**/*.test.ts"],
  transform: { "^.+\\.ts$": ["ts-jest", { tsconfig: "<rootDir>/tsconfig.json" }] },
  globalSetup: "<rootDir>/test/control-plane/global-setup.ts",
  globalTeardown: "<rootDir>/test/control-plane/global-teardown.ts",
  testTimeout: 120000,
  // One API server serves every file, and files apply the same object names: one file at a time.
  maxWorkers: 1,
};
