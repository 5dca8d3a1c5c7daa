// `tandem model fetch`: download an HF-layout checkpoint (an hf:// repo or an http(s):// folder) into a
// folder. It is the init container of a URI-sourced ModelDeployment (model-operator reconcile/pods.ts),
// so it must be restartable: every file is streamed to DIR/.partial/NAME and renamed into DIR only once
// its byte count and contents check out, and files already complete are skipped on a rerun.
import { createWriteStream } from 'node:fs';
import { mkdir, readFile, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable, Transform } from 'node:stream';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import { pipeline } from 'node:stream/promises';
import { readSafetensorsHeader } from './safetensors-writer.js';

export const HF_DEFAULT_ENDPOINT = 'https://huggingface.co';
const PARTIAL_DIR = '.partial';
const INDEX = 'model.safetensors.index.json';
const SINGLE = 'model.safetensors';
/** Config and tokenizer files fetched before the weights (for hf://, those the repo has). */
const REQUIRED_META = ['config.json', 'tokenizer.json', 'tokenizer_config.json'];
const OPTIONAL_META = ['special_tokens_map.json', 'generation_config.json'];
const MAX_REDIRECTS = 10;
const PROGRESS_EVERY_MS = 5_000;
const MIB = 1024 * 1024;

export type ModelUri =
  | { kind: 'hf'; repo: string; revision: string }
  | { kind: 'http'; base: string };

export const notSupportedYet = (scheme: string): string =>
  `${scheme}:// is not supported yet: copy the checkpoint to a PVC or an https:// location`;

/** Parses --uri; throws an Error whose message says what is wrong (the command turns it into a UsageError). */
export function parseModelUri(uri: string): ModelUri {
  const scheme = /^([a-zA-Z][a-zA-Z0-9+.-]*):\/\//.exec(uri)?.[1]?.toLowerCase();
  if (scheme === 's3' || scheme === 'gs') throw new Error(notSupportedYet(scheme));
  if (scheme === 'hf') {
    const [repo = '', revision, ...extra] = uri.slice('hf://'.length).split('@');
    if (!/^[\w.-]+\/[\w.-]+$/.test(repo) || repo.split('/').some((p) => p === '.' || p === '..')) {
      throw new Error(`"${uri}": an hf:// URI is hf://OWNER/NAME or hf://OWNER/NAME@REVISION`);
    }
    if (extra.length > 0 || (revision !== undefined && (!/^[\w./-]+$/.test(revision) || revision.includes('..')))) {
      throw new Error(`"${uri}": the revision after @ must be a branch, tag or commit (letters, digits, . _ - /)`);
    }
    return { kind: 'hf', repo, revision: revision ?? 'main' };
  }
  if (scheme === 'http' || scheme === 'https') {
    let url: URL;
    try {
      url = new URL(uri);
    } catch {
      throw new Error(`"${uri}" is not a valid URL`);
    }
    // Each file is fetched at BASE/NAME, so a query string (a presigned URL) cannot carry over, and a
    // password in the URL would end up in logs.
    if (url.username || url.password) throw new Error('credentials in the URL are not supported');
    if (url.search || url.hash) throw new Error('a query string or fragment is not supported: give the folder URL (files are fetched at URL/NAME)');
    return { kind: 'http', base: `${url.origin}${url.pathname.replace(/\/+$/, '')}` };
  }
  throw new Error(`must be hf://OWNER/NAME[@REVISION] or an http(s):// folder URL, got "${uri}"`);
}

export interface FetchOptions {
  uri: string;
  out: string;
  /** HF_ENDPOINT and HF_TOKEN are read from here (the command passes process.env). */
  env?: Record<string, string | undefined>;
  log?: (line: string) => void;
  /** Tries per file (network errors, 5xx, short bodies). Default 3. */
  attempts?: number;
  /** First retry delay; doubles each time. Default 1000 ms (tests shrink it). */
  backoffMs?: number;
  /** Only config.json and the tokenizer files, no weights (what the router needs). */
  tokenizerOnly?: boolean;
}

export interface FetchSummary {
  uri: string;
  dir: string;
  /** Every file of the checkpoint now in dir, in fetch order. */
  files: string[];
  /** Those already complete from an earlier run. */
  skipped: string[];
  /** Size of all the files. */
  bytes: number;
  /** Bytes transferred by this run. */
  downloaded_bytes: number;
  seconds: number;
}

/** A failure worth another try: network error, 5xx/408/429, a body cut short. */
class RetryableError extends Error {}

interface Ctx {
  out: string;
  partial: string;
  /** Sent only to this origin (the Hub), never along a redirect to another host (the CDN). */
  auth?: { origin: string; header: string };
  /** Extra words for 401/403 errors. */
  authHint: string;
  log: (line: string) => void;
  attempts: number;
  backoffMs: number;
  files: string[];
  skipped: string[];
  bytes: number;
  downloaded: number;
  tokenizerOnly: boolean;
}

/** A URL as it may appear in a message: no query string (signed CDN URLs carry credentials there). */
export const displayUrl = (url: string): string => {
  const u = new URL(url);
  return `${u.origin}${u.pathname}`;
};

const mib = (n: number): string => (n / MIB).toFixed(1);
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
const isRetryableStatus = (s: number) => s >= 500 || s === 408 || s === 429;

async function sizeOf(path: string): Promise<number | undefined> {
  try {
    const s = await stat(path);
    return s.isFile() ? s.size : undefined;
  } catch {
    return undefined;
  }
}

/** fetch with redirects followed by hand, so the bearer token never leaves the Hub's origin. */
async function request(ctx: Ctx, url: string, method: 'GET' | 'HEAD'): Promise<Response> {
  let current = url;
  for (let hop = 0; hop <= MAX_REDIRECTS; hop++) {
    // identity: Content-Length must count the bytes we write, not a compressed body.
    const headers: Record<string, string> = { 'accept-encoding': 'identity' };
    if (ctx.auth && new URL(current).origin === ctx.auth.origin) headers.authorization = ctx.auth.header;
    let res: Response;
    try {
      res = await fetch(current, { method, headers, redirect: 'manual' });
    } catch (e) {
      const cause = (e as { cause?: { message?: string } }).cause?.message;
      throw new RetryableError(`${method} ${displayUrl(current)}: ${(e as Error).message}${cause ? ` (${cause})` : ''}`);
    }
    const location = res.headers.get('location');
    if (res.status >= 300 && res.status < 400 && location) {
      await res.body?.cancel();
      current = new URL(location, current).toString();
      continue;
    }
    return res;
  }
  throw new Error(`${method} ${displayUrl(url)}: more than ${MAX_REDIRECTS} redirects`);
}

async function withRetries<T>(ctx: Ctx, what: string, attempt: () => Promise<T>): Promise<T> {
  for (let i = 1; ; i++) {
    try {
      return await attempt();
    } catch (e) {
      if (!(e instanceof RetryableError)) throw e;
      if (i >= ctx.attempts) throw new Error(`${what}: failed after ${ctx.attempts} attempts: ${e.message}`);
      const wait = ctx.backoffMs * 2 ** (i - 1);
      ctx.log(`${what}: ${e.message}; retrying in ${(wait / 1000).toFixed(1)} s (attempt ${i + 1} of ${ctx.attempts})`);
      await sleep(wait);
    }
  }
}

function statusError(ctx: Ctx, what: string, method: string, url: string, res: Response): Error {
  const msg = `${what}: ${method} ${displayUrl(url)} answered ${res.status}${res.statusText ? ` ${res.statusText}` : ''}`;
  if (isRetryableStatus(res.status)) return new RetryableError(msg);
  return new Error(res.status === 401 || res.status === 403 ? `${msg}${ctx.authHint}` : msg);
}

/** Content-Length when it counts the bytes the body will yield. */
function bodyLength(res: Response): number | undefined {
  const encoding = res.headers.get('content-encoding');
  const length = res.headers.get('content-length');
  if ((encoding && encoding !== 'identity') || length === null || !/^\d+$/.test(length)) return undefined;
  return Number(length);
}

/** Size the server reports for a file (HEAD), or undefined when it cannot say. */
async function remoteSize(ctx: Ctx, url: string): Promise<number | undefined> {
  try {
    const res = await request(ctx, url, 'HEAD');
    return res.ok ? bodyLength(res) : undefined;
  } catch {
    return undefined; // the download that follows reports the problem properly
  }
}

/** Catches what a byte count cannot: an HTML error page, a safetensors file cut inside its data. */
async function checkContents(path: string, name: string): Promise<void> {
  if (name.endsWith('.json')) {
    let value: unknown;
    try {
      value = JSON.parse(await readFile(path, 'utf8'));
    } catch (e) {
      throw new Error(`${name} is not valid JSON (an error page?): ${(e as Error).message}`);
    }
    if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new Error(`${name} is not a JSON object`);
  } else if (name.endsWith('.safetensors')) {
    try {
      const header = await readSafetensorsHeader(path);
      const end = Math.max(0, ...Object.values(header.tensors).map((t) => t.data_offsets[1]));
      const size = (await stat(path)).size;
      if (header.dataStart + end !== size) throw new Error(`its tensors end at byte ${header.dataStart + end} but the file has ${size}`);
    } catch (e) {
      throw new Error(`${name} is not a complete safetensors file: ${(e as Error).message}`);
    }
  }
}

async function downloadOnce(ctx: Ctx, name: string, url: string, optional: boolean): Promise<'fetched' | 'absent'> {
  const res = await request(ctx, url, 'GET');
  if (res.status === 404 && optional) {
    await res.body?.cancel();
    return 'absent';
  }
  if (!res.ok) {
    await res.body?.cancel();
    throw statusError(ctx, name, 'GET', url, res);
  }
  const expected = bodyLength(res);
  const tmp = join(ctx.partial, name);
  const started = Date.now();
  let bytes = 0;
  let lastReport = started;
  const counter = new Transform({
    transform(chunk: Buffer, _enc, done) {
      bytes += chunk.length;
      const now = Date.now();
      if (now - lastReport >= PROGRESS_EVERY_MS) {
        lastReport = now;
        const of = expected === undefined ? '' : `/${mib(expected)}`;
        ctx.log(`  ${name}: ${mib(bytes)}${of} MiB, ${mib((bytes * 1000) / (now - started))} MiB/s`);
      }
      done(null, chunk);
    },
  });
  try {
    const body = res.body ? Readable.fromWeb(res.body as WebReadableStream<Uint8Array>) : Readable.from([]);
    await pipeline(body, counter, createWriteStream(tmp));
  } catch (e) {
    throw new RetryableError(`GET ${displayUrl(url)} broke off after ${bytes} bytes: ${(e as Error).message}`);
  }
  ctx.downloaded += bytes;
  if (expected !== undefined && bytes !== expected) {
    throw new RetryableError(`GET ${displayUrl(url)} gave ${bytes} of its ${expected} bytes`);
  }
  try {
    await checkContents(tmp, name);
  } catch (e) {
    throw new Error(`${(e as Error).message} (from ${displayUrl(url)})`);
  }
  await rename(tmp, join(ctx.out, name));
  const seconds = Math.max((Date.now() - started) / 1000, 1e-3);
  ctx.log(`${name}: ${mib(bytes)} MiB in ${seconds.toFixed(1)} s (${mib(bytes / seconds)} MiB/s)`);
  return 'fetched';
}

interface FileRequest {
  name: string;
  url: string;
  optional?: boolean;
  /** Known from the Hub listing; otherwise asked with HEAD when a local copy exists. */
  size?: number;
}

/** Fetches one file unless a complete copy is already there; 'absent' only for an optional 404. */
async function fetchFile(ctx: Ctx, file: FileRequest): Promise<'fetched' | 'skipped' | 'absent'> {
  const dest = join(ctx.out, file.name);
  const local = await sizeOf(dest);
  if (local !== undefined) {
    const expected = file.size ?? (await remoteSize(ctx, file.url));
    const valid = expected === local && (await checkContents(dest, file.name).then(() => true, () => false));
    if (valid) {
      ctx.log(`${file.name}: already complete (${mib(local)} MiB), skipped`);
      ctx.skipped.push(file.name);
      ctx.files.push(file.name);
      ctx.bytes += local;
      return 'skipped';
    }
    await rm(dest, { force: true });
  }
  const result = await withRetries(ctx, file.name, () => downloadOnce(ctx, file.name, file.url, file.optional ?? false));
  if (result === 'fetched') {
    ctx.files.push(file.name);
    ctx.bytes += (await stat(dest)).size;
  }
  return result;
}

/** The shard files an index names: each once, sorted, and only plain file names (no path tricks). */
export async function shardsOfIndex(path: string): Promise<string[]> {
  const index = JSON.parse(await readFile(path, 'utf8')) as { weight_map?: unknown };
  const map = index.weight_map;
  if (typeof map !== 'object' || map === null || Array.isArray(map)) throw new Error(`${INDEX} has no weight_map object`);
  const shards = [...new Set(Object.values(map as Record<string, unknown>))].sort();
  for (const s of shards) {
    if (typeof s !== 'string' || !/^[\w-][\w.-]*\.safetensors$/.test(s)) {
      throw new Error(`${INDEX} names shard ${JSON.stringify(s)}: not a plain .safetensors file name`);
    }
  }
  if (shards.length === 0) throw new Error(`${INDEX} names no shard files`);
  return shards as string[];
}

async function fetchFromFolder(ctx: Ctx, base: string): Promise<void> {
  const url = (name: string) => `${base}/${encodeURIComponent(name)}`;
  for (const name of REQUIRED_META) await fetchFile(ctx, { name, url: url(name) });
  for (const name of OPTIONAL_META) await fetchFile(ctx, { name, url: url(name), optional: true });
  if (ctx.tokenizerOnly) return;
  if ((await fetchFile(ctx, { name: INDEX, url: url(INDEX), optional: true })) === 'absent') {
    await fetchFile(ctx, { name: SINGLE, url: url(SINGLE) });
    return;
  }
  for (const shard of await shardsOfIndex(join(ctx.out, INDEX))) await fetchFile(ctx, { name: shard, url: url(shard) });
}

/** Lists a Hub repo at a revision: file name → size (blobs=true adds sizes; a listing without them still works). */
async function listHubRepo(ctx: Ctx, endpoint: string, repo: string, revision: string): Promise<Map<string, number | undefined>> {
  const what = `hf://${repo}@${revision}`;
  const url = `${endpoint}/api/models/${repo}/revision/${encodeURIComponent(revision)}?blobs=true`;
  const body = await withRetries(ctx, what, async () => {
    const res = await request(ctx, url, 'GET');
    if (res.status === 404) {
      await res.body?.cancel();
      throw new Error(`${what}: GET ${displayUrl(url)} answered 404: no such repo or revision (or it is private: set HF_TOKEN)`);
    }
    if (!res.ok) {
      await res.body?.cancel();
      throw statusError(ctx, what, 'GET', url, res);
    }
    try {
      return (await res.json()) as { siblings?: unknown };
    } catch (e) {
      throw new RetryableError(`GET ${displayUrl(url)}: the listing is not JSON: ${(e as Error).message}`);
    }
  });
  if (!Array.isArray(body.siblings)) throw new Error(`${what}: the Hub listing has no siblings array`);
  const files = new Map<string, number | undefined>();
  for (const s of body.siblings as { rfilename?: unknown; size?: unknown }[]) {
    if (typeof s?.rfilename === 'string') files.set(s.rfilename, typeof s.size === 'number' ? s.size : undefined);
  }
  return files;
}

async function fetchFromHub(ctx: Ctx, endpoint: string, repo: string, revision: string): Promise<void> {
  const listed = await listHubRepo(ctx, endpoint, repo, revision);
  const what = `hf://${repo}@${revision}`;
  ctx.log(`${what}: ${listed.size} files listed`);
  const file = (name: string): FileRequest => ({
    name, size: listed.get(name), url: `${endpoint}/${repo}/resolve/${encodeURIComponent(revision)}/${encodeURIComponent(name)}`,
  });
  if (!listed.has('config.json')) throw new Error(`${what} has no config.json: not a transformers checkpoint`);
  for (const name of [...REQUIRED_META, ...OPTIONAL_META]) {
    if (listed.has(name)) await fetchFile(ctx, file(name));
    else if (name !== 'config.json' && REQUIRED_META.includes(name)) ctx.log(`note: ${what} has no ${name}`);
  }
  if (ctx.tokenizerOnly) return;
  if (listed.has(INDEX)) {
    await fetchFile(ctx, file(INDEX));
    const shards = await shardsOfIndex(join(ctx.out, INDEX));
    const missing = shards.filter((s) => !listed.has(s));
    if (missing.length > 0) throw new Error(`${INDEX} names ${missing.join(', ')}, which ${what} does not have`);
    for (const shard of shards) await fetchFile(ctx, file(shard));
  } else if (listed.has(SINGLE)) {
    await fetchFile(ctx, file(SINGLE));
  } else {
    throw new Error(`${what} has neither ${SINGLE} nor ${INDEX} (only safetensors checkpoints are supported)`);
  }
}

function hubEndpoint(env: Record<string, string | undefined>): string {
  const raw = env.HF_ENDPOINT?.trim() || HF_DEFAULT_ENDPOINT;
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new Error(`HF_ENDPOINT "${raw}" is not a URL`);
  }
  if ((url.protocol !== 'https:' && url.protocol !== 'http:') || url.username || url.password || url.search) {
    throw new Error(`HF_ENDPOINT must be a plain http(s):// URL (got "${displayUrl(raw)}")`);
  }
  return `${url.origin}${url.pathname.replace(/\/+$/, '')}`;
}

export async function fetchModel(options: FetchOptions): Promise<FetchSummary> {
  const started = Date.now();
  const source = parseModelUri(options.uri);
  const env = options.env ?? {};
  const ctx: Ctx = {
    out: options.out, partial: join(options.out, PARTIAL_DIR), authHint: '', log: options.log ?? (() => {}),
    attempts: options.attempts ?? 3, backoffMs: options.backoffMs ?? 1000, files: [], skipped: [], bytes: 0, downloaded: 0,
    tokenizerOnly: options.tokenizerOnly ?? false,
  };
  if (source.kind === 'hf') {
    const endpoint = hubEndpoint(env);
    await mkdir(ctx.partial, { recursive: true });
    const token = env.HF_TOKEN?.trim();
    if (token) ctx.auth = { origin: new URL(endpoint).origin, header: `Bearer ${token}` };
    ctx.authHint = token ? ' (HF_TOKEN has no access to this repo?)' : ' (a private or gated repo needs HF_TOKEN)';
    ctx.log(`fetching hf://${source.repo}@${source.revision} from ${endpoint}${token ? ' with HF_TOKEN' : ''} → ${options.out}`);
    await fetchFromHub(ctx, endpoint, source.repo, source.revision);
  } else {
    await mkdir(ctx.partial, { recursive: true });
    ctx.log(`fetching ${source.base} → ${options.out}`);
    await fetchFromFolder(ctx, source.base);
  }
  await rm(ctx.partial, { recursive: true, force: true });
  const seconds = (Date.now() - started) / 1000;
  ctx.log(`done: ${ctx.files.length} files, ${mib(ctx.bytes)} MiB (${mib(ctx.downloaded)} MiB downloaded) in ${seconds.toFixed(1)} s`);
  return {
    uri: options.uri, dir: options.out, files: ctx.files, skipped: ctx.skipped, bytes: ctx.bytes,
    downloaded_bytes: ctx.downloaded, seconds: Math.round(seconds * 1000) / 1000,
  };
}
