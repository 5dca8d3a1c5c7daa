// A shard that refuses its configuration exits 1; the group's status must say why, not only
// "pod failed" (the reason would otherwise be in the pod's log alone).
import { describe, expect, it } from 'vitest';
import { observeGroups, terminationDetail, type ObservedPod } from './groups.js';
import { ANNOTATION, LABEL } from './names.js';

const refusal = JSON.stringify({
  time: '2026-01-01T00:00:00.000Z',
  level: 'error',
  component: 'shard',
  msg: 'shard failed to start',
  err: { name: 'TandemError', message: 'invalid configuration: 1 problem', code: 3 },
  issues: ['TANDEM_BACKEND: cuda is not available: this build has only the CPU backend; set TANDEM_BACKEND=cpu (spec.engine.backend: cpu)'],
});

function failedPod(message: string | undefined): ObservedPod {
  return {
    metadata: { name: 'cmd-0-0', labels: { [LABEL.group]: 'cmd-0', [LABEL.podIndex]: '0' }, annotations: { [ANNOTATION.groupSize]: '1' }, creationTimestamp: '2026-01-01T00:00:00Z' },
    spec: { nodeName: 'n1' },
    status: { phase: 'Failed', containerStatuses: [{ name: 'shard', restartCount: 0, state: { terminated: { exitCode: 1, reason: 'Error', message } } }] },
  };
}

describe('a failed group names the shard\'s own reason', () => {
  it('takes the refused variables from the shard\'s last log line', () => {
    const [g] = observeGroups([failedPod(`{"msg":"listening"}\n${refusal}\n`)], Date.parse('2026-01-01T00:01:00Z'), 600_000);
    expect(g).toMatchObject({ phase: 'Failed' });
    expect(g!.message).toBe(
      'pod cmd-0-0 failed: shard failed to start: TANDEM_BACKEND: cuda is not available: this build has only the CPU backend; set TANDEM_BACKEND=cpu (spec.engine.backend: cpu)',
    );
  });

  it('falls back to the error message, to a plain line, and to nothing', () => {
    expect(terminationDetail('{"msg":"model load failed","err":{"message":"TANDEM_DTYPE: bf16 was asked"}}')).toBe('model load failed: TANDEM_DTYPE: bf16 was asked');
    expect(terminationDetail('Segmentation fault\n')).toBe('Segmentation fault');
    expect(terminationDetail(undefined)).toBeUndefined();
    expect(terminationDetail('x'.repeat(5000))!.length).toBeLessThanOrEqual(600);
    const [g] = observeGroups([failedPod(undefined)], Date.parse('2026-01-01T00:01:00Z'), 600_000);
    expect(g!.message).toBe('pod cmd-0-0 failed');
  });
});

describe('a group held up by its model fetch says why', () => {
  const pod = (status: ObservedPod['status']): ObservedPod => ({
    metadata: { name: 'cmd-0-0', labels: { [LABEL.group]: 'cmd-0', [LABEL.podIndex]: '0' }, annotations: { [ANNOTATION.groupSize]: '1' }, creationTimestamp: '2026-01-01T00:00:00Z' },
    spec: { nodeName: 'n1' },
    status,
  });
  const observe = (p: ObservedPod) => observeGroups([p], Date.parse('2026-01-01T00:01:00Z'), 600_000)[0]!;

  it('a missing token secret: Starting, naming the kubelet\'s reason (the pod stays Pending, not Failed)', () => {
    const g = observe(pod({
      phase: 'Pending',
      initContainerStatuses: [{ name: 'fetch-model', restartCount: 0, state: { waiting: { reason: 'CreateContainerConfigError', message: 'secret "hf-token" not found' } } }],
      containerStatuses: [{ name: 'shard', restartCount: 0, state: { waiting: { reason: 'PodInitializing' } } }],
    }));
    expect(g).toMatchObject({ phase: 'Starting', message: '0 of 1 pods ready; pod cmd-0-0 init container fetch-model waiting: CreateContainerConfigError: secret "hf-token" not found' });
  });

  it('normal progress adds nothing', () => {
    const g = observe(pod({ phase: 'Pending', initContainerStatuses: [{ name: 'fetch-model', restartCount: 0, state: { waiting: { reason: 'PodInitializing' } } }] }));
    expect(g.message).toBe('0 of 1 pods ready');
  });

  it('a failed fetch: Failed with the fetch\'s last log line; a completed fetch is no failure', () => {
    const failed = observe(pod({
      phase: 'Failed',
      initContainerStatuses: [{ name: 'fetch-model', restartCount: 0, state: { terminated: { exitCode: 1, reason: 'Error', message: 'tandem model fetch: GET https://huggingface.co/api/models/x/y answered 401 (HF_TOKEN has no access to this repo?)\n' } } }],
    }));
    expect(failed).toMatchObject({ phase: 'Failed', message: 'pod cmd-0-0 failed: tandem model fetch: GET https://huggingface.co/api/models/x/y answered 401 (HF_TOKEN has no access to this repo?)' });
    const fetched = observe(pod({
      phase: 'Running',
      initContainerStatuses: [{ name: 'fetch-model', restartCount: 0, state: { terminated: { exitCode: 0, reason: 'Completed' } } }],
      containerStatuses: [{ name: 'shard', restartCount: 0, state: {} }],
    }));
    expect(fetched).toMatchObject({ phase: 'Starting', message: '0 of 1 pods ready' });
  });
});
