// Streaming safetensors writer: header first (sizes are known up front), then each tensor's bytes
// chunk by chunk, so a multi-GB checkpoint never sits in memory. Sharded output follows HF's layout
// (model-0000i-of-0000N.safetensors + model.safetensors.index.json).
import { open, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

export type SafetensorsDtype = 'F32' | 'BF16' | 'F16';

export const DTYPE_BYTES: Readonly<Record<SafetensorsDtype, number>> = { F32: 4, BF16: 2, F16: 2 };

export interface TensorSource {
  name: string;
  dtype: SafetensorsDtype;
  shape: readonly number[];
  /** The tensor's bytes in row-major order, in any number of chunks; must add up to byteLength. */
  chunks(): Iterable<Uint8Array>;
}

export function tensorByteLength(t: Pick<TensorSource, 'dtype' | 'shape'>): number {
  return t.shape.reduce((a, b) => a * b, 1) * DTYPE_BYTES[t.dtype];
}

interface HeaderEntry { dtype: SafetensorsDtype; shape: number[]; data_offsets: [number, number] }

/** The JSON header padded with spaces to a multiple of 8 bytes, as the reference implementation does. */
export function buildHeader(tensors: readonly TensorSource[], metadata: Record<string, string> = { format: 'pt' }): Buffer {
  const header: Record<string, HeaderEntry | Record<string, string>> = { __metadata__: metadata };
  let offset = 0;
  for (const t of tensors) {
    const n = tensorByteLength(t);
    header[t.name] = { dtype: t.dtype, shape: [...t.shape], data_offsets: [offset, offset + n] };
    offset += n;
  }
  let json = Buffer.from(JSON.stringify(header), 'utf8');
  const pad = (8 - (json.length % 8)) % 8;
  if (pad > 0) json = Buffer.concat([json, Buffer.alloc(pad, 0x20)]);
  const prefix = Buffer.alloc(8);
  prefix.writeBigUInt64LE(BigInt(json.length));
  return Buffer.concat([prefix, json]);
}

/** Writes one .safetensors file; returns the bytes of tensor data written. */
export async function writeSafetensorsFile(
  path: string,
  tensors: readonly TensorSource[],
  onTensor?: (name: string, bytes: number) => void,
): Promise<number> {
  const seen = new Set<string>();
  for (const t of tensors) {
    if (seen.has(t.name)) throw new Error(`duplicate tensor name ${t.name}`);
    seen.add(t.name);
  }
  const fh = await open(path, 'w');
  try {
    const header = buildHeader(tensors);
    await fh.write(header);
    let total = 0;
    for (const t of tensors) {
      const expected = tensorByteLength(t);
      let written = 0;
      for (const chunk of t.chunks()) {
        await fh.write(chunk);
        written += chunk.byteLength;
      }
      if (written !== expected) throw new Error(`tensor ${t.name}: wrote ${written} bytes, its shape needs ${expected}`);
      total += written;
      onTensor?.(t.name, written);
    }
    return total;
  } finally {
    await fh.close();
  }
}

/**
 * Groups tensors (in order) into shards of at most maxShardBytes of data; a tensor larger than the
 * limit gets a shard of its own (as transformers does).
 */
export function planShards<T extends Pick<TensorSource, 'dtype' | 'shape'>>(tensors: readonly T[], maxShardBytes: number): T[][] {
  const shards: T[][] = [];
  let current: T[] = [];
  let size = 0;
  for (const t of tensors) {
    const n = tensorByteLength(t);
    if (current.length > 0 && size + n > maxShardBytes) {
      shards.push(current);
      current = [];
      size = 0;
    }
    current.push(t);
    size += n;
  }
  if (current.length > 0) shards.push(current);
  return shards;
}

export const DEFAULT_MAX_SHARD_BYTES = 2 * 1024 ** 3;

export interface WrittenCheckpoint {
  files: string[];
  totalBytes: number;
  /** Present when sharded. */
  indexFile?: string;
}

/** model.safetensors when everything fits in one shard, else shards + model.safetensors.index.json. */
export async function writeCheckpoint(
  dir: string,
  tensors: readonly TensorSource[],
  options: { maxShardBytes?: number; totalParameters?: number; onTensor?: (name: string, bytes: number) => void } = {},
): Promise<WrittenCheckpoint> {
  const shards = planShards(tensors, options.maxShardBytes ?? DEFAULT_MAX_SHARD_BYTES);
  if (shards.length <= 1) {
    const file = 'model.safetensors';
    const totalBytes = await writeSafetensorsFile(join(dir, file), shards[0] ?? [], options.onTensor);
    return { files: [file], totalBytes };
  }
  const n = shards.length;
  const pad = (i: number) => String(i).padStart(5, '0');
  const weightMap: Record<string, string> = {};
  const files: string[] = [];
  let totalBytes = 0;
  for (let i = 0; i < n; i++) {
    const file = `model-${pad(i + 1)}-of-${pad(n)}.safetensors`;
    totalBytes += await writeSafetensorsFile(join(dir, file), shards[i]!, options.onTensor);
    for (const t of shards[i]!) weightMap[t.name] = file;
    files.push(file);
  }
  const sortedMap = Object.fromEntries(Object.entries(weightMap).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
  const metadata: Record<string, number> = { total_size: totalBytes };
  if (options.totalParameters !== undefined) metadata.total_parameters = options.totalParameters;
  const indexFile = 'model.safetensors.index.json';
  await writeFile(join(dir, indexFile), `${JSON.stringify({ metadata, weight_map: sortedMap }, null, 2)}\n`);
  return { files, totalBytes, indexFile };
}

export interface ParsedHeader {
  /** Byte offset where tensor data starts (8 + header length). */
  dataStart: number;
  metadata: Record<string, string> | undefined;
  tensors: Record<string, HeaderEntry>;
}

/** Reads and checks a safetensors header (used by tests and `model plan`). */
export async function readSafetensorsHeader(path: string): Promise<ParsedHeader> {
  const fh = await open(path, 'r');
  try {
    const prefix = Buffer.alloc(8);
    await fh.read(prefix, 0, 8, 0);
    const len = Number(prefix.readBigUInt64LE());
    const { size } = await fh.stat();
    if (len <= 0 || 8 + len > size) throw new Error(`${path}: header length ${len} does not fit a ${size}-byte file`);
    const json = Buffer.alloc(len);
    await fh.read(json, 0, len, 8);
    const parsed = JSON.parse(json.toString('utf8')) as Record<string, unknown>;
    const { __metadata__: metadata, ...tensors } = parsed;
    return { dataStart: 8 + len, metadata: metadata as Record<string, string> | undefined, tensors: tensors as Record<string, HeaderEntry> };
  } finally {
    await fh.close();
  }
}

/** Reads one tensor's raw bytes (tests only; loads it whole). */
export async function readTensorBytes(path: string, name: string): Promise<Buffer> {
  const header = await readSafetensorsHeader(path);
  const entry = header.tensors[name];
  if (!entry) throw new Error(`${path}: no tensor ${name}`);
  const buf = await readFile(path);
  return buf.subarray(header.dataStart + entry.data_offsets[0], header.dataStart + entry.data_offsets[1]);
}
