// KV-cache sizing per sequence for the hybrid layout: sliding layers hold min(L, W) positions, full
// layers hold L; each position stores K and V for every KV head.
export interface KvShape {
  model: string;
  numSlidingLayers: number;
  numFullLayers: number;
  numKvHeads: number;
  headDim: number;
  slidingWindow: number;
  maxPositionEmbeddings: number;
}

export interface KvPlan {
  model: string;
  context: number;
  dtype: string;
  bytes_per_value: number;
  layers: { sliding: number; full: number };
  num_kv_heads: number;
  head_dim: number;
  sliding_window: number;
  /** Positions each layer kind keeps per sequence. */
  positions: { sliding: number; full: number };
  sliding_pool_bytes: number;
  full_pool_bytes: number;
  total_bytes: number;
  all_full_attention_bytes: number;
  /** total / all-full. */
  ratio: number;
  /** The same with whole blocks: full ceil(L/B), sliding min(ceil(L/B), ceil(W/B)+1) (a window straddles blocks). */
  blocks: {
    block_size: number;
    sliding_blocks_per_layer: number;
    full_blocks_per_layer: number;
    sliding_pool_bytes: number;
    full_pool_bytes: number;
    total_bytes: number;
    all_full_attention_bytes: number;
    ratio: number;
  };
}

export const KV_DTYPE_BYTES = { f32: 4, bf16: 2, f16: 2 } as const;
export type KvDtype = keyof typeof KV_DTYPE_BYTES;

export function planKv(shape: KvShape, context: number, dtype: KvDtype, blockSize: number): KvPlan {
  const bytes = KV_DTYPE_BYTES[dtype];
  const perPosition = 2 * shape.numKvHeads * shape.headDim * bytes; // K and V, one layer
  const slidingPositions = Math.min(context, shape.slidingWindow);
  const sliding = shape.numSlidingLayers * slidingPositions * perPosition;
  const full = shape.numFullLayers * context * perPosition;
  const allFull = (shape.numSlidingLayers + shape.numFullLayers) * context * perPosition;

  const ctxBlocks = Math.ceil(context / blockSize);
  const slidingBlocks = Math.min(ctxBlocks, Math.ceil(shape.slidingWindow / blockSize) + 1);
  const bSliding = shape.numSlidingLayers * slidingBlocks * blockSize * perPosition;
  const bFull = shape.numFullLayers * ctxBlocks * blockSize * perPosition;
  const bAllFull = (shape.numSlidingLayers + shape.numFullLayers) * ctxBlocks * blockSize * perPosition;

  return {
    model: shape.model,
    context,
    dtype,
    bytes_per_value: bytes,
    layers: { sliding: shape.numSlidingLayers, full: shape.numFullLayers },
    num_kv_heads: shape.numKvHeads,
    head_dim: shape.headDim,
    sliding_window: shape.slidingWindow,
    positions: { sliding: slidingPositions, full: context },
    sliding_pool_bytes: sliding,
    full_pool_bytes: full,
    total_bytes: sliding + full,
    all_full_attention_bytes: allFull,
    ratio: (sliding + full) / allFull,
    blocks: {
      block_size: blockSize,
      sliding_blocks_per_layer: slidingBlocks,
      full_blocks_per_layer: ctxBlocks,
      sliding_pool_bytes: bSliding,
      full_pool_bytes: bFull,
      total_bytes: bSliding + bFull,
      all_full_attention_bytes: bAllFull,
      ratio: (bSliding + bFull) / bAllFull,
    },
  };
}
