import { defineConfig } from 'vitest/config';
import { tandemVitest } from '../../vitest.shared.js';

export default defineConfig(tandemVitest(import.meta.dirname));
