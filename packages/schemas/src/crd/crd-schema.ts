// zod → Kubernetes structural OpenAPI v3 schema. z.toJSONSchema does the bulk; fixOpenApiForCrd
// repairs the few places where JSON Schema and Kubernetes' "structural schema" rules disagree,
// and structuralErrors checks the result the way the apiserver would (so a bad schema fails a
// unit test, not a cluster install).
import { z } from 'zod';

export type JsonSchema = { [key: string]: unknown };

const SAFE_INT = Number.MAX_SAFE_INTEGER;

export function zodToCrdSchema(schema: z.ZodType): JsonSchema {
  const raw = z.toJSONSchema(schema, {
    target: 'openapi-3.0',
    io: 'input',
    reused: 'inline',
    cycles: 'throw',
    unrepresentable: 'throw',
  }) as JsonSchema;
  return fixOpenApiForCrd(raw);
}

/** Returns a fixed deep copy; see the file comment. */
export function fixOpenApiForCrd(node: JsonSchema): JsonSchema {
  const out: JsonSchema = {};
  for (const [key, value] of Object.entries(node)) {
    if (key === '$schema' || key === '$defs' || key === 'id') continue;
    out[key] = value;
  }
  // z.int() adds ±2^53 bounds: noise in a CRD (and unrepresentable in int64 validation messages).
  if (out.maximum === SAFE_INT) delete out.maximum;
  if (out.minimum === -SAFE_INT) delete out.minimum;
  // int-or-string: the extension alone is the structural form; a typed anyOf is not allowed.
  if (out['x-kubernetes-int-or-string'] === true) {
    delete out.anyOf;
    delete out.oneOf;
    delete out.type;
  }
  // z.looseObject / z.object({}).passthrough(): keep unknown fields instead of typing them.
  if (isEmptySchema(out.additionalProperties)) {
    delete out.additionalProperties;
    out['x-kubernetes-preserve-unknown-fields'] = true;
    if (isEmptyRecord(out.properties)) delete out.properties;
  }
  if (out.additionalProperties === false) delete out.additionalProperties;
  if (isRecord(out.properties)) {
    const props: Record<string, JsonSchema> = {};
    for (const [name, child] of Object.entries(out.properties)) props[name] = fixOpenApiForCrd(child as JsonSchema);
    out.properties = props;
  }
  if (isRecord(out.items)) out.items = fixOpenApiForCrd(out.items as JsonSchema);
  if (isRecord(out.additionalProperties)) out.additionalProperties = fixOpenApiForCrd(out.additionalProperties as JsonSchema);
  for (const key of ['anyOf', 'oneOf', 'allOf'] as const) {
    if (Array.isArray(out[key])) out[key] = (out[key] as JsonSchema[]).map(fixOpenApiForCrd);
  }
  return out;
}

/**
 * Violations of the structural-schema rules (apiextensions.k8s.io/v1), each with its JSON path.
 * Checked: every node specifies a type (unless int-or-string or preserve-unknown-fields), no
 * properties together with additionalProperties, no $ref / $defs, no type inside anyOf/oneOf/allOf,
 * no nullable without a type.
 */
export function structuralErrors(node: JsonSchema, path = ''): string[] {
  const errors: string[] = [];
  const at = path === '' ? '(root)' : path;
  const loose = node['x-kubernetes-int-or-string'] === true || node['x-kubernetes-preserve-unknown-fields'] === true;
  if (typeof node.type !== 'string' && !loose) errors.push(`${at}: type must be specified`);
  if ('$ref' in node || '$defs' in node || 'definitions' in node) errors.push(`${at}: $ref/$defs are not allowed`);
  if (node.properties !== undefined && node.additionalProperties !== undefined) {
    errors.push(`${at}: properties and additionalProperties are mutually exclusive`);
  }
  if (node['x-kubernetes-int-or-string'] === true && node.type !== undefined) {
    errors.push(`${at}: int-or-string must not also set type`);
  }
  for (const key of ['anyOf', 'oneOf', 'allOf'] as const) {
    const list = node[key];
    if (!Array.isArray(list)) continue;
    list.forEach((inner: JsonSchema, i) => {
      for (const banned of ['type', 'default', 'description', 'nullable', 'additionalProperties']) {
        if (banned in inner) errors.push(`${at}.${key}[${i}]: ${banned} is not allowed inside ${key}`);
      }
    });
  }
  if (isRecord(node.properties)) {
    for (const [name, child] of Object.entries(node.properties)) {
      errors.push(...structuralErrors(child as JsonSchema, `${path}.${name}`.replace(/^\./, '')));
    }
  }
  if (isRecord(node.items)) errors.push(...structuralErrors(node.items as JsonSchema, `${path}[*]`));
  if (isRecord(node.additionalProperties)) {
    errors.push(...structuralErrors(node.additionalProperties as JsonSchema, `${path}{*}`));
  }
  return errors;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
function isEmptyRecord(value: unknown): boolean {
  return isRecord(value) && Object.keys(value).length === 0;
}
function isEmptySchema(value: unknown): boolean {
  return isEmptyRecord(value);
}
