// Observing shard groups from their pods: what phase each group is in and why. Pure.
import type { GroupStatus } from '@tandem/schemas';
import { ANNOTATION, GANG_GATE, LABEL } from './names.js';

/** The parts of a Pod the operator reads (a subset of core/v1 Pod). */
export interface ObservedPod {
  metadata: {
    name: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
    creationTimestamp?: string | Date;
    deletionTimestamp?: string | Date;
  };
  spec?: { schedulingGates?: Array<{ name: string }>; nodeName?: string };
  status?: {
    phase?: string;
    conditions?: Array<{ type: string; status: string; reason?: string; message?: string }>;
    containerStatuses?: ContainerStatus[];
    initContainerStatuses?: ContainerStatus[];
  };
}

interface ContainerStatus {
  name: string;
  restartCount: number;
  state?: { waiting?: { reason?: string; message?: string }; terminated?: { exitCode?: number; reason?: string; message?: string } };
}

export type GroupPhase = GroupStatus['phase'];

export interface ObservedGroup {
  readonly name: string;
  readonly ordinal: number;
  readonly revision: string;
  readonly size: number;
  readonly pods: ObservedPod[];
  readonly readyPods: number;
  readonly createdAt: number;
  readonly phase: GroupPhase;
  /** Why the group is Failed or Pending (names the rank pod). */
  readonly message?: string;
  /** Pending past the schedule timeout. */
  readonly scheduleTimedOut: boolean;
  /** Pods still carrying the gang scheduling gate. */
  readonly gated: string[];
  readonly drainStartedAt?: number;
  /** Every pod already has a deletionTimestamp: the group is going away; its names are still taken. */
  readonly terminating: boolean;
}

const time = (t: string | Date | undefined): number | undefined => (t === undefined ? undefined : new Date(t).getTime());

function condition(pod: ObservedPod, type: string) {
  return pod.status?.conditions?.find((c) => c.type === type);
}

/** Longest shard error carried into a group's status message. */
const MAX_DETAIL = 600;

/**
 * A terminated container's own reason for exiting. Shard containers use FallbackToLogsOnError, so
 * the termination message is the tail of the log, whose last line is the shard's JSON error record
 * ("shard failed to start" with every refused TANDEM_* variable in `issues`).
 */
export function terminationDetail(message: string | undefined): string | undefined {
  const last = (message ?? '').trim().split('\n').pop()?.trim() ?? '';
  if (last === '') return undefined;
  let detail = last;
  try {
    const rec = JSON.parse(last) as { msg?: unknown; issues?: unknown; err?: { message?: unknown } };
    const why = Array.isArray(rec.issues) && rec.issues.length > 0 ? rec.issues.join('; ') : rec.err?.message;
    if (typeof rec.msg === 'string') detail = typeof why === 'string' && why !== '' ? `${rec.msg}: ${why}` : rec.msg;
  } catch {
    // Not a JSON log line: keep it as written.
  }
  // The kubelet keeps the log's tail, so a cut line is cut at its start: keep its end too.
  return detail.length > MAX_DETAIL ? `…${detail.slice(-(MAX_DETAIL - 1))}` : detail;
}

function failureOf(pod: ObservedPod): string | undefined {
  const name = pod.metadata.name;
  // A failed init container (the model fetch: no access to the repo, a 404) stops the pod before
  // the shard runs; a completed one (exit 0) is no failure and has no message.
  const failedInits = (pod.status?.initContainerStatuses ?? []).filter((c) => (c.state?.terminated?.exitCode ?? 0) !== 0);
  const detail = [...(pod.status?.containerStatuses ?? []), ...failedInits].map((c) => terminationDetail(c.state?.terminated?.message)).find((d) => d !== undefined);
  const why = detail === undefined ? '' : `: ${detail}`;
  if (pod.metadata.deletionTimestamp !== undefined) return `pod ${name} is being deleted`;
  if (pod.status?.phase === 'Failed') return `pod ${name} failed${why}`;
  if (pod.status?.phase === 'Succeeded') return `pod ${name} exited${why}`;
  for (const c of pod.status?.containerStatuses ?? []) {
    if (c.restartCount > 0) return `pod ${name} container ${c.name} restarted ${c.restartCount} time(s)`;
    const t = c.state?.terminated;
    if (t !== undefined) return `pod ${name} container ${c.name} terminated (${t.reason ?? `exit ${t.exitCode ?? '?'}`})${why}`;
  }
  return undefined;
}

/** Waiting reasons that are only progress, not something a user must fix. */
const NORMAL_WAITING = new Set(['ContainerCreating', 'PodInitializing']);

/**
 * Why a scheduled pod's container does not start: e.g. CreateContainerConfigError for a missing
 * HF token secret (`secret "hf-token" not found`), which keeps the pod Pending without failing it.
 */
function waitingOf(pod: ObservedPod): string | undefined {
  const containers = [
    ...(pod.status?.initContainerStatuses ?? []).map((c) => ({ c, what: 'init container' })),
    ...(pod.status?.containerStatuses ?? []).map((c) => ({ c, what: 'container' })),
  ];
  for (const { c, what } of containers) {
    const w = c.state?.waiting;
    if (w?.reason === undefined || NORMAL_WAITING.has(w.reason)) continue;
    return `pod ${pod.metadata.name} ${what} ${c.name} waiting: ${w.reason}${w.message ? `: ${w.message}` : ''}`;
  }
  return undefined;
}

/** Groups pods by group label and classifies each group. `timeoutMs` is the schedule timeout. */
export function observeGroups(pods: ObservedPod[], now: number, timeoutMs: number): ObservedGroup[] {
  const byGroup = new Map<string, ObservedPod[]>();
  for (const pod of pods) {
    const g = pod.metadata.labels?.[LABEL.group];
    if (g === undefined) continue;
    byGroup.set(g, [...(byGroup.get(g) ?? []), pod]);
  }
  const groups: ObservedGroup[] = [];
  for (const [name, members] of byGroup) {
    members.sort((a, b) => Number(a.metadata.labels?.[LABEL.podIndex]) - Number(b.metadata.labels?.[LABEL.podIndex]));
    const first = members[0]!;
    const size = Number(first.metadata.annotations?.[ANNOTATION.groupSize] ?? members.length);
    const ordinal = Number(name.slice(name.lastIndexOf('-') + 1));
    const createdAt = Math.min(...members.map((p) => time(p.metadata.creationTimestamp) ?? now));
    const readyPods = members.filter((p) => condition(p, 'Ready')?.status === 'True').length;
    const gated = members.filter((p) => (p.spec?.schedulingGates ?? []).some((g) => g.name === GANG_GATE)).map((p) => p.metadata.name);
    const draining = members.some((p) => p.metadata.labels?.[LABEL.serving] === 'false');
    const drainStartedAt = time(members.map((p) => p.metadata.annotations?.[ANNOTATION.drainStarted]).find((x) => x !== undefined));
    const terminating = members.every((p) => p.metadata.deletionTimestamp !== undefined);
    const base = { name, ordinal, terminating, revision: first.metadata.labels?.[LABEL.revision] ?? '', size, pods: members, readyPods, createdAt, gated };
    const failure = members.map(failureOf).find((m) => m !== undefined);
    const present = new Set(members.map((p) => Number(p.metadata.labels?.[LABEL.podIndex])));
    const missing = Array.from({ length: size }, (_, i) => i).filter((i) => !present.has(i));
    const unscheduled = members.filter((p) => p.spec?.nodeName === undefined || p.spec.nodeName === '');
    let phase: GroupPhase;
    let message: string | undefined;
    let scheduleTimedOut = false;
    if (draining) {
      phase = 'Draining';
      message = 'removed from routing; deleting after the drain period';
    } else if (failure !== undefined || missing.length > 0) {
      phase = 'Failed';
      message = failure ?? `rank pod index ${missing.join(', ')} missing`;
    } else if (unscheduled.length > 0) {
      phase = 'Pending';
      const why = unscheduled.map((p) => condition(p, 'PodScheduled')?.message).find((m) => m !== undefined && m !== '');
      message = `${unscheduled.length} of ${size} pods not scheduled${why === undefined ? '' : `: ${why}`}`;
      scheduleTimedOut = now - createdAt >= timeoutMs;
    } else if (readyPods < size) {
      phase = 'Starting';
      const waiting = members.map(waitingOf).find((m) => m !== undefined);
      message = `${readyPods} of ${size} pods ready${waiting === undefined ? '' : `; ${waiting}`}`;
    } else {
      phase = 'Ready';
    }
    groups.push({ ...base, phase, message, scheduleTimedOut, drainStartedAt });
  }
  return groups.sort((a, b) => a.ordinal - b.ordinal);
}

export function groupStatus(g: ObservedGroup): GroupStatus {
  const s: GroupStatus = { name: g.name, phase: g.phase, revision: g.revision, readyPods: g.readyPods, pods: g.size };
  if (g.message !== undefined) s.message = g.message;
  return s;
}
