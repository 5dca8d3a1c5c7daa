// Test helper: a grpc.health.v1 client built from grpc-health-check's proto (not part of the API).
import { loadPackageDefinition, type ChannelCredentials, type Client, type ServiceError } from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import { protoPath } from 'grpc-health-check';

type HealthStub = Client & { check(req: { service: string }, cb: (e: ServiceError | null, r: { status: string }) => void): void };
const pkg = loadPackageDefinition(loadSync(protoPath, { enums: String })) as unknown as {
  grpc: { health: { v1: { Health: new (address: string, creds: ChannelCredentials) => HealthStub } } };
};

export const HealthClient = pkg.grpc.health.v1.Health;
export type HealthClient = HealthStub;

export function healthCheck(client: HealthStub, service: string): Promise<string> {
  return new Promise((res, rej) => client.check({ service }, (e, r) => (e ? rej(e) : res(r.status))));
}
