// JSON text as Python's json.dumps(value, ensure_ascii=False) writes it: ", " and ": " separators,
// keys in insertion order, non-ASCII kept. The cmd3 prompt embeds tool schemas, tool calls and results
// in exactly this form, so the bytes must match what the model saw in training.
export function pyJson(value: unknown): string {
  if (value === null || value === undefined) return 'null';
  if (typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw new TypeError(`cannot serialise ${value} as JSON`);
    return JSON.stringify(value);
  }
  if (typeof value === 'boolean') return value ? 'true' : 'false';
  if (Array.isArray(value)) return `[${value.map(pyJson).join(', ')}]`;
  if (typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>).filter(([, v]) => v !== undefined);
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}: ${pyJson(v)}`).join(', ')}}`;
  }
  throw new TypeError(`cannot serialise a ${typeof value} as JSON`);
}

/** A JSON string literal's inside (escaped, without the quotes), e.g. for tool descriptions. */
export function jsonStringBody(s: string): string {
  return JSON.stringify(s).slice(1, -1);
}
