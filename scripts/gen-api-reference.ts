// Generates docs/api-reference.md from the CRD schemas in crds/ (the source of truth for the API):
// for RenderJob, RenderShard and ComputeProvider, their names and scope, printer columns, and every
// field with its type, default, validation (OpenAPI bounds, enums, patterns, list types and the CEL
// rules with their messages) and description. Run `node scripts/gen-api-reference.ts` after editing
// a CRD, or `--check` to only compare; test/examples.test.ts calls the pure renderApiReference() and
// fails when the committed file is stale. Node runs this file directly by stripping types, so it uses
// only erasable syntax and imports nothing local.
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadAll } from 'js-yaml';

/** The part of an OpenAPI v3 schema (as CRDs allow it) that the reference shows. */
export interface Schema {
  type?: string;
  format?: string;
  description?: string;
  properties?: Record<string, Schema>;
  required?: string[];
  items?: Schema;
  additionalProperties?: Schema | boolean;
  enum?: unknown[];
  default?: unknown;
  pattern?: string;
  minLength?: number;
  maxLength?: number;
  minimum?: number;
  maximum?: number;
  minItems?: number;
  maxItems?: number;
  minProperties?: number;
  maxProperties?: number;
  'x-kubernetes-int-or-string'?: boolean;
  'x-kubernetes-preserve-unknown-fields'?: boolean;
  'x-kubernetes-list-type'?: string;
  'x-kubernetes-list-map-keys'?: string[];
  'x-kubernetes-validations'?: { rule: string; message?: string; messageExpression?: string; fieldPath?: string; reason?: string }[];
}

interface PrinterColumn {
  name: string;
  type: string;
  jsonPath: string;
  description?: string;
  priority?: number;
}

/** A parsed CustomResourceDefinition, as much of it as the reference reads. */
export interface Crd {
  kind?: string;
  metadata?: { name?: string };
  spec: {
    group: string;
    scope: string;
    names: { kind: string; plural: string; singular?: string; shortNames?: string[]; categories?: string[] };
    versions: {
      name: string;
      served?: boolean;
      storage?: boolean;
      subresources?: Record<string, unknown>;
      additionalPrinterColumns?: PrinterColumn[];
      schema: { openAPIV3Schema: Schema };
    }[];
  };
}

const here = path.dirname(fileURLToPath(import.meta.url));
export const repoRoot = path.resolve(here, '..');
export const crdDir = path.join(repoRoot, 'crds');
export const referencePath = path.join(repoRoot, 'docs', 'api-reference.md');

/** Kinds in the order the reference presents them; any other CRD follows, by kind. */
const ORDER = ['RenderJob', 'RenderShard', 'ComputeProvider'];

export function loadCrds(dir: string = crdDir): Crd[] {
  return readdirSync(dir)
    .filter((f) => f.endsWith('.yaml') || f.endsWith('.yml'))
    .sort()
    .flatMap((f) => loadAll(readFileSync(path.join(dir, f), 'utf8')) as Crd[])
    .filter((d) => d && d.kind === 'CustomResourceDefinition');
}

/** Text safe inside a Markdown table cell: one line, pipes escaped. */
function cell(s: string): string {
  return s.replace(/\s+/g, ' ').trim().replace(/\|/g, '\\|');
}

/** Inline code that survives any backticks in the text. */
function code(s: string): string {
  const t = s.replace(/\s+/g, ' ').trim();
  const fence = t.includes('`') ? '``' : '`';
  return `${fence}${t.includes('`') ? ` ${t} ` : t}${fence}`;
}

function typeOf(s: Schema): string {
  if (s['x-kubernetes-int-or-string']) return 'int-or-string';
  if (s.type === 'array') return `[]${s.items ? typeOf(s.items) : 'any'}`;
  if (s.type === 'object' && s.additionalProperties && typeof s.additionalProperties === 'object') return `map[string]${typeOf(s.additionalProperties)}`;
  if (s.type === 'object' && s['x-kubernetes-preserve-unknown-fields'] && !s.properties) return 'object (free-form)';
  const t = s.type ?? 'any';
  return s.format ? `${t} (${s.format})` : t;
}

function range(lo: number | undefined, hi: number | undefined, what: string): string | undefined {
  if (lo !== undefined && hi !== undefined) return `${what} ${lo}..${hi}`;
  if (lo !== undefined) return `${what} >= ${lo}`;
  if (hi !== undefined) return `${what} <= ${hi}`;
  return undefined;
}

/** The validation of one schema node, as Markdown fragments (cell() them for a table). */
function rules(s: Schema): string[] {
  const out: string[] = [];
  if (s.enum) out.push(`one of ${s.enum.map((v) => code(String(v))).join(', ')}`);
  const len = range(s.minLength, s.maxLength, 'length');
  if (len) out.push(len);
  const val = range(s.minimum, s.maximum, 'value');
  if (val) out.push(val);
  const items = range(s.minItems, s.maxItems, 'items');
  if (items) out.push(items);
  const props = range(s.minProperties, s.maxProperties, 'keys');
  if (props) out.push(props);
  if (s.pattern) out.push(`pattern ${code(s.pattern)}`);
  const lt = s['x-kubernetes-list-type'];
  if (lt === 'set') out.push('list type set (unique items)');
  else if (lt === 'map') out.push(`list type map, keyed by ${(s['x-kubernetes-list-map-keys'] ?? []).map((k) => code(k)).join(', ')}`);
  else if (lt === 'atomic') out.push('list type atomic (replaced as a whole)');
  for (const v of s['x-kubernetes-validations'] ?? []) {
    const when = /\boldSelf\b/.test(v.rule) ? ' (on update)' : '';
    const msg = v.message ?? v.messageExpression;
    out.push(`CEL${when} ${code(v.rule)}${msg ? ` with message "${msg.replace(/\s+/g, ' ').trim()}"` : ''}`);
  }
  return out;
}

interface Row {
  field: string;
  type: string;
  required: boolean;
  default?: unknown;
  validation: string[];
  description: string;
}

/** A row for the field at `field`, then rows for everything under it: maps as `.<key>`, list items as `[]`. */
function rows(s: Schema, field: string, required: boolean, out: Row[]): Row[] {
  out.push({ field, type: typeOf(s), required, default: s.default, validation: rules(s), description: s.description ?? '' });
  children(s, field, out);
  return out;
}

function children(s: Schema, field: string, out: Row[]): void {
  for (const [name, child] of Object.entries(s.properties ?? {})) rows(child, `${field}.${name}`, (s.required ?? []).includes(name), out);
  const items = s.type === 'array' ? s.items : undefined;
  if (items) {
    // The items get a row of their own only when they say more than the list's row already does.
    if (rules(items).length > 0 || items.description) rows(items, `${field}[]`, false, out);
    else children(items, `${field}[]`, out);
  }
  const values = s.additionalProperties && typeof s.additionalProperties === 'object' ? s.additionalProperties : undefined;
  if (values) {
    if (rules(values).length > 0 || values.description) rows(values, `${field}.<key>`, false, out);
    else children(values, `${field}.<key>`, out);
  }
}

/** The table of every field below `part` (spec or status). */
function fieldTable(s: Schema, part: string): string[] {
  const lines = ['| Field | Type | Default | Validation | Description |', '|---|---|---|---|---|'];
  const out: Row[] = [];
  children(s, part, out);
  for (const r of out) {
    const field = `${code(r.field)}${r.required ? ' **(required)**' : ''}`;
    const dflt = r.default === undefined ? '' : cell(code(JSON.stringify(r.default)));
    lines.push(`| ${field} | ${cell(code(r.type))} | ${dflt} | ${cell(r.validation.join('; '))} | ${cell(r.description)} |`);
  }
  return lines;
}

function anchor(kind: string): string {
  return kind.toLowerCase();
}

function section(crd: Crd): string[] {
  const { group, scope, names } = crd.spec;
  const out: string[] = [];
  for (const v of crd.spec.versions) {
    const root = v.schema.openAPIV3Schema;
    out.push(`## ${names.kind}`, '');
    if (root.description) out.push(root.description, '');
    const facts = [
      `API version: \`${group}/${v.name}\`${v.storage ? ' (storage version)' : ''}${v.served === false ? ' (not served)' : ''}`,
      `Scope: ${scope}`,
      `Resource: \`${names.plural}\`${names.singular ? `, singular \`${names.singular}\`` : ''}${names.shortNames?.length ? `, short names ${names.shortNames.map((n) => `\`${n}\``).join(', ')}` : ''}`,
    ];
    if (names.categories?.length) facts.push(`Categories: ${names.categories.map((c) => `\`${c}\``).join(', ')} (\`kubectl get ${names.categories[0]}\` lists them together)`);
    const sub = Object.keys(v.subresources ?? {});
    if (sub.length) facts.push(`Subresources: ${sub.map((s) => `\`${s}\``).join(', ')}${sub.includes('status') ? ' (status is written only through `/status`; a write to the main resource cannot change it)' : ''}`);
    out.push(...facts.map((f) => `- ${f}`), '');

    const cols = v.additionalPrinterColumns ?? [];
    if (cols.length) {
      out.push('### Printer columns', '', `Shown by \`kubectl get ${names.plural}\`; columns with priority > 0 only with \`-o wide\`.`, '');
      out.push('| Column | Type | JSONPath | Priority | Description |', '|---|---|---|---|---|');
      for (const c of cols) out.push(`| ${cell(c.name)} | ${c.type} | ${cell(code(c.jsonPath))} | ${c.priority ?? 0} | ${cell(c.description ?? '')} |`);
      out.push('');
    }

    const top = root.properties ?? {};
    for (const part of ['spec', 'status']) {
      const s = top[part];
      if (!s) continue;
      out.push(`### ${names.kind} ${part}`, '');
      if (s.description) out.push(`${s.description}${(root.required ?? []).includes(part) ? ` \`${part}\` is required.` : ''}`, '');
      const objRules = rules(s);
      if (objRules.length) out.push(`Rules on \`${part}\` as a whole: ${objRules.join('; ')}`, '');
      out.push(...fieldTable(s, part), '');
    }
  }
  return out;
}

/** The whole of docs/api-reference.md for these CRDs. Pure: the drift test compares its output. */
export function renderApiReference(crds: Crd[]): string {
  const sorted = [...crds].sort((a, b) => {
    const ia = ORDER.indexOf(a.spec.names.kind), ib = ORDER.indexOf(b.spec.names.kind);
    return (ia === -1 ? ORDER.length : ia) - (ib === -1 ? ORDER.length : ib) || a.spec.names.kind.localeCompare(b.spec.names.kind);
  });
  const out: string[] = [
    '<!-- Generated from crds/*.yaml by `node scripts/gen-api-reference.ts`: do not edit by hand; edit the CRDs and rerun it. -->',
    '# Atelier API reference',
    '',
    'The custom resources of the `atelier.dev` API group, as the API server enforces them. Everything here',
    'comes from the CRD schemas in [`crds/`](../crds/): a value outside these rules is rejected by',
    '`kubectl apply` with the message shown, before the operator sees it.',
    '',
    'Conventions: **(required)** fields must be set; a default is filled in by the API server when the',
    'field is omitted; `[]` in a field path means "each item of the list", `<key>` "each value of the',
    'map"; CEL rules marked *(on update)* compare the new object with the old one (immutability).',
    'Amounts of money are decimal strings in USD (e.g. `"2.50"`), never floating-point numbers.',
    '',
    ...sorted.map((c) => `- [${c.spec.names.kind}](#${anchor(c.spec.names.kind)}) (\`${c.spec.names.plural}.${c.spec.group}\`, ${c.spec.scope.toLowerCase()})`),
    '',
  ];
  for (const crd of sorted) out.push(...section(crd));
  return `${out.join('\n').replace(/\n{3,}/g, '\n\n').trimEnd()}\n`;
}

function main(argv: string[]): number {
  const text = renderApiReference(loadCrds());
  const rel = path.relative(repoRoot, referencePath);
  if (argv.includes('--check')) {
    let current = '';
    try {
      current = readFileSync(referencePath, 'utf8');
    } catch {
      /* missing counts as stale */
    }
    if (current !== text) {
      console.error(`${rel} is stale: run node scripts/gen-api-reference.ts`);
      return 1;
    }
    return 0;
  }
  writeFileSync(referencePath, text);
  console.log(`wrote ${rel}`);
  return 0;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  process.exitCode = main(process.argv.slice(2));
}
