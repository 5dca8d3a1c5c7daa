// grpc.health.v1 for a server: one status for the whole server ("") and each named service,
// flipped together (loaded → SERVING, draining → NOT_SERVING). Watch streams see every change.
import type { Server } from '@grpc/grpc-js';
import { HealthImplementation, type ServingStatus } from 'grpc-health-check';

export type { ServingStatus };

export class HealthReporter {
  private readonly impl: HealthImplementation;
  private current: ServingStatus;

  /** Starts NOT_SERVING: a server is ready only when its caller says so. */
  constructor(readonly services: readonly string[], initial: ServingStatus = 'NOT_SERVING') {
    this.current = initial;
    this.impl = new HealthImplementation(Object.fromEntries(['', ...services].map((s) => [s, initial])));
  }

  addToServer(server: Server): void {
    this.impl.addToServer(server);
  }

  set(status: ServingStatus): void {
    this.current = status;
    for (const s of ['', ...this.services]) this.impl.setStatus(s, status);
  }

  get status(): ServingStatus {
    return this.current;
  }
}
