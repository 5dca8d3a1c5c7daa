// @tandem/proto: the gRPC contracts. Generated code lives in src/gen (committed; regenerate with
// `npm run generate`); the two packages are namespaces because they share message names
// (GenerateRequest, SamplingParams, FinishReason, Usage…).
export * as tandemV1 from './gen/tandem/v1/tandem.js';
export * as engineV1 from './gen/tandem/engine/v1/engine.js';
export { TandemService, TandemClient as TandemGrpcClient, type TandemServer } from './gen/tandem/v1/tandem.js';
export { EngineService, EngineClient as EngineGrpcClient, type EngineServer } from './gen/tandem/engine/v1/engine.js';
export { PROTO_INCLUDE_DIR, PROTO_FILES, SERVICE_NAMES } from './proto-files.js';
export { chatRequestToProto, chatRequestFromProto, parseProtoChatRequest, citationToProto } from './convert/chat-request.js';
export {
  chatEventToProto,
  chatEventFromProto,
  ChatResponseCollector,
  finishReasonToProto,
  finishReasonFromProto,
  usageToProto,
  usageFromProto,
} from './convert/chat-event.js';
