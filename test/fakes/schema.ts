// A small schema language for the fakes' contract tests: each test transcribes a provider's own
// response schema (zod in the Akash console, pydantic in chutes-api, the published field lists for
// Render) into these builders, citing file and lines, and checks what the fake answers against it.
// Objects are exact: a key the schema does not name is an error (the real servers serialise through
// their declared models, zod and pydantic, which never send an undeclared field), and every key
// the schema names must be present unless marked optional (pydantic always sends declared fields,
// null when unset). check() returns the list of problems with their JSON paths; empty when it fits.

export type Schema =
  | { t: 'string'; pattern?: RegExp; oneOf?: readonly string[] }
  | { t: 'number'; integer?: boolean }
  | { t: 'boolean' }
  | { t: 'any' }
  | { t: 'null' }
  | { t: 'nullable'; of: Schema }
  | { t: 'optional'; of: Schema }
  | { t: 'array'; of: Schema }
  | { t: 'record'; of: Schema }
  | { t: 'object'; shape: Record<string, Schema> };

export const s = {
  string: (opts: { pattern?: RegExp; oneOf?: readonly string[] } = {}): Schema => ({ t: 'string', ...opts }),
  number: (opts: { integer?: boolean } = {}): Schema => ({ t: 'number', ...opts }),
  boolean: (): Schema => ({ t: 'boolean' }),
  any: (): Schema => ({ t: 'any' }),
  null: (): Schema => ({ t: 'null' }),
  nullable: (of: Schema): Schema => ({ t: 'nullable', of }),
  optional: (of: Schema): Schema => ({ t: 'optional', of }),
  array: (of: Schema): Schema => ({ t: 'array', of }),
  record: (of: Schema): Schema => ({ t: 'record', of }),
  object: (shape: Record<string, Schema>): Schema => ({ t: 'object', shape }),
};

/** Problems of `value` against `schema`, each as `path: what`. */
export function check(schema: Schema, value: unknown, path = '$'): string[] {
  switch (schema.t) {
    case 'any':
      return [];
    case 'null':
      return value === null ? [] : [`${path}: expected null`];
    case 'string':
      if (typeof value !== 'string') return [`${path}: expected string, got ${JSON.stringify(value)}`];
      if (schema.pattern && !schema.pattern.test(value)) return [`${path}: ${JSON.stringify(value)} does not match ${schema.pattern}`];
      if (schema.oneOf && !schema.oneOf.includes(value)) return [`${path}: ${JSON.stringify(value)} is not one of ${schema.oneOf.join('|')}`];
      return [];
    case 'number':
      if (typeof value !== 'number' || !Number.isFinite(value)) return [`${path}: expected number`];
      return schema.integer && !Number.isInteger(value) ? [`${path}: expected integer`] : [];
    case 'boolean':
      return typeof value === 'boolean' ? [] : [`${path}: expected boolean`];
    case 'nullable':
      return value === null ? [] : check(schema.of, value, path);
    case 'optional':
      return value === undefined ? [] : check(schema.of, value, path);
    case 'array':
      if (!Array.isArray(value)) return [`${path}: expected array`];
      return value.flatMap((v, i) => check(schema.of, v, `${path}[${i}]`));
    case 'record':
      if (!isObject(value)) return [`${path}: expected object`];
      return Object.entries(value).flatMap(([k, v]) => check(schema.of, v, `${path}.${k}`));
    case 'object': {
      if (!isObject(value)) return [`${path}: expected object`];
      const out: string[] = [];
      for (const key of Object.keys(value)) if (!(key in schema.shape)) out.push(`${path}.${key}: not in the schema`);
      for (const [key, sub] of Object.entries(schema.shape)) {
        if (!(key in value) && sub.t !== 'optional') out.push(`${path}.${key}: missing`);
        else out.push(...check(sub, (value as Record<string, unknown>)[key], `${path}.${key}`));
      }
      return out;
    }
  }
}

function isObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}
