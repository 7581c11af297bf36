#!/usr/bin/env node
// The imgfs command. The CLI is written in TypeScript under lib/cli/; `npm run build` compiles the
// library to dist/ and bundles the CLI into one file, dist/imgfs-cli.js, because loading one module
// instead of eighty saves a third of the start-up of a one-file lookup.
import { runCli } from '../dist/imgfs-cli.js';

await runCli();
