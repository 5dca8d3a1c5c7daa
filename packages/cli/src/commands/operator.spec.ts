import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { UsageError } from '../args.js';
import { runOperatorCommand } from './operator.js';

const dir = mkdtempSync(join(tmpdir(), 'tandem-operator-cli-'));
const file = (name: string, text: string) => {
  const p = join(dir, name);
  writeFileSync(p, text);
  return p;
};

describe('tandem operator render', () => {
  afterEach(() => vi.restoreAllMocks());

  it('prints every object, pods included', async () => {
    const out: string[] = [];
    vi.spyOn(process.stdout, 'write').mockImplementation((s) => (out.push(String(s)), true));
    const f = file('ok.yaml', 'apiVersion: tandem.dev/v1alpha1\nkind: ModelDeployment\nmetadata: { name: x }\nspec:\n  model: { name: m, source: { hostPath: { path: /m } } }\n  parallelism: { tensor: 2 }\n');
    expect(await runOperatorCommand(['render', '-f', f, '--no-service-monitor'])).toBe(0);
    const text = out.join('');
    expect(text.match(/^kind: Pod$/gm)).toHaveLength(2);
    expect(text).not.toContain('kind: ServiceMonitor');
  });

  it('names every bad field as a usage error', async () => {
    const f = file('bad.yaml', 'apiVersion: tandem.dev/v1alpha1\nkind: ModelDeployment\nmetadata: { name: x }\nspec:\n  model: { name: m, source: {} }\n  replicas: -1\n');
    await expect(runOperatorCommand(['render', '-f', f])).rejects.toThrow(UsageError);
    await expect(runOperatorCommand(['render', '-f', f])).rejects.toThrow(/spec\.model\.source[\s\S]*spec\.replicas/);
  });

  it('requires -f and a known subcommand', async () => {
    await expect(runOperatorCommand(['render'])).rejects.toThrow(/--file: is required/);
    await expect(runOperatorCommand(['deploy'])).rejects.toThrow(/unknown subcommand "operator deploy"/);
  });
});
