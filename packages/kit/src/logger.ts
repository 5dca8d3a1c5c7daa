// JSON line logger: one object per line with time, level, component and context fields (request id,
// model, key id). Secrets never reach a log: fields named like credentials are replaced.
export type LogLevel = 'debug' | 'info' | 'warn' | 'error';
const LEVELS: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

export type LogFields = Record<string, unknown>;

export interface LoggerOptions {
  readonly component: string;
  readonly level?: LogLevel;
  /** Where lines go; default process.stderr. */
  readonly write?: (line: string) => void;
  readonly fields?: LogFields;
}

// Exact credential-like names, and anything ending in secret/password/apikey/token (but not
// counts such as input_tokens or ids such as key_id).
const SECRET_KEY = /^(authorization|cookie|set-cookie|password|passwd|secret|token|bearer|api[-_]?key|access[-_]?token|refresh[-_]?token|.*(secret|password|api[-_]?key|auth[-_]?token))$/i;

function clean(value: unknown, depth: number): unknown {
  if (value instanceof Error) {
    const out: LogFields = { name: value.name, message: value.message };
    const code = (value as { code?: unknown }).code;
    if (code !== undefined) out['code'] = code;
    if (value.stack) out['stack'] = value.stack;
    if (value.cause !== undefined && depth < 4) out['cause'] = clean(value.cause, depth + 1);
    return out;
  }
  if (typeof value === 'bigint') return value.toString();
  if (Array.isArray(value)) return depth > 6 ? '[…]' : value.map((v) => clean(v, depth + 1));
  if (typeof value === 'object' && value !== null) {
    if (depth > 6) return '{…}';
    const out: LogFields = {};
    for (const [k, v] of Object.entries(value)) out[k] = SECRET_KEY.test(k) ? '[redacted]' : clean(v, depth + 1);
    return out;
  }
  return value;
}

export class Logger {
  private readonly min: number;
  private readonly write: (line: string) => void;
  private readonly fields: LogFields;

  constructor(readonly options: LoggerOptions) {
    this.min = LEVELS[options.level ?? 'info'];
    this.write = options.write ?? ((line) => process.stderr.write(line));
    this.fields = options.fields ?? {};
  }

  /** A logger that adds fields (request id, model…) to every line. */
  child(fields: LogFields): Logger {
    return new Logger({ ...this.options, fields: { ...this.fields, ...fields } });
  }

  debug(msg: string, fields?: LogFields): void {
    this.log('debug', msg, fields);
  }
  info(msg: string, fields?: LogFields): void {
    this.log('info', msg, fields);
  }
  warn(msg: string, fields?: LogFields): void {
    this.log('warn', msg, fields);
  }
  error(msg: string, fields?: LogFields): void {
    this.log('error', msg, fields);
  }

  log(level: LogLevel, msg: string, fields: LogFields = {}): void {
    if (LEVELS[level] < this.min) return;
    const record = clean({ ...this.fields, ...fields }, 0) as LogFields;
    this.write(`${JSON.stringify({ time: new Date().toISOString(), level, component: this.options.component, msg, ...record })}\n`);
  }
}

export function createLogger(options: LoggerOptions): Logger {
  return new Logger(options);
}
