// Leader election on a coordination.k8s.io/v1 Lease (the client-go algorithm, simplified): the
// holder renews every renewMs; another candidate takes over only after leaseDurationS without a
// renewal. Writes carry the Lease's resourceVersion, so two candidates never both win a round.
import * as k8s from '@kubernetes/client-node';
import type { Logger } from '@tandem/kit';
import { isConflict, isNotFound } from './kube.js';

export interface LeaderElectionOptions {
  readonly kubeConfig: k8s.KubeConfig;
  readonly namespace: string;
  readonly name: string;
  readonly identity: string;
  readonly logger: Logger;
  /** Default 15 s. */
  readonly leaseDurationS?: number;
  /** Default 5 s. */
  readonly renewMs?: number;
}

export class LeaderElector {
  private readonly api: k8s.CoordinationV1Api;
  private timer: NodeJS.Timeout | undefined;
  private leading = false;
  private stopped = false;

  constructor(private readonly o: LeaderElectionOptions) {
    this.api = o.kubeConfig.makeApiClient(k8s.CoordinationV1Api);
  }

  get isLeader(): boolean {
    return this.leading;
  }

  /** Resolves once this candidate leads; `onLost` runs if it later stops leading. */
  async run(onLost: () => void): Promise<void> {
    const period = this.o.renewMs ?? 5000;
    for (;;) {
      if (this.stopped) throw new Error('leader election stopped');
      if (await this.tryAcquireOrRenew()) break;
      await new Promise((r) => setTimeout(r, period));
    }
    this.leading = true;
    this.o.logger.info('became leader', { lease: `${this.o.namespace}/${this.o.name}`, identity: this.o.identity });
    const renew = async () => {
      let ok = false;
      try {
        ok = await this.tryAcquireOrRenew();
      } catch (err) {
        this.o.logger.error('lease renewal failed', { error: err instanceof Error ? err.message : String(err) });
      }
      if (!ok) {
        this.leading = false;
        this.o.logger.error('lost leadership', { lease: `${this.o.namespace}/${this.o.name}` });
        onLost();
        return;
      }
      if (!this.stopped) this.timer = setTimeout(() => void renew(), period);
    };
    this.timer = setTimeout(() => void renew(), period);
  }

  /** Stops renewing and releases the Lease so a standby takes over at once. */
  async release(): Promise<void> {
    this.stopped = true;
    if (this.timer !== undefined) clearTimeout(this.timer);
    if (!this.leading) return;
    this.leading = false;
    const lease = await this.api.readNamespacedLease({ name: this.o.name, namespace: this.o.namespace });
    if (lease.spec?.holderIdentity !== this.o.identity) return;
    lease.spec = { ...lease.spec, holderIdentity: undefined, acquireTime: undefined, renewTime: undefined, leaseDurationSeconds: 1 };
    await this.api.replaceNamespacedLease({ name: this.o.name, namespace: this.o.namespace, body: lease });
  }

  private async tryAcquireOrRenew(): Promise<boolean> {
    const { namespace, name, identity } = this.o;
    const duration = this.o.leaseDurationS ?? 15;
    const now = new k8s.V1MicroTime();
    let lease: k8s.V1Lease;
    try {
      lease = await this.api.readNamespacedLease({ name, namespace });
    } catch (err) {
      if (!isNotFound(err)) throw err;
      try {
        await this.api.createNamespacedLease({
          namespace,
          body: { metadata: { name, namespace }, spec: { holderIdentity: identity, leaseDurationSeconds: duration, acquireTime: now, renewTime: now, leaseTransitions: 0 } },
        });
        return true;
      } catch (e) {
        if (isConflict(e)) return false;
        throw e;
      }
    }
    const spec = lease.spec ?? {};
    const held = spec.holderIdentity !== undefined && spec.holderIdentity !== '' && spec.holderIdentity !== identity;
    const renewed = spec.renewTime === undefined ? 0 : new Date(spec.renewTime).getTime();
    const expired = Date.now() - renewed > (spec.leaseDurationSeconds ?? duration) * 1000;
    if (held && !expired) return false;
    const transitions = (spec.leaseTransitions ?? 0) + (spec.holderIdentity === identity ? 0 : 1);
    lease.spec = {
      holderIdentity: identity,
      leaseDurationSeconds: duration,
      acquireTime: spec.holderIdentity === identity ? spec.acquireTime : now,
      renewTime: now,
      leaseTransitions: transitions,
    };
    try {
      await this.api.replaceNamespacedLease({ name, namespace, body: lease });
      return true;
    } catch (err) {
      if (isConflict(err)) return false;
      throw err;
    }
  }
}
