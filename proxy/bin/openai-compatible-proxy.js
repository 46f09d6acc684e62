#!/usr/bin/env node
// Committed shim so npm links the bin at install time, before `npm run build` creates dist/.
require("../dist/cli.js").main();
