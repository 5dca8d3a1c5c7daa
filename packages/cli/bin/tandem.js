#!/usr/bin/env node
// Entry point: registers the TypeScript loader, then runs the CLI from source.
import { register } from 'node:module';
register('tsx/esm', import.meta.url);
await import('../src/main.ts');
