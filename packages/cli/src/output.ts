// Output helpers: JSON on stdout, human lines on stderr, float32 values printed exactly.

/** Shortest decimal that parses back (via Math.fround) to the same float32; null for NaN/Inf. */
export function float32ToJson(v: number): string {
  if (!Number.isFinite(v)) return 'null';
  if (v === 0) return Object.is(v, -0) ? '-0' : '0';
  for (let p = 1; p < 9; p++) {
    const s = v.toPrecision(p);
    if (Math.fround(Number(s)) === v) return normalise(s);
  }
  return normalise(v.toPrecision(9));
}

/** toPrecision may give "1.50e+3" or "0.100"; JSON accepts both, but trimmed is easier to read. */
function normalise(s: string): string {
  const [mant, exp] = s.split('e');
  let m = mant!;
  if (m.includes('.')) m = m.replace(/0+$/, '').replace(/\.$/, '');
  return exp === undefined ? m : `${m}e${exp}`;
}

export function float32ArrayToJson(values: ArrayLike<number>): string {
  const parts = new Array<string>(values.length);
  for (let i = 0; i < values.length; i++) parts[i] = float32ToJson(values[i]!);
  return `[${parts.join(',')}]`;
}

export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value)}\n`);
}

export function logLine(line: string): void {
  process.stderr.write(`${line}\n`);
}

/** Waits until stdout has flushed (large outputs through a pipe). */
export function flushStdout(): Promise<void> {
  return new Promise((resolve) => {
    if (process.stdout.writableNeedDrain) process.stdout.once('drain', () => resolve());
    else resolve();
  });
}
