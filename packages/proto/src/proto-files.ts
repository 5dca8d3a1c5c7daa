// Where the .proto sources live at run time: servers load them for gRPC server reflection
// (@grpc/reflection needs descriptors, which ts-proto's generated code does not carry).
import { fileURLToPath } from 'node:url';

/** The include root: import paths are relative to it ("tandem/v1/tandem.proto"). */
export const PROTO_INCLUDE_DIR: string = fileURLToPath(new URL('../proto', import.meta.url));

/** Proto files by service, as import paths under PROTO_INCLUDE_DIR. */
export const PROTO_FILES = {
  tandem: 'tandem/v1/tandem.proto',
  engine: 'tandem/engine/v1/engine.proto',
} as const;

/** Fully qualified service names, as gRPC health checks and reflection name them. */
export const SERVICE_NAMES = {
  tandem: 'tandem.v1.Tandem',
  engine: 'tandem.engine.v1.Engine',
} as const;
