// The group state machine: observed pods + spec → actions, status and events. Pure and
// deterministic (time comes in as `now`), so the step tables in plan.spec.ts drive it directly.
//
// Rules (DESIGN.md §4, LeaderWorkerSet semantics):
//  - a group's pods are created together, gated; the gate is lifted once all of them exist;
//  - a group with a failed, restarted or missing rank is deleted whole and recreated under the
//    same name once its pods are gone; so is a group not fully scheduled within the timeout;
//  - scale-up creates groups; scale-down drains groups (out of routing, then delete after
//    drainSeconds; the shard finishes running requests on SIGTERM), never below `replicas` ready;
//  - a new revision rolls group by group: one surge group at the new revision is created, and an
//    old group is drained only when enough ready groups remain.
import type { Condition, GroupStatus, ModelDeployment, ModelDeploymentStatus } from '@tandem/schemas';
import { type Capabilities, type ChildRef, buildChildren } from './children.js';
import { type ObservedGroup, type ObservedPod, groupStatus, observeGroups } from './groups.js';
import { FINALIZER, endpointOf, names, namespaceOf, rankZeroSelector } from './names.js';
import { type KubeObject, buildGroupPods, groupRevision, podsPerGroup } from './pods.js';
import { type ConditionInput, type KubeEvent, mergeConditions } from './conditions.js';

export interface ReconcileInput {
  readonly md: ModelDeployment;
  /** Every pod labelled with this ModelDeployment (fresh from the apiserver). */
  readonly pods: ObservedPod[];
  readonly now: number;
  readonly capabilities: Capabilities;
}

export type Action =
  | { type: 'addFinalizer' }
  | { type: 'apply'; object: KubeObject }
  | { type: 'remove'; ref: ChildRef }
  | { type: 'createPod'; pod: KubeObject }
  | { type: 'ungate'; pod: string }
  | { type: 'drain'; pod: string; at: string }
  | { type: 'deletePod'; pod: string; reason: string }
  | { type: 'removeFinalizer' };

export interface ReconcileResult {
  readonly actions: Action[];
  /** The status to write, or undefined while the resource is being deleted. */
  readonly status: ModelDeploymentStatus | undefined;
  readonly events: KubeEvent[];
  /** Come back after this long even if nothing changes (drain or schedule deadlines). */
  readonly requeueAfterMs: number | undefined;
}

interface Failure {
  readonly reason: 'GroupFailed' | 'ScheduleTimeout';
  readonly message: string;
}

export function reconcile(input: ReconcileInput): ReconcileResult {
  const { md, now } = input;
  if (md.metadata.deletionTimestamp !== undefined) return finalize(input);

  const actions: Action[] = [];
  if (!(md.metadata.finalizers ?? []).includes(FINALIZER)) actions.push({ type: 'addFinalizer' });
  const children = buildChildren(md, input.capabilities);
  for (const object of children.apply) actions.push({ type: 'apply', object });
  for (const ref of children.remove) actions.push({ type: 'remove', ref });

  const { scheduling } = md.spec;
  const revision = groupRevision(md);
  const groups = observeGroups(input.pods, now, scheduling.scheduleTimeoutSeconds * 1000);
  const deadlines: number[] = [];
  const failures: Failure[] = [];
  const live: ObservedGroup[] = [];
  let draining = 0;
  const deleteGroup = (g: ObservedGroup, reason: string) => {
    for (const p of g.pods) if (p.metadata.deletionTimestamp === undefined) actions.push({ type: 'deletePod', pod: p.metadata.name, reason });
  };

  for (const g of groups) {
    if (g.terminating) continue;
    if (g.phase === 'Draining') {
      draining++;
      const until = (g.drainStartedAt ?? now) + scheduling.drainSeconds * 1000;
      if (now >= until) deleteGroup(g, 'drained');
      else deadlines.push(until - now);
    } else if (g.phase === 'Failed') {
      deleteGroup(g, 'group failed');
      failures.push({ reason: 'GroupFailed', message: `group ${g.name}: ${g.message ?? 'failed'}; recreating the whole group` });
    } else if (g.phase === 'Pending' && g.scheduleTimedOut) {
      deleteGroup(g, 'schedule timeout');
      failures.push({
        reason: 'ScheduleTimeout',
        message: `group ${g.name} was not fully scheduled within ${scheduling.scheduleTimeoutSeconds}s (${g.message ?? 'pending'}); deleted to release its resources, recreating`,
      });
    } else {
      if (g.gated.length > 0 && g.pods.length === g.size) for (const pod of g.gated) actions.push({ type: 'ungate', pod });
      if (g.phase === 'Pending') deadlines.push(g.createdAt + scheduling.scheduleTimeoutSeconds * 1000 - now);
      live.push(g);
    }
  }

  const desired = md.spec.replicas;
  const isReady = (g: ObservedGroup) => g.phase === 'Ready';
  const current = live.filter((g) => g.revision === revision);
  const old = live.filter((g) => g.revision !== revision);

  // Creations: missing groups, else one surge group while an update rolls.
  let toCreate = Math.max(0, desired - live.length);
  if (toCreate === 0 && old.length > 0 && live.length <= desired && current.every(isReady)) toCreate = 1;
  const taken = new Set(groups.map((g) => g.ordinal));
  const blocked = new Set(groups.filter((g) => !live.includes(g)).map((g) => g.ordinal));
  const created: GroupStatus[] = [];
  for (let ordinal = 0; created.length < toCreate; ordinal++) {
    // A group being deleted keeps its name until its pods are gone; recreate under that name.
    if (blocked.has(ordinal)) break;
    if (taken.has(ordinal)) continue;
    taken.add(ordinal);
    for (const pod of buildGroupPods(md, ordinal)) actions.push({ type: 'createPod', pod });
    created.push({ name: names.group(md.metadata.name, ordinal), phase: 'Pending', revision, readyPods: 0, pods: podsPerGroup(md) });
  }

  // Drains: excess groups, old revision first, not-ready first, newest first; never below
  // `desired` ready groups (so a roll waits for the surge group to become ready).
  let readyCount = live.filter(isReady).length;
  let excess = live.length - desired;
  const candidates = [...live].sort(
    (a, b) =>
      Number(a.revision === revision) - Number(b.revision === revision) ||
      Number(isReady(a)) - Number(isReady(b)) ||
      b.ordinal - a.ordinal,
  );
  const drained = new Set<string>();
  for (const victim of candidates) {
    if (excess <= 0) break;
    if (isReady(victim)) {
      if (readyCount - 1 < desired) break;
      readyCount--;
    }
    excess--;
    drained.add(victim.name);
    for (const p of victim.pods) actions.push({ type: 'drain', pod: p.metadata.name, at: new Date(now).toISOString() });
    if (scheduling.drainSeconds === 0) deleteGroup(victim, 'drained');
    else deadlines.push(scheduling.drainSeconds * 1000);
  }

  const remaining = live.filter((g) => !drained.has(g.name));
  const readyReplicas = remaining.filter(isReady).length;
  const oldLeft = remaining.filter((g) => g.revision !== revision).length;
  const groupStatuses: GroupStatus[] = [
    ...groups.map((g) => (drained.has(g.name) ? { ...groupStatus(g), phase: 'Draining' as const, message: 'removed from routing; deleting after the drain period' } : groupStatus(g))),
    ...created,
  ].sort((a, b) => a.name.localeCompare(b.name, 'en', { numeric: true }));

  const conditions = desiredConditions({
    md,
    desired,
    readyReplicas,
    failures,
    rolling: oldLeft > 0,
    scalingDown: drained.size > 0 || draining > 0,
    starting: created.length > 0 || remaining.some((g) => !isReady(g)),
    fresh: isFirstRollout(md),
  });
  const previous = md.status?.conditions ?? [];
  const merged = mergeConditions(previous, conditions, now, md.metadata.generation);
  const status: ModelDeploymentStatus = {
    observedGeneration: md.metadata.generation,
    replicas: remaining.length + created.length,
    readyReplicas,
    selector: rankZeroSelector(md),
    endpoint: endpointOf(md),
    conditions: merged.conditions,
    groups: groupStatuses,
  };
  if (status.observedGeneration === undefined) delete status.observedGeneration;
  const positive = deadlines.filter((d) => d > 0);
  return { actions, status, events: merged.events, requeueAfterMs: positive.length > 0 ? Math.min(...positive) : undefined };
}

/** Still on the first rollout: no Progressing condition yet, or it still says Creating. */
function isFirstRollout(md: ModelDeployment): boolean {
  const prev = md.status?.conditions?.find((c) => c.type === 'Progressing');
  return prev === undefined || prev.reason === 'Creating';
}

interface ConditionFacts {
  md: ModelDeployment;
  desired: number;
  readyReplicas: number;
  failures: Failure[];
  rolling: boolean;
  scalingDown: boolean;
  starting: boolean;
  fresh: boolean;
}

function desiredConditions(f: ConditionFacts): ConditionInput[] {
  const readyMsg = `${f.readyReplicas}/${f.desired} groups ready`;
  const ready: ConditionInput =
    f.desired === 0
      ? { type: 'Ready', status: 'True', reason: 'ScaledToZero', message: 'replicas is 0' }
      : f.readyReplicas >= f.desired
        ? { type: 'Ready', status: 'True', reason: 'AllGroupsReady', message: readyMsg }
        : { type: 'Ready', status: 'False', reason: 'GroupsNotReady', message: readyMsg };

  let progressing: ConditionInput;
  if (f.failures.length > 0) progressing = { type: 'Progressing', status: 'True', reason: 'Recreating', message: f.failures.map((x) => x.message).join('; ') };
  else if (f.rolling) progressing = { type: 'Progressing', status: 'True', reason: 'RollingUpdate', message: `rolling groups to the new revision (one surge group); ${readyMsg}` };
  else if (f.scalingDown) progressing = { type: 'Progressing', status: 'True', reason: 'ScalingDown', message: `draining groups before deleting them; ${readyMsg}` };
  else if (f.starting) progressing = { type: 'Progressing', status: 'True', reason: f.fresh ? 'Creating' : 'ScalingUp', message: readyMsg };
  else progressing = { type: 'Progressing', status: 'False', reason: 'Complete', message: readyMsg };

  let degraded: ConditionInput;
  const first = f.failures[0];
  if (first !== undefined) degraded = { type: 'Degraded', status: 'True', reason: first.reason, message: f.failures.map((x) => x.message).join('; ') };
  else {
    const prev = f.md.status?.conditions?.find((c: Condition) => c.type === 'Degraded');
    // Keep saying why until the deployment is whole again.
    if (prev !== undefined && prev.status === 'True' && ready.status === 'False') degraded = { type: 'Degraded', status: 'True', reason: prev.reason, message: prev.message };
    else degraded = { type: 'Degraded', status: 'False', reason: 'AsExpected', message: 'no group failed' };
  }
  return [ready, progressing, degraded];
}

/** Deletion: delete every pod and child explicitly (no GC is assumed), then drop the finalizer. */
function finalize(input: ReconcileInput): ReconcileResult {
  const { md } = input;
  const actions: Action[] = [];
  if (!(md.metadata.finalizers ?? []).includes(FINALIZER)) return { actions, status: undefined, events: [], requeueAfterMs: undefined };
  const alive = input.pods.filter((p) => p.metadata.deletionTimestamp === undefined);
  for (const p of alive) actions.push({ type: 'deletePod', pod: p.metadata.name, reason: 'ModelDeployment deleted' });
  const ns = namespaceOf(md);
  // Every child that could exist, whatever APIs are installed now (a missing API deletes as a no-op).
  const children = buildChildren(md, { serviceMonitor: true, keda: true });
  for (const o of children.apply) actions.push({ type: 'remove', ref: { apiVersion: o.apiVersion, kind: o.kind, namespace: ns, name: o.metadata.name } });
  if (input.pods.length === 0) actions.push({ type: 'removeFinalizer' });
  return { actions, status: undefined, events: [], requeueAfterMs: input.pods.length === 0 ? undefined : 2000 };
}
