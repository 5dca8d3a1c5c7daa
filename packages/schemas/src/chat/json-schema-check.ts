// A structural check of user-supplied JSON Schemas (tool parameters, response_format.json_schema).
// Not a full meta-schema validation: it catches what would silently break constrained decoding or
// confuse the model (unknown types, malformed properties/required/items/enum), with exact paths.
type Issue = { path: (string | number)[]; message: string };

const TYPES = new Set(['object', 'array', 'string', 'number', 'integer', 'boolean', 'null']);

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export function checkJsonSchema(schema: unknown, path: (string | number)[], depth = 0): Issue[] {
  if (typeof schema === 'boolean') return [];
  if (!isRecord(schema)) return [{ path, message: 'JSON schema must be an object' }];
  if (depth > 32) return [{ path, message: 'JSON schema is nested deeper than 32 levels' }];
  const issues: Issue[] = [];
  const type = schema['type'];
  if (type !== undefined) {
    const list = Array.isArray(type) ? type : [type];
    if (list.length === 0) issues.push({ path: [...path, 'type'], message: 'type list must not be empty' });
    list.forEach((t, i) => {
      if (typeof t !== 'string' || !TYPES.has(t)) {
        const at = Array.isArray(type) ? [...path, 'type', i] : [...path, 'type'];
        issues.push({ path: at, message: `unknown JSON schema type ${JSON.stringify(t)} (expected one of ${[...TYPES].join(', ')})` });
      }
    });
  }
  const props = schema['properties'];
  if (props !== undefined) {
    if (!isRecord(props)) issues.push({ path: [...path, 'properties'], message: 'properties must be an object of schemas' });
    else for (const [k, v] of Object.entries(props)) issues.push(...checkJsonSchema(v, [...path, 'properties', k], depth + 1));
  }
  const required = schema['required'];
  if (required !== undefined) {
    if (!Array.isArray(required) || !required.every((r) => typeof r === 'string')) {
      issues.push({ path: [...path, 'required'], message: 'required must be an array of property names' });
    } else if (isRecord(props)) {
      required.forEach((r, i) => {
        if (!(r in props)) issues.push({ path: [...path, 'required', i], message: `required property "${r}" is not in properties` });
      });
    }
  }
  if (schema['items'] !== undefined) issues.push(...checkJsonSchema(schema['items'], [...path, 'items'], depth + 1));
  const enumValues = schema['enum'];
  if (enumValues !== undefined && (!Array.isArray(enumValues) || enumValues.length === 0)) {
    issues.push({ path: [...path, 'enum'], message: 'enum must be a non-empty array' });
  }
  for (const key of ['anyOf', 'oneOf', 'allOf'] as const) {
    const list = schema[key];
    if (list === undefined) continue;
    if (!Array.isArray(list) || list.length === 0) issues.push({ path: [...path, key], message: `${key} must be a non-empty array of schemas` });
    else list.forEach((s, i) => issues.push(...checkJsonSchema(s, [...path, key, i], depth + 1)));
  }
  return issues;
}
