/** Component tests (root package). The proxy package has its own jest config in proxy/. */
/** @type {import('jest').Config} */
module.exports = {
  testEnvironment: "node",
  roots: ["<rootDir>/test"],
  testMatch: ["**/*.test.ts"],
  // The control-plane tier has its own config (global setup starts etcd + kube-apiserver).
  testPathIgnorePatterns: ["/node_modules/", "<rootDir>/test/control-plane/"],
  transform: {
    "^.+\\.ts$": ["ts-jest", { tsconfig: "<rootDir>/tsconfig.json" }],
    // @marcbachmann/cel-js (the CEL evaluator the CRD validator uses) ships ES modules only, and
    // jest on Node 20 cannot require() ESM; compile just that package to CommonJS, untyped.
    "/node_modules/@marcbachmann/cel-js/.+\\.js$": [
      "ts-jest",
      { tsconfig: { allowJs: true, module: "commonjs", target: "ES2022", isolatedModules: true } },
    ],
  },
  transformIgnorePatterns: ["/node_modules/(?!@marcbachmann/cel-js/)"],
  moduleNameMapper: {
    "^openai-compatible-proxy/translate$": "<rootDir>/proxy/src/translate/index.ts",
  },
  testTimeout: 30000,
};
