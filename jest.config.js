/** Component tests (root package). The proxy package has its own jest config in proxy/. */
/** @type {import('jest').Config} */
module.exports = {
  testEnvironment: "node",
  roots: ["<rootDir>/test"],
  testMatch: ["**/*.test.ts"],
  // The control-plane tier has its own config (global setup starts etcd + kube-apiserver).
  testPathIgnorePatterns: ["/node_modules/", "<rootDir>/test/control-plane/"],
  transform: { "^.+\\.ts$": ["ts-jest", { tsconfig: "<rootDir>/tsconfig.json" }] },
  moduleNameMapper: {
    "^openai-compatible-proxy/translate$": "<rootDir>/proxy/src/translate/index.ts",
  },
  testTimeout: 30000,
};
