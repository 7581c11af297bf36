#!/usr/bin/env node
// The imgfs command. The CLI is written in TypeScript under lib/cli/; `npm run build` compiles the
// library to dist/ and bundles the CLI into one file, dist/imgfs-cli.js, because loading one module
// instead of eighty saves a third of the start-up of a one-file lookup.
import { setFlagsFromString } from 'node:v8';
import { runCli } from '../dist/imgfs-cli.js';

// V8 doubles its young generation each time objects survive a scavenge, up to 2 × 16 MiB plus the
// headroom that follows; a walk over a million entries keeps it at the top. Kept at its starting size
// instead, a cold `find` of 1 M entries peaks ~30 % lower at about the same CPU (bench/README.md,
// "Scale"). Set here, not with a flag on a re-exec, which would cost a second Node start-up.
setFlagsFromString('--semi-space-growth-factor=1');

await runCli();
