import { credentials, loadPackageDefinition, Server, ServerCredentials, type Client, type ServiceError } from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { protoPath } from 'grpc-health-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HealthReporter } from './health.js';
import { addReflection } from './reflection.js';
import { PROTO_FILES, PROTO_INCLUDE_DIR, SERVICE_NAMES } from '@tandem/proto';

type HealthClient = Client & { check(req: { service: string }, cb: (e: ServiceError | null, r: { status: string }) => void): void };

describe('HealthReporter on a real server', () => {
  const server = new Server();
  const health = new HealthReporter([SERVICE_NAMES.engine]);
  let client: HealthClient;
  let port = 0;

  beforeAll(async () => {
    health.addToServer(server);
    addReflection(server, PROTO_INCLUDE_DIR, [PROTO_FILES.engine]);
    port = await new Promise<number>((res, rej) => server.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (e, p) => (e ? rej(e) : res(p))));
    const pkg = loadPackageDefinition(loadSync(protoPath, { enums: String })) as unknown as { grpc: { health: { v1: { Health: new (a: string, c: ReturnType<typeof credentials.createInsecure>) => HealthClient } } } };
    client = new pkg.grpc.health.v1.Health(`127.0.0.1:${port}`, credentials.createInsecure());
  });
  afterAll(() => {
    client.close();
    server.forceShutdown();
  });

  const check = (service: string) => new Promise<string>((res, rej) => client.check({ service }, (e, r) => (e ? rej(e) : res(r.status))));

  it('starts NOT_SERVING and flips the server and every service together', async () => {
    expect(await check('')).toBe('NOT_SERVING');
    expect(await check(SERVICE_NAMES.engine)).toBe('NOT_SERVING');
    health.set('SERVING');
    expect(await check('')).toBe('SERVING');
    expect(await check(SERVICE_NAMES.engine)).toBe('SERVING');
    expect(health.status).toBe('SERVING');
    await expect(check('no.such.Service')).rejects.toMatchObject({ code: 5 });
  });

  it('answers server reflection with the engine service (what grpcurl list shows)', async () => {
    const reflectionProto = join(dirname(createRequire(import.meta.url).resolve('@grpc/reflection')), '../proto/grpc/reflection/v1/reflection.proto');
    type Stream = { write(m: unknown): void; end(): void; on(ev: string, f: (x: never) => void): void };
    const pkg = loadPackageDefinition(loadSync(reflectionProto, { keepCase: true })) as unknown as {
      grpc: { reflection: { v1: { ServerReflection: new (a: string, c: ReturnType<typeof credentials.createInsecure>) => Client & { ServerReflectionInfo(): Stream } } } };
    };
    const rc = new pkg.grpc.reflection.v1.ServerReflection(`127.0.0.1:${port}`, credentials.createInsecure());
    try {
      const names = await new Promise<string[]>((res, rej) => {
        const call = rc.ServerReflectionInfo();
        call.on('data', (m: { list_services_response?: { service: { name: string }[] } }) => res((m.list_services_response?.service ?? []).map((s) => s.name)));
        call.on('error', rej);
        call.write({ list_services: '*' });
        call.end();
      });
      expect(names).toContain(SERVICE_NAMES.engine);
    } finally {
      rc.close();
    }
  });
});
