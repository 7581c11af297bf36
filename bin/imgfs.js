#!/usr/bin/env node
// The imgfs command. The CLI is written in TypeScript under lib/cli/ and compiled to dist/ by
// `npm run build`; this shim only starts it.
import { runCli } from '../dist/cli/main.js';

await runCli();
