// Helpers for the CLI's tests: spawn the real `tandem` binary, find fixtures, detect the engine.
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export const REPO = fileURLToPath(new URL('../../../', import.meta.url));
export const TINY = `${REPO}native/tests/fixtures/cohere2-tiny`;
export const TINY_BF16 = `${REPO}native/tests/fixtures/cohere2-tiny-bf16-sharded`;

export interface Golden {
  prompts: number[][];
  cases: { final_logits: number[]; all_logits?: number[][]; greedy: { new_tokens: number[] } }[];
}

export function readGolden(dir = TINY): Golden {
  return JSON.parse(readFileSync(`${dir}/golden.json`, 'utf8')) as Golden;
}

export interface RunResult { code: number; stdout: string; stderr: string }

/** Runs `node packages/cli/bin/tandem.js ...args` from the repository root, with extra environment. */
export function runTandem(args: string[], input?: string, env: Record<string, string> = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['packages/cli/bin/tandem.js', ...args], {
      cwd: REPO, env: { ...process.env, ...env }, stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => { stdout += d; });
    child.stderr.setEncoding('utf8').on('data', (d: string) => { stderr += d; });
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
    child.stdin.end(input ?? '');
  });
}

/** The native engine module, or undefined when it is not built on this machine. */
export async function tryLoadEngine(): Promise<typeof import('@tandem/engine') | undefined> {
  try {
    return await import('@tandem/engine');
  } catch {
    return undefined;
  }
}
