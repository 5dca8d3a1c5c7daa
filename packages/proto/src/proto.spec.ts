import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { engineV1, tandemV1, PROTO_FILES, PROTO_INCLUDE_DIR, SERVICE_NAMES, TandemService, EngineService } from './index.js';

const pkgDir = fileURLToPath(new URL('..', import.meta.url));
const buf = join(pkgDir, '../../node_modules/.bin/buf');

function listFiles(root: string, dir = root): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...listFiles(root, p));
    else out.push(relative(root, p));
  }
  return out.sort();
}

describe('generated code', () => {
  const tmp = mkdtempSync(join(tmpdir(), 'tandem-proto-'));
  afterAll(() => rmSync(tmp, { recursive: true, force: true }));

  it('is up to date with the .proto files (run `npm run generate` in packages/proto if not)', () => {
    execFileSync(buf, ['generate', '-o', tmp], { cwd: pkgDir, stdio: 'pipe' });
    const fresh = join(tmp, 'src/gen');
    const committed = join(pkgDir, 'src/gen');
    expect(listFiles(committed)).toEqual(listFiles(fresh));
    for (const f of listFiles(fresh)) {
      expect(readFileSync(join(committed, f), 'utf8'), `src/gen/${f} is stale`).toBe(readFileSync(join(fresh, f), 'utf8'));
    }
  });

  it('passes buf lint', () => {
    execFileSync(buf, ['lint'], { cwd: pkgDir, stdio: 'pipe' });
  });
});

describe('contracts', () => {
  it('round-trips a chat request with tools, documents and a tool-call history', () => {
    const req = tandemV1.ChatRequest.fromPartial({
      model: 'command-r7b',
      messages: [
        { role: tandemV1.Role.ROLE_USER, content: [{ text: 'weather?' }] },
        {
          role: tandemV1.Role.ROLE_ASSISTANT,
          toolPlan: 'call the tool',
          toolCalls: [{ id: 'c1', name: 'get_weather', arguments: '{"city":"Paris"}' }],
        },
        { role: tandemV1.Role.ROLE_TOOL, toolCallId: 'c1', content: [{ document: { dataJson: '{"temp":21}' } }] },
      ],
      documents: [{ id: 'd1', text: 'hello' }],
      tools: [{ name: 'get_weather', parametersJson: '{"type":"object"}' }],
      safetyMode: tandemV1.SafetyMode.SAFETY_MODE_STRICT,
      seed: 42,
      priority: 3,
    });
    const back = tandemV1.ChatRequest.decode(tandemV1.ChatRequest.encode(req).finish());
    expect(back).toEqual(req);
    expect(back.messages[2]?.content[0]?.document?.dataJson).toBe('{"temp":21}');
  });

  it('keeps enum zero as *_UNSPECIFIED and unset optionals undefined', () => {
    const empty = tandemV1.ChatRequest.decode(tandemV1.ChatRequest.encode(tandemV1.ChatRequest.fromPartial({})).finish());
    expect(empty.safetyMode).toBe(tandemV1.SafetyMode.SAFETY_MODE_UNSPECIFIED);
    expect(empty.temperature).toBeUndefined();
    expect(engineV1.FinishReason.FINISH_REASON_UNSPECIFIED).toBe(0);
  });

  it('encodes each chat event as exactly one oneof case', () => {
    const ev = tandemV1.ChatEvent.fromPartial({ toolCallDelta: { index: 1, arguments: '{"a"' } });
    const back = tandemV1.ChatEvent.decode(tandemV1.ChatEvent.encode(ev).finish());
    expect(back.toolCallDelta).toEqual({ index: 1, arguments: '{"a"' });
    expect(back.messageEnd).toBeUndefined();
  });

  it('exposes the services under the names DESIGN.md gives', () => {
    expect(Object.keys(TandemService).sort()).toEqual(['chat', 'detokenize', 'generate', 'listModels', 'tokenize']);
    expect(TandemService.chat.path).toBe('/tandem.v1.Tandem/Chat');
    expect(TandemService.chat.responseStream).toBe(true);
    expect(Object.keys(EngineService).sort()).toEqual(['cancel', 'drain', 'generate', 'info', 'stats']);
    expect(EngineService.generate.path).toBe(`/${SERVICE_NAMES.engine}/Generate`);
    for (const f of Object.values(PROTO_FILES)) expect(statSync(join(PROTO_INCLUDE_DIR, f)).isFile()).toBe(true);
  });
});
