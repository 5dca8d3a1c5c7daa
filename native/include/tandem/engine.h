/*
 * Tandem engine: the only public header. A versioned C API over the C++ engine.
 * Opaque handles, status codes, sized integers; no C++ exception ever crosses this boundary.
 *
 * Threading: every function is thread-safe. The engine owns one step thread that runs the
 * scheduler and the forward pass; event callbacks are invoked on that thread and must return
 * quickly (copy what they need). Pointers inside an event are valid only during the callback.
 */
#ifndef TANDEM_ENGINE_H
#define TANDEM_ENGINE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define TANDEM_API_VERSION 1

typedef enum tandem_status {
  TANDEM_STATUS_OK = 0,
  TANDEM_STATUS_INVALID_ARGUMENT = 1,   /* a request or option field is invalid; message names it */
  TANDEM_STATUS_NOT_FOUND = 2,          /* a file or request id does not exist */
  TANDEM_STATUS_IO_ERROR = 3,           /* reading a model file failed */
  TANDEM_STATUS_MODEL_FORMAT = 4,       /* config.json / safetensors malformed or unsupported */
  TANDEM_STATUS_RESOURCE_EXHAUSTED = 5, /* the request can never fit (e.g. longer than the KV pools) */
  TANDEM_STATUS_CANCELLED = 6,
  TANDEM_STATUS_INTERNAL = 7,
  TANDEM_STATUS_UNSUPPORTED = 8,
  TANDEM_STATUS_UNAVAILABLE = 9         /* the tensor-parallel group failed (a rank died, stalled or disagreed) */
} tandem_status;

typedef struct tandem_engine tandem_engine;

typedef struct tandem_engine_options {
  const char* model_dir;      /* HF folder: config.json + model.safetensors or sharded index */
  uint32_t threads;           /* kernel threads; 0 = TANDEM_THREADS env, else hardware cores */
  uint32_t block_size;        /* KV block size in positions; 0 = 16 */
  uint64_t kv_memory_bytes;   /* budget for both KV pools; 0 = 512 MiB */
  uint32_t max_batch_tokens;  /* tokens computed per step (prefill chunks + decodes); 0 = 512 */
  uint32_t max_running;       /* sequences running at once; 0 = 64 */
  uint32_t max_seq_len;       /* prompt + output limit; 0 = config max_position_embeddings */
  /* Tensor parallelism (appended; all zero = off). A group is world_size processes: rank 0 calls
   * tandem_engine_create and serves requests, ranks 1..world_size-1 call
   * tandem_engine_run_follower. rank 0 listens on leader_addr's port. */
  uint32_t rank;                  /* 0..world_size-1 */
  uint32_t world_size;            /* 0 or 1 = no tensor parallelism */
  const char* leader_addr;        /* host:port of rank 0's rendezvous; required when world_size > 1 */
  uint32_t rendezvous_timeout_ms; /* every rank must join within this; 0 = 60000 */
  uint32_t collective_timeout_ms; /* a collective (or a silent rank 0) fails after this; 0 = 5000 */
  /* Collective transport (appended): "auto" (null or "" too: shared memory when every rank of the
   * group is on this host and can map it, else TCP), "tcp", or "shm" (an error when it cannot be
   * used). Every rank of a group must pass the same value. */
  const char* tp_transport;
} tandem_engine_options;

/* stage is a short static string ("config", "weights", "kv"); fraction in [0, 1]. */
typedef void (*tandem_progress_fn)(void* user, float fraction, const char* stage);

typedef enum tandem_dtype {
  TANDEM_DTYPE_UNSPECIFIED = 0,
  TANDEM_DTYPE_F32 = 1,
  TANDEM_DTYPE_BF16 = 2,
  TANDEM_DTYPE_F16 = 3
} tandem_dtype;

typedef struct tandem_model_info {
  uint32_t vocab_size, hidden_size, num_layers, num_heads, num_kv_heads, head_dim;
  uint32_t intermediate_size, sliding_window, num_sliding_layers, num_full_layers;
  uint32_t max_position_embeddings;
  int32_t bos_token_id, eos_token_id, pad_token_id; /* -1 when absent */
  float logit_scale;
  tandem_dtype weight_dtype;
  uint32_t block_size, max_batch_tokens, max_running, max_seq_len, threads;
  uint32_t sliding_blocks_total, full_blocks_total;
  uint64_t weight_bytes, kv_bytes;  /* this rank's share when tensor-parallel */
  uint32_t tp_rank, tp_world_size;  /* appended; world size 1 without tensor parallelism */
  uint32_t tp_transport;            /* appended: 0 none, 1 TCP, 2 shared memory */
} tandem_model_info;

typedef struct tandem_sampling_params {
  float temperature;        /* 0 = greedy; must be finite and >= 0 */
  int32_t top_k;            /* 0 = off; >= 0 */
  float top_p;              /* in (0, 1]; 1 = off */
  float min_p;              /* in [0, 1]; 0 = off */
  float repetition_penalty; /* > 0; 1 = off (HF semantics, over prompt + output tokens) */
  float frequency_penalty;  /* in [-2, 2]; 0 = off (OpenAI semantics, output tokens) */
  float presence_penalty;   /* in [-2, 2]; 0 = off */
  uint64_t seed;            /* used when has_seed; otherwise a seed is drawn per request */
  uint8_t has_seed;
  uint32_t top_logprobs;    /* 0..20 alternatives reported per generated token */
} tandem_sampling_params;

typedef struct tandem_request_params {
  const int32_t* prompt;
  uint32_t prompt_len;      /* >= 1 */
  uint32_t max_tokens;      /* >= 1 */
  tandem_sampling_params sampling;
  const int32_t* stop_token_ids; /* generation ends after emitting one of these */
  uint32_t num_stop_token_ids;
  uint8_t ignore_eos;       /* when 0, the config's eos_token_id also stops */
  int32_t priority;         /* larger runs first; equal priorities are FCFS */
} tandem_request_params;

typedef enum tandem_finish_reason {
  TANDEM_FINISH_NONE = 0,      /* not finished: more events follow */
  TANDEM_FINISH_LENGTH = 1,    /* max_tokens or max_seq_len reached */
  TANDEM_FINISH_STOP = 2,      /* a stop token or eos was emitted */
  TANDEM_FINISH_CANCELLED = 3,
  TANDEM_FINISH_ERROR = 4      /* message in error */
} tandem_finish_reason;

typedef struct tandem_token_event {
  uint64_t request_id;
  const int32_t* tokens;       /* tokens produced since the previous event (usually 1) */
  const float* logprobs;       /* log-softmax of the scaled logits, one per token */
  const int32_t* top_ids;      /* n_tokens x n_top, best first */
  const float* top_logprobs;   /* n_tokens x n_top */
  uint32_t n_tokens, n_top;
  tandem_finish_reason finish; /* != NONE on the last event of a request */
  uint32_t prompt_tokens, completion_tokens;
  const char* error;           /* when finish == TANDEM_FINISH_ERROR */
} tandem_token_event;

typedef void (*tandem_event_fn)(void* user, const tandem_token_event* event);

typedef struct tandem_engine_stats {
  uint32_t waiting, running;
  uint32_t sliding_blocks_used, sliding_blocks_total;
  uint32_t full_blocks_used, full_blocks_total;
  uint64_t steps, preemptions, prompt_tokens_total, generated_tokens_total;
  /* appended: rank 0's collectives (all zero without tensor parallelism) */
  uint64_t collective_ops, collective_bytes, collective_nanos;
  /* 1 once the tensor-parallel group failed (a rank died or stalled; noticed within about a
   * second even when idle): every request now fails with UNAVAILABLE, so a server should report
   * NOT_SERVING and exit. */
  uint32_t tp_group_failed;
} tandem_engine_stats;

/* Copies the last error of a failed call on this thread into buf (NUL-terminated). */
size_t tandem_last_error(char* buf, size_t buf_len);

/* Loads the model (memory-mapped weights) and starts the step thread. progress may be NULL. */
tandem_status tandem_engine_create(const tandem_engine_options* options, tandem_progress_fn progress,
                                   void* progress_user, tandem_engine** out_engine);
/* Cancels every request (each gets a CANCELLED event), stops the step thread, frees memory.
 * Must not be called from an event callback (it is then refused and the engine is kept). */
void tandem_engine_free(tandem_engine* engine);

tandem_status tandem_engine_get_info(const tandem_engine* engine, tandem_model_info* out_info);
tandem_status tandem_engine_get_stats(const tandem_engine* engine, tandem_engine_stats* out_stats);

/* Validates and enqueues a request. On OK, callback receives its events (last one has finish,
 * exactly one per request); the first event may arrive before this call returns.
 * On INVALID_ARGUMENT the message (tandem_last_error) lists every bad field, e.g. "prompt[3]: ...",
 * separated by "; ". */
tandem_status tandem_engine_submit(tandem_engine* engine, const tandem_request_params* params,
                                   tandem_event_fn callback, void* user, uint64_t* out_request_id);
/* Cancels a waiting or running request and frees its KV blocks before the next step starts;
 * NOT_FOUND if it already finished. If it finishes in the step running now, its normal final
 * event is sent instead of CANCELLED. */
tandem_status tandem_engine_cancel(tandem_engine* engine, uint64_t request_id);

/* Runs a prompt through the same scheduler, KV cache and batched forward as generation and
 * copies logits (already multiplied by logit_scale) into out: vocab floats, or
 * prompt_len x vocab when all_positions. Blocks the caller until done (not allowed from an
 * event callback). */
tandem_status tandem_engine_logits(tandem_engine* engine, const int32_t* tokens, uint32_t n_tokens,
                                   uint8_t all_positions, float* out, size_t out_len);

/* Tensor parallelism: runs follower rank options->rank (>= 1) of a group: loads this rank's weight
 * slices, joins rank 0 at options->leader_addr, then executes the steps rank 0 broadcasts. Blocks
 * until rank 0's engine is freed (OK) or the group fails: UNAVAILABLE when rank 0 or another rank
 * died, stalled past collective_timeout_ms or refused the handshake (the message says which). */
tandem_status tandem_engine_run_follower(const tandem_engine_options* options, tandem_progress_fn progress,
                                         void* progress_user);

#ifdef __cplusplus
}
#endif
#endif /* TANDEM_ENGINE_H */
