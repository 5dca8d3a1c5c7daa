// gRPC server reflection (grpcurl list / describe) from the .proto sources: ts-proto's generated
// code carries no descriptors, so they are loaded here with proto-loader.
import type { Server } from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import { ReflectionService } from '@grpc/reflection';

/** Exposes the services in `files` (import paths under includeDir) and nothing else. */
export function addReflection(server: Server, includeDir: string, files: readonly string[], services?: readonly string[]): void {
  const definition = loadSync([...files], { includeDirs: [includeDir], keepCase: true, longs: String, enums: String, defaults: true, oneofs: true });
  const reflection = new ReflectionService(definition, services ? { services: [...services] } : undefined);
  reflection.addToServer(server);
}
