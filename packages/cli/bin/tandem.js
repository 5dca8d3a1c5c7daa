#!/usr/bin/env node
// Entry point: registers the TypeScript loader (tsx's module API), then runs the CLI from source.
import { register } from 'tsx/esm/api';
register();
await import('../src/main.ts');
