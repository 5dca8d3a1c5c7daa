// @tandem/sdk: typed gRPC client for tandem.v1 (imports only @tandem/schemas and @tandem/proto).
export { TandemClient, type TandemClientOptions, type ChatInput, type GenerateInput, type GenerateChunk, type ModelDescription } from './client.js';
export { TandemClientError, GrpcStatus, toClientError, type GrpcStatusName } from './errors.js';
export type { RequestOptions, RetryPolicy } from './call.js';
export type { ChatRequest, ChatResponse, ChatStreamEvent, FinishReason, Usage } from '@tandem/schemas';
