#!/usr/bin/env node
// Regenerates schema/proxy-config.schema.json from the zod schema (run `npm run build` first).
// A test fails when the committed file differs from what this writes.
const { writeFileSync } = require("node:fs");
const { join } = require("node:path");
const { proxyConfigJsonSchema } = require("../dist/config/schema.js");

const file = join(__dirname, "..", "schema", "proxy-config.schema.json");
writeFileSync(file, `${JSON.stringify(proxyConfigJsonSchema(), null, 2)}\n`);
process.stdout.write(`wrote ${file}\n`);
