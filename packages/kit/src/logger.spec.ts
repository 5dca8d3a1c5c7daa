import { describe, expect, it } from 'vitest';
import { Logger } from './logger.js';

function capture(level?: 'debug' | 'info' | 'warn' | 'error') {
  const lines: Record<string, unknown>[] = [];
  const log = new Logger({ component: 'router', level, write: (l) => lines.push(JSON.parse(l) as Record<string, unknown>) });
  return { log, lines };
}

describe('Logger', () => {
  it('writes one JSON object per line with component, level and context fields', () => {
    const { log, lines } = capture();
    log.child({ requestId: 'req-1', model: 'm' }).info('admitted', { queue: 3 });
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({ level: 'info', component: 'router', msg: 'admitted', requestId: 'req-1', model: 'm', queue: 3 });
    expect(typeof lines[0]!['time']).toBe('string');
  });

  it('never writes secrets, but keeps token counts and key ids', () => {
    const { log, lines } = capture();
    log.info('auth', { apiKey: 'sk-123', authorization: 'Bearer sk-123', headers: { Authorization: 'Bearer x', 'x-api-key': 'k' }, keyId: 'team-a', input_tokens: 5, clientSecret: 's' });
    const text = JSON.stringify(lines[0]);
    expect(text).not.toContain('sk-123');
    expect(text).not.toContain('"k"');
    expect(lines[0]).toMatchObject({ keyId: 'team-a', input_tokens: 5, clientSecret: '[redacted]' });
  });

  it('filters by level and serialises errors with their cause', () => {
    const { log, lines } = capture('warn');
    log.info('skipped');
    log.error('failed', { err: new Error('outer', { cause: new Error('inner') }), id: 5n });
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({ level: 'error', err: { name: 'Error', message: 'outer', cause: { message: 'inner' } }, id: '5' });
  });
});
