/*
 * Lets a plain `node` child process load this repository's TypeScript sources, as ts-jest does in
 * jest: `node -r ./test/support/ts-register.js program.ts`. Each file is transpiled alone (no type
 * checking: `tsc` and jest do that), and `openai-compatible-proxy/translate` resolves to the proxy's
 * source, as jest.config.js maps it.
 */
const fs = require("node:fs");
const Module = require("node:module");
const path = require("node:path");
const ts = require("typescript");

const ALIASES = { "openai-compatible-proxy/translate": path.resolve(__dirname, "../../proxy/src/translate/index.ts") };

const resolveFilename = Module._resolveFilename;
Module._resolveFilename = function (request, ...rest) {
    return resolveFilename.call(this, ALIASES[request] ?? request, ...rest);
};

require.extensions[".ts"] = (module, filename) => {
    const { outputText } = ts.transpileModule(fs.readFileSync(filename, "utf8"), {
        fileName: filename,
        compilerOptions: { module: ts.ModuleKind.CommonJS, target: ts.ScriptTarget.ES2022, esModuleInterop: true, sourceMap: false },
    });
    module._compile(outputText, filename);
};
