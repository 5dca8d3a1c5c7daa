// Conditions keep their lastTransitionTime unless their status changes, and an Event is emitted
// only when a condition's status or reason changes (never once per reconcile).
import type { Condition } from '@tandem/schemas';

export interface ConditionInput {
  readonly type: 'Ready' | 'Progressing' | 'Degraded';
  readonly status: 'True' | 'False' | 'Unknown';
  readonly reason: string;
  readonly message: string;
}

export interface KubeEvent {
  readonly type: 'Normal' | 'Warning';
  readonly reason: string;
  readonly message: string;
}

/** Warning for a failure, or for losing readiness (not for "not ready yet" at creation). */
function eventType(c: ConditionInput, prev: Condition | undefined): KubeEvent['type'] {
  if (c.type === 'Degraded' && c.status === 'True') return 'Warning';
  if (c.type === 'Ready' && c.status === 'False' && prev !== undefined) return 'Warning';
  return 'Normal';
}

export function mergeConditions(
  previous: readonly Condition[],
  next: readonly ConditionInput[],
  now: number,
  generation: number | undefined,
): { conditions: Condition[]; events: KubeEvent[] } {
  const events: KubeEvent[] = [];
  const conditions = next.map((c) => {
    const prev = previous.find((p) => p.type === c.type);
    const changedStatus = prev === undefined || prev.status !== c.status;
    if (changedStatus || prev.reason !== c.reason) {
      // A brand-new False Degraded says nothing worth an event.
      if (!(prev === undefined && c.type === 'Degraded' && c.status === 'False')) {
        events.push({ type: eventType(c, prev), reason: c.reason, message: `${c.type}=${c.status}: ${c.message}` });
      }
    }
    const out: Condition = {
      type: c.type,
      status: c.status,
      reason: c.reason,
      message: c.message,
      lastTransitionTime: changedStatus ? new Date(now).toISOString() : prev.lastTransitionTime,
    };
    if (generation !== undefined) out.observedGeneration = generation;
    return out;
  });
  return { conditions, events };
}
