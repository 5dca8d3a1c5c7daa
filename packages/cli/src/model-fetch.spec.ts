// `tandem model fetch` over real HTTP on loopback. The Hugging Face Hub cannot be reached from tests, so
// a node:http test double serves its two endpoints (the model-info listing and /resolve/) from a folder
// written by initModel; a second server plays the CDN that the Hub redirects LFS files to.
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { type IncomingMessage, type Server, type ServerResponse, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fetchModel, parseModelUri } from './model-fetch.js';
import { initModel } from './model-init.js';
import { PRESETS } from './presets.js';
import { type RunResult, runTandem, tryLoadEngine } from './test-support.js';

const engineModule = await tryLoadEngine();
const root = mkdtempSync(join(tmpdir(), 'tandem-fetch-'));
const SINGLE = join(root, 'repo-single');
const SHARDED = join(root, 'repo-sharded');
const TOKEN = 'hf_test_secret_token';
let outCount = 0;
const freshOut = () => join(root, `out-${++outCount}`);

interface Logged { method: string; path: string; auth: string | undefined }
type Fault = 'cut' | 'cut-once' | 'html' | number;

/** A loopback server: Hub API + /resolve/ for hf://owner/<dir>, plain folders under /models/<dir>/. */
class TestServer {
  readonly requests: Logged[] = [];
  /** File name → what goes wrong when it is requested. */
  readonly faults = new Map<string, Fault>();
  /** Set on the Hub: .safetensors downloads redirect here, with a signed query string. */
  cdn?: TestServer;
  private server!: Server;
  url = '';

  async start(): Promise<this> {
    this.server = createServer((req, res) => this.handle(req, res));
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this;
  }

  close(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }

  count(method: string, pathEnd: string): number {
    return this.requests.filter((r) => r.method === method && r.path.split('?')[0]!.endsWith(pathEnd)).length;
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const path = req.url ?? '/';
    this.requests.push({ method: req.method ?? '', path, auth: req.headers.authorization });
    const bare = path.split('?')[0]!;
    const api = /^\/api\/models\/owner\/([\w-]+)\/revision\/main$/.exec(bare);
    if (api) {
      const dir = join(root, api[1]!);
      if (!existsSync(dir)) return void res.writeHead(404).end('{"error":"Repository not found"}');
      const siblings = readdirSync(dir).map((f) => ({ rfilename: f, size: statSync(join(dir, f)).size }));
      return void res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ id: `owner/${api[1]}`, siblings }));
    }
    const hub = /^\/owner\/([\w-]+)\/resolve\/main\/([\w.-]+)$/.exec(bare);
    if (hub && this.cdn && hub[2]!.endsWith('.safetensors')) {
      return void res.writeHead(302, { location: `${this.cdn.url}/cdn/${hub[1]}/${hub[2]}?X-Signature=do-not-log` }).end();
    }
    const file = hub ?? /^\/(?:models|cdn)\/([\w-]+)\/([\w.-]+)$/.exec(bare);
    if (!file) return void res.writeHead(404).end('no route');
    this.serveFile(req, res, join(root, file[1]!, file[2]!), file[2]!);
  }

  private serveFile(req: IncomingMessage, res: ServerResponse, path: string, name: string): void {
    const fault = this.faults.get(name);
    if (typeof fault === 'number') {
      this.faults.delete(name); // one bad answer, then normal service
      return void res.writeHead(fault).end('<html>error</html>');
    }
    if (!existsSync(path)) return void res.writeHead(404, { 'content-type': 'text/html' }).end('<html>Not Found</html>');
    if (fault === 'html') return void res.writeHead(200, { 'content-type': 'text/html' }).end('<html><body>Sign in</body></html>');
    const body = readFileSync(path);
    res.writeHead(200, { 'content-length': body.length, 'content-type': 'application/octet-stream' });
    if (req.method === 'HEAD') return void res.end();
    if (fault === 'cut' || fault === 'cut-once') {
      if (fault === 'cut-once') this.faults.delete(name);
      // Promise the whole file, send half, drop the connection: what a proxy timeout looks like.
      return void res.write(body.subarray(0, body.length >> 1), () => res.destroy());
    }
    res.end(body);
  }
}

const hub = new TestServer();
const cdn = new TestServer();
const plain = new TestServer();

beforeAll(async () => {
  await initModel({ preset: PRESETS['cohere2-tiny'], out: SINGLE, seed: 11, dtype: 'f32' });
  writeFileSync(join(SINGLE, 'special_tokens_map.json'), '{"bos_token":"<BOS_TOKEN>"}\n');
  writeFileSync(join(SINGLE, 'README.md'), '# not part of a checkpoint\n');
  // ~1.5 MB of f32 weights: two shards plus the index.
  const r = await initModel({ preset: PRESETS['cohere2-tiny'], out: SHARDED, seed: 12, dtype: 'f32', maxShardBytes: 800_000 });
  expect(r.files).toHaveLength(2);
  // A stray shard the index does not name (an older upload): must not be fetched.
  copyFileSync(join(SHARDED, r.files[0]!), join(SHARDED, 'model-00001-of-00009.safetensors'));
  await Promise.all([hub.start(), cdn.start(), plain.start()]);
  hub.cdn = cdn;
});

afterAll(async () => {
  await Promise.all([hub.close(), cdn.close(), plain.close()]);
  rmSync(root, { recursive: true, force: true });
});

/** The real `tandem` binary, with the Hub variables cleared unless a test sets them. */
function tandem(args: string[], env: Record<string, string> = {}): Promise<RunResult> {
  return runTandem(args, undefined, { HF_TOKEN: '', HF_ENDPOINT: '', ...env });
}

function expectSameFiles(src: string, out: string, files: string[]): void {
  expect(readdirSync(out).sort()).toEqual([...files].sort());
  for (const f of files) expect(readFileSync(join(out, f)).equals(readFileSync(join(src, f))), f).toBe(true);
}

async function expectLogitsRun(dir: string): Promise<void> {
  const r = await tandem(['logits', '--model', dir, '--tokens', '1,2,3']);
  expect(r.code, r.stderr).toBe(0);
  expect(JSON.parse(r.stdout).logits[0]).toHaveLength(384);
}

const quiet = { attempts: 3, backoffMs: 5 };
const SINGLE_FILES = ['config.json', 'tokenizer.json', 'tokenizer_config.json', 'special_tokens_map.json', 'generation_config.json', 'model.safetensors'];

describe('tandem model fetch hf://', () => {
  const out = freshOut();

  it('downloads what a checkpoint needs with the token on the Hub only, byte-identical, loadable', async () => {
    const r = await tandem(['model', 'fetch', '--uri', 'hf://owner/repo-single', '--out', out], { HF_ENDPOINT: hub.url, HF_TOKEN: TOKEN });
    expect(r.code, r.stderr).toBe(0);
    const summary = JSON.parse(r.stdout);
    expect(summary).toMatchObject({ files: SINGLE_FILES, skipped: [], bytes: expect.any(Number), seconds: expect.any(Number) });
    expect(summary.downloaded_bytes).toBe(summary.bytes);
    expectSameFiles(SINGLE, out, SINGLE_FILES); // no README.md, no .partial left behind
    const hubRequests = hub.requests.filter((q) => q.path.includes('repo-single'));
    expect(hubRequests[0]!.path).toMatch(/^\/api\/models\/owner\/repo-single\/revision\/main/);
    for (const q of hubRequests) expect(q.auth, q.path).toBe(`Bearer ${TOKEN}`);
    // The LFS redirect goes to another origin: the bearer token must not follow it.
    const cdnRequests = cdn.requests.filter((q) => q.path.includes('repo-single'));
    expect(cdnRequests).toHaveLength(1);
    expect(cdnRequests[0]!.auth).toBeUndefined();
    expect(r.stderr).not.toContain(TOKEN);
    expect(r.stderr).toMatch(/model\.safetensors: [\d.]+ MiB in [\d.]+ s \([\d.]+ MiB\/s\)/);
  });

  it.skipIf(!engineModule)('`tandem logits` runs on the fetched folder', async () => {
    await expectLogitsRun(out);
  });

  it('a rerun lists the repo again but downloads nothing that is complete', async () => {
    const before = hub.requests.length;
    const cdnBefore = cdn.requests.length;
    const s = await fetchModel({ uri: 'hf://owner/repo-single', out, env: { HF_ENDPOINT: hub.url }, ...quiet });
    expect(hub.requests.slice(before).map((q) => q.path.split('?')[0])).toEqual(['/api/models/owner/repo-single/revision/main']);
    expect(cdn.requests.length).toBe(cdnBefore);
    expect(s.skipped).toEqual(SINGLE_FILES);
    expect(s.downloaded_bytes).toBe(0);

    // A file cut short (a crash before the rename cannot do this, but a disk can): fetched again, alone.
    truncateSync(join(out, 'model.safetensors'), 1000);
    const again = await fetchModel({ uri: 'hf://owner/repo-single', out, env: { HF_ENDPOINT: hub.url }, ...quiet });
    expect(again.skipped).toEqual(SINGLE_FILES.filter((f) => f !== 'model.safetensors'));
    expect(again.downloaded_bytes).toBe(statSync(join(SINGLE, 'model.safetensors')).size);
    expectSameFiles(SINGLE, out, SINGLE_FILES);
  });

  it('a sharded repo: the index and exactly the shards it names', async () => {
    const o = freshOut();
    const s = await fetchModel({ uri: 'hf://owner/repo-sharded@main', out: o, env: { HF_ENDPOINT: hub.url }, ...quiet });
    const expected = ['config.json', 'tokenizer.json', 'tokenizer_config.json', 'generation_config.json',
      'model.safetensors.index.json', 'model-00001-of-00002.safetensors', 'model-00002-of-00002.safetensors'];
    expect(s.files).toEqual(expected);
    expectSameFiles(SHARDED, o, expected);
  });

  it('--tokenizer-only (what the router fetches): config and tokenizer files, no weights', async () => {
    const o = freshOut();
    const s = await fetchModel({ uri: 'hf://owner/repo-sharded', out: o, env: { HF_ENDPOINT: hub.url }, tokenizerOnly: true, ...quiet });
    const expected = ['config.json', 'tokenizer.json', 'tokenizer_config.json', 'generation_config.json'];
    expect(s.files).toEqual(expected);
    expectSameFiles(SHARDED, o, expected);
    const r = await tandem(['model', 'fetch', '--uri', 'hf://owner/repo-sharded', '--out', freshOut(), '--tokenizer-only'], { HF_ENDPOINT: hub.url });
    expect(r.code, r.stderr).toBe(0);
    expect((JSON.parse(r.stdout) as { files: string[] }).files.some((f) => f.endsWith('.safetensors') || f.endsWith('.index.json'))).toBe(false);
  });

  it('an unknown repo is a 404 naming it; a 401 says to set HF_TOKEN', async () => {
    await expect(fetchModel({ uri: 'hf://owner/no-such-repo', out: freshOut(), env: { HF_ENDPOINT: hub.url }, ...quiet }))
      .rejects.toThrow(/hf:\/\/owner\/no-such-repo@main: GET http:\/\/127\.0\.0\.1:\d+\/api\/models\/owner\/no-such-repo\/revision\/main answered 404/);
    hub.faults.set('config.json', 401);
    await expect(fetchModel({ uri: 'hf://owner/repo-single', out: freshOut(), env: { HF_ENDPOINT: hub.url, HF_TOKEN: TOKEN }, ...quiet }))
      .rejects.toThrow(/^config\.json: GET http:\/\/127\.0\.0\.1:\d+\/owner\/repo-single\/resolve\/main\/config\.json answered 401 Unauthorized \(HF_TOKEN has no access/);
  });
});

describe('tandem model fetch https:// folder', () => {
  const base = () => `${plain.url}/models/repo-sharded`;
  const SHARDED_FILES = ['config.json', 'tokenizer.json', 'tokenizer_config.json', 'generation_config.json',
    'model.safetensors.index.json', 'model-00001-of-00002.safetensors', 'model-00002-of-00002.safetensors'];
  const out = freshOut();

  it('fetches the HF layout: optional files may 404, the index and its two shards', async () => {
    const r = await tandem(['model', 'fetch', '--uri', `${base()}/`, '--out', out]);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout).files).toEqual(SHARDED_FILES);
    expectSameFiles(SHARDED, out, SHARDED_FILES);
    expect(plain.count('GET', '/special_tokens_map.json')).toBe(1); // a 404, once: optional, not retried
    expect(plain.count('GET', '/model.safetensors')).toBe(0);
  });

  it.skipIf(!engineModule)('`tandem logits` runs on the fetched shards', async () => {
    await expectLogitsRun(out);
  });

  it('a rerun only asks for sizes (HEAD) and downloads nothing', async () => {
    const gets = plain.requests.filter((q) => q.method === 'GET').length;
    const s = await fetchModel({ uri: base(), out, ...quiet });
    expect(plain.requests.filter((q) => q.method === 'GET').length - gets).toBe(1); // special_tokens_map.json: still a 404
    expect(s.skipped).toEqual(SHARDED_FILES);
    expect(s.downloaded_bytes).toBe(0);
  });

  it('a single model.safetensors when there is no index', async () => {
    const o = freshOut();
    const s = await fetchModel({ uri: `${plain.url}/models/repo-single`, out: o, ...quiet });
    expect(s.files).toEqual(SINGLE_FILES);
    expect(plain.count('GET', '/repo-single/model.safetensors.index.json')).toBe(1);
  });

  it('a 404 on a required file fails at once, naming the file and URL', async () => {
    const dir = join(root, 'no-tokconfig');
    mkdirSync(dir);
    for (const f of ['config.json', 'tokenizer.json']) copyFileSync(join(SINGLE, f), join(dir, f));
    await expect(fetchModel({ uri: `${plain.url}/models/no-tokconfig`, out: freshOut(), ...quiet }))
      .rejects.toThrow(/^tokenizer_config\.json: GET http:\/\/127\.0\.0\.1:\d+\/models\/no-tokconfig\/tokenizer_config\.json answered 404 Not Found$/);
    expect(plain.count('GET', '/no-tokconfig/tokenizer_config.json')).toBe(1);
  });

  it('a body cut short is retried, then fails naming the file; nothing half-written under its name', async () => {
    const o = freshOut();
    const logs: string[] = [];
    plain.faults.set('model.safetensors', 'cut');
    try {
      await expect(fetchModel({ uri: `${plain.url}/models/repo-single`, out: o, log: (l) => logs.push(l), ...quiet }))
        .rejects.toThrow(/^model\.safetensors: failed after 3 attempts: GET http:\/\/127\.0\.0\.1:\d+\/models\/repo-single\/model\.safetensors (gave \d+ of its \d+ bytes|broke off after \d+ bytes)/);
    } finally {
      plain.faults.delete('model.safetensors');
    }
    expect(logs.filter((l) => l.includes('retrying'))).toHaveLength(2);
    expect(existsSync(join(o, 'model.safetensors'))).toBe(false);
    expect(existsSync(join(o, 'config.json'))).toBe(true);

    // Transient trouble (a cut, a 503) then success: the file arrives whole.
    plain.faults.set('model.safetensors', 'cut-once');
    plain.faults.set('config.json', 503);
    const o2 = freshOut();
    const s = await fetchModel({ uri: `${plain.url}/models/repo-single`, out: o2, ...quiet });
    expectSameFiles(SINGLE, o2, s.files);
  });

  it('an HTML page served as config.json is caught here, not in the shard', async () => {
    const o = freshOut();
    plain.faults.set('config.json', 'html');
    try {
      await expect(fetchModel({ uri: `${plain.url}/models/repo-single`, out: o, ...quiet }))
        .rejects.toThrow(/^config\.json is not valid JSON \(an error page\?\).*\(from http:\/\/127\.0\.0\.1:\d+\/models\/repo-single\/config\.json\)$/);
    } finally {
      plain.faults.delete('config.json');
    }
    expect(existsSync(join(o, 'config.json'))).toBe(false);
  });
});

describe('tandem model fetch flags', () => {
  it('refuses s3:// and gs:// with what to do instead (exit 2)', async () => {
    for (const uri of ['s3://bucket/command-a', 'gs://bucket/command-a']) {
      const r = await tandem(['model', 'fetch', '--uri', uri, '--out', freshOut()]);
      expect(r.code).toBe(2);
      expect(r.stderr).toContain(`--uri: ${uri.slice(0, 2)}:// is not supported yet: copy the checkpoint to a PVC or an https:// location`);
    }
  });

  it('names each bad flag', async () => {
    const r = await tandem(['model', 'fetch', '--uri', 'ftp://x/y']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--uri: must be hf:\/\/OWNER\/NAME\[@REVISION\] or an http\(s\):\/\/ folder URL/);
    expect(r.stderr).toMatch(/--out: is required/);
  });

  it('parses URIs strictly', () => {
    expect(parseModelUri('hf://CohereLabs/c4ai-command-r7b-12-2024')).toEqual({ kind: 'hf', repo: 'CohereLabs/c4ai-command-r7b-12-2024', revision: 'main' });
    expect(parseModelUri('hf://o/n@refs/pr/1')).toEqual({ kind: 'hf', repo: 'o/n', revision: 'refs/pr/1' });
    expect(parseModelUri('https://host/a/b/')).toEqual({ kind: 'http', base: 'https://host/a/b' });
    expect(() => parseModelUri('hf://just-a-name')).toThrow(/hf:\/\/OWNER\/NAME/);
    expect(() => parseModelUri('hf://o/../x')).toThrow(/hf:\/\/OWNER\/NAME/);
    expect(() => parseModelUri('https://user:pw@host/m')).toThrow(/credentials/);
    expect(() => parseModelUri('https://host/m?sig=1')).toThrow(/query string/);
  });

  it('refuses an index that names a path outside the folder', async () => {
    const dir = join(root, 'evil');
    mkdirSync(dir);
    for (const f of ['config.json', 'tokenizer.json', 'tokenizer_config.json']) copyFileSync(join(SINGLE, f), join(dir, f));
    writeFileSync(join(dir, 'model.safetensors.index.json'), JSON.stringify({ weight_map: { w: '../../etc/passwd.safetensors' } }));
    await expect(fetchModel({ uri: `${plain.url}/models/evil`, out: freshOut(), ...quiet })).rejects.toThrow(/names shard "\.\.\/\.\.\/etc\/passwd\.safetensors": not a plain/);
  });
});
