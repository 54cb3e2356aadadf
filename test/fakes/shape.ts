// A small JSON Schema checker for the contract tests of the Nosana and Vast.ai fakes: the subset
// those schemas use (type with nullable, properties, required, additionalProperties: false, items,
// enum, const, $ref into a components map, oneOf/anyOf, minimum, minLength/maxLength). It lets a
// contract test check a fake's answers against a schema transcribed from the provider's source, or
// against a schema the provider publishes itself (@nosana/types' jobSchemas). Returns the list of
// problems, each with its JSON path; an empty list means the value fits.

export interface Schema {
  type?: 'object' | 'array' | 'string' | 'number' | 'integer' | 'boolean' | 'null';
  nullable?: boolean;
  properties?: Record<string, Schema>;
  required?: string[];
  /** false: no property beyond `properties` (the real server's serializer drops them). */
  additionalProperties?: boolean | Schema;
  items?: Schema;
  enum?: readonly unknown[];
  const?: unknown;
  $ref?: string;
  oneOf?: Schema[];
  anyOf?: Schema[];
  minimum?: number;
  minLength?: number;
  maxLength?: number;
  /** Citation of the source this part follows (ignored by the checker). */
  source?: string;
  [extra: string]: unknown;
}

export function problems(value: unknown, schema: Schema, components: Record<string, Schema> = {}, path = '$'): string[] {
  if (value === null && schema.nullable) return [];
  if (schema.$ref) {
    const name = schema.$ref.split('/').pop() ?? '';
    const target = components[name];
    if (!target) return [`${path}: unknown $ref ${schema.$ref}`];
    return problems(value, target, components, path);
  }
  if (schema.oneOf || schema.anyOf) {
    const options = (schema.oneOf ?? schema.anyOf) as Schema[];
    const fits = options.filter((o) => problems(value, o, components, path).length === 0).length;
    if (schema.oneOf ? fits !== 1 : fits === 0) return [`${path}: fits ${fits} of ${options.length} alternatives`];
    return [];
  }
  const out: string[] = [];
  if ('const' in schema && value !== schema.const) out.push(`${path}: expected ${JSON.stringify(schema.const)}, got ${JSON.stringify(value)}`);
  if (schema.enum && !schema.enum.includes(value)) out.push(`${path}: ${JSON.stringify(value)} not one of ${JSON.stringify(schema.enum)}`);
  switch (schema.type) {
    case undefined:
      break;
    case 'null':
      if (value !== null) out.push(`${path}: expected null`);
      break;
    case 'integer':
      if (typeof value !== 'number' || !Number.isInteger(value)) out.push(`${path}: expected integer, got ${JSON.stringify(value)}`);
      break;
    case 'array':
      if (!Array.isArray(value)) {
        out.push(`${path}: expected array`);
        break;
      }
      if (schema.items) value.forEach((v, i) => out.push(...problems(v, schema.items as Schema, components, `${path}[${i}]`)));
      break;
    case 'object': {
      if (value === null || typeof value !== 'object' || Array.isArray(value)) {
        out.push(`${path}: expected object, got ${JSON.stringify(value)}`);
        break;
      }
      const o = value as Record<string, unknown>;
      for (const key of schema.required ?? []) if (!(key in o)) out.push(`${path}.${key}: required`);
      for (const [key, v] of Object.entries(o)) {
        const p = schema.properties?.[key];
        if (p) out.push(...problems(v, p, components, `${path}.${key}`));
        else if (schema.additionalProperties === false) out.push(`${path}.${key}: not in the source schema`);
        else if (typeof schema.additionalProperties === 'object') out.push(...problems(v, schema.additionalProperties, components, `${path}.${key}`));
      }
      break;
    }
    default:
      if (typeof value !== schema.type) out.push(`${path}: expected ${schema.type}, got ${JSON.stringify(value)}`);
  }
  if (typeof value === 'number' && schema.minimum !== undefined && value < schema.minimum) out.push(`${path}: below ${schema.minimum}`);
  if (typeof value === 'string' && schema.minLength !== undefined && value.length < schema.minLength) out.push(`${path}: shorter than ${schema.minLength}`);
  if (typeof value === 'string' && schema.maxLength !== undefined && value.length > schema.maxLength) out.push(`${path}: longer than ${schema.maxLength}`);
  return out;
}
