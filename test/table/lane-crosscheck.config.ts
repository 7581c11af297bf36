// The suite with every lane-built table checked against the general path (lane-crosscheck-setup.ts).
import { defineConfig, mergeConfig } from 'vitest/config';
import base from '../../vitest.config.js';

export default mergeConfig(base, defineConfig({ test: { setupFiles: ['test/table/lane-crosscheck-setup.ts'] } }));
