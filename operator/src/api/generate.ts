// Generates operator/src/api/generated.ts from the CRD schemas in crds/, so that the YAML the API
// server enforces is the single source of truth for the TypeScript types the operator uses. Run it
// after editing a CRD: `node operator/src/api/generate.ts` (or `--check` to only compare). The
// drift test (generate.test.ts) calls the pure renderTypes() and fails when the committed file is
// stale. Node runs this file directly by stripping types, so it uses only erasable syntax and
// imports nothing local.
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadAll } from 'js-yaml';

/** The subset of an OpenAPI v3 schema (as CRDs allow it) that shapes a TypeScript type. */
export interface SchemaNode {
  type?: string;
  description?: string;
  properties?: Record<string, SchemaNode>;
  required?: string[];
  items?: SchemaNode;
  additionalProperties?: SchemaNode | boolean;
  enum?: unknown[];
  default?: unknown;
  format?: string;
  'x-kubernetes-int-or-string'?: boolean;
  'x-kubernetes-preserve-unknown-fields'?: boolean;
}

/** A parsed CustomResourceDefinition, as much of it as the generator reads. */
export interface CrdDoc {
  kind?: string;
  spec: {
    group: string;
    scope: 'Namespaced' | 'Cluster';
    names: { kind: string; plural: string; singular?: string; shortNames?: string[]; listKind?: string };
    versions: { name: string; storage?: boolean; schema?: { openAPIV3Schema?: SchemaNode } }[];
  };
}

const here = path.dirname(fileURLToPath(import.meta.url));
export const repoRoot = path.resolve(here, '../../..');
export const crdDir = path.join(repoRoot, 'crds');
export const generatedPath = path.join(here, 'generated.ts');

// Friendly names for nested types, keyed by "Kind.path" ("[]" marks a list item). Anything not
// listed gets a name built from its path. Two paths may share a name only if their types are identical.
const NAMES: Record<string, string> = {
  'RenderJob.spec.template': 'ShardTemplate',
  'RenderJob.spec.template.env[]': 'EnvVar',
  'RenderJob.spec.template.resources': 'ResourceRequirements',
  'RenderJob.spec.template.metadata': 'ShardPodMetadata',
  'RenderJob.spec.template.tolerations[]': 'Toleration',
  'RenderJob.spec.gpu': 'GpuSpec',
  'RenderJob.spec.shards': 'ShardsSpec',
  'RenderJob.spec.shards.frames': 'FramesSpec',
  'RenderJob.spec.placement': 'PlacementSpec',
  'RenderJob.spec.placement.policy': 'PlacementPolicy',
  'RenderJob.spec.budget': 'BudgetSpec',
  'RenderJob.spec.output': 'OutputSpec',
  'RenderJob.spec.verification': 'VerificationSpec',
  'RenderJob.spec.settlement': 'SettlementSpec',
  'RenderJob.status.phase': 'RenderJobPhase',
  'RenderJob.status.shards': 'ShardCounts',
  'RenderJob.status.providers[]': 'ProviderUsage',
  'RenderJob.status.cost': 'CostSummary',
  'RenderJob.status.settlement': 'SettlementStatus',
  'RenderJob.status.settlement.escrows[]': 'EscrowStatus',
  'RenderJob.status.settlement.escrows[].transactions[]': 'EscrowTransaction',
  'RenderShard.spec.frames': 'FrameRange',
  'RenderShard.status.phase': 'RenderShardPhase',
  'RenderShard.status.placement': 'ShardPlacement',
  'RenderShard.status.lastFailure': 'ShardFailure',
  'RenderShard.status.result': 'ShardResult',
  'RenderShard.status.result.outputs[]': 'ShardOutput',
  'RenderShard.status.verification': 'ShardVerification',
  'RenderShard.status.verification.state': 'VerificationState',
  'ComputeProvider.spec.type': 'ProviderType',
  'ComputeProvider.spec.credentialsSecretRef': 'SecretKeyRef',
  'ComputeProvider.spec.subnet': 'SubnetSpec',
  'ComputeProvider.spec.subnet.kubeconfigSecretRef': 'SecretKeyRef',
  'ComputeProvider.status.offers[]': 'ProviderOffer',
};
// Paths that end in these suffixes share one name across kinds.
const SHARED_SUFFIXES: Record<string, string> = {
  'status.conditions[]': 'Condition',
  'status.conditions[].status': 'ConditionStatus',
};

interface Emitted {
  name: string;
  /** The declaration without its doc comment: what must match when two paths share a name. */
  body: string;
  text: string;
}

function pascal(s: string): string {
  return s.replace(/(^|[^A-Za-z0-9]+)([A-Za-z0-9])/g, (_m, _sep, c: string) => c.toUpperCase());
}

function singular(s: string): string {
  if (s.endsWith('ies')) return `${s.slice(0, -3)}y`;
  if (s.endsWith('ses')) return s.slice(0, -2);
  if (s.endsWith('s') && !s.endsWith('ss')) return s.slice(0, -1);
  return `${s}Item`;
}

function docComment(lines: string[], indent: string): string {
  const clean = lines
    .flatMap((l) => l.split('\n'))
    .map((l) => l.replace(/\*\//g, '*\\/').trimEnd())
    .filter((l) => l.length > 0);
  if (clean.length === 0) return '';
  if (clean.length === 1) return `${indent}/** ${clean[0]} */\n`;
  return `${indent}/**\n${clean.map((l) => `${indent} * ${l}`).join('\n')}\n${indent} */\n`;
}

function propKey(k: string): string {
  return /^[A-Za-z_$][A-Za-z0-9_$]*$/.test(k) ? k : `'${k.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
}

function literal(v: unknown): string {
  return typeof v === 'string' ? `'${v.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'` : JSON.stringify(v);
}

class Emitter {
  readonly out: Emitted[] = [];
  readonly kind: string;

  constructor(kind: string) {
    this.kind = kind;
  }

  private nameFor(pathKey: string, fallback: string): string {
    const full = `${this.kind}.${pathKey}`;
    if (NAMES[full]) return NAMES[full];
    for (const [suffix, name] of Object.entries(SHARED_SUFFIXES)) {
      if (pathKey === suffix) return name;
    }
    return fallback;
  }

  private add(name: string, doc: string | undefined, body: string): void {
    const prior = this.out.find((e) => e.name === name);
    if (prior && prior.body !== body) throw new Error(`generate: two different types would both be named ${name}`);
    if (!prior) this.out.push({ name, body, text: `${docComment(doc ? [doc] : [], '')}${body}` });
  }

  /** Returns the TypeScript type expression for a schema node, emitting named declarations as needed. */
  typeOf(node: SchemaNode, pathKey: string, fallbackName: string): string {
    if (node['x-kubernetes-int-or-string']) return 'number | string';
    if (node.enum && node.enum.length > 0) {
      const union = node.enum.map(literal).join(' | ');
      const name = this.nameFor(pathKey, '');
      if (!name) return union;
      this.add(name, node.description, `export type ${name} = ${union};\n`);
      return name;
    }
    switch (node.type) {
      case 'string':
        return 'string';
      case 'integer':
      case 'number':
        return 'number';
      case 'boolean':
        return 'boolean';
      case 'array': {
        if (!node.items) return 'unknown[]';
        const last = pathKey.split('.').pop() ?? '';
        const item = this.typeOf(node.items, `${pathKey}[]`, `${fallbackName.slice(0, -pascal(last).length) || fallbackName}${pascal(singular(last))}`);
        return /[ |&]/.test(item) ? `Array<${item}>` : `${item}[]`;
      }
      case 'object':
      case undefined: {
        if (node.properties && Object.keys(node.properties).length > 0) {
          const name = this.nameFor(pathKey, fallbackName);
          this.add(name, node.description, this.interfaceText(name, node, pathKey));
          return name;
        }
        if (node.additionalProperties && typeof node.additionalProperties === 'object') {
          const value = this.typeOf(node.additionalProperties, `${pathKey}{}`, `${fallbackName}Value`);
          return `Record<string, ${value}>`;
        }
        return node.type === 'object' || node['x-kubernetes-preserve-unknown-fields'] ? 'Record<string, unknown>' : 'unknown';
      }
      default:
        throw new Error(`generate: unsupported schema type ${String(node.type)} at ${this.kind}.${pathKey}`);
    }
  }

  private interfaceText(name: string, node: SchemaNode, pathKey: string): string {
    const required = new Set(node.required ?? []);
    // Nested declarations are emitted before this one so that readers meet them first.
    const members = Object.entries(node.properties ?? {}).map(([key, child]) => {
      const childPath = pathKey ? `${pathKey}.${key}` : key;
      const type = this.typeOf(child, childPath, `${name}${pascal(key)}`);
      const notes: string[] = [];
      if (child.description) notes.push(child.description);
      // int32/int64 say nothing a TypeScript reader needs; date-time does.
      if (child.format && !/^int(32|64)$/.test(child.format)) notes.push(`Format: ${child.format}.`);
      if (child.default !== undefined) notes.push(`@default ${JSON.stringify(child.default)}`);
      return `${docComment(notes, '  ')}  ${propKey(key)}${required.has(key) ? '' : '?'}: ${type};\n`;
    });
    return `export interface ${name} {\n${members.join('')}}\n`;
  }
}

function storageVersion(crd: CrdDoc) {
  const v = crd.spec.versions.find((x) => x.storage) ?? crd.spec.versions[0];
  if (!v?.schema?.openAPIV3Schema) throw new Error(`generate: ${crd.spec.names.kind} has no openAPIV3Schema`);
  return { version: v.name, schema: v.schema.openAPIV3Schema };
}

function constName(kind: string): string {
  return kind.replace(/([a-z0-9])([A-Z])/g, '$1_$2').toUpperCase();
}

/** Renders generated.ts from parsed CRDs. Pure: the same input always gives the same text. */
export function renderTypes(crdDocs: CrdDoc[]): string {
  const crds = crdDocs.filter((d) => d && d.kind === 'CustomResourceDefinition');
  if (crds.length === 0) throw new Error('generate: no CustomResourceDefinition documents given');
  const groups = new Set(crds.map((c) => c.spec.group));
  const versions = new Set(crds.map((c) => storageVersion(c).version));
  if (groups.size !== 1 || versions.size !== 1) throw new Error('generate: expected one group and one version across the CRDs');
  const group = [...groups][0]!;
  const version = [...versions][0]!;

  const decls: Emitted[] = [];
  const resources: string[] = [];
  for (const crd of crds) {
    const names = crd.spec.names;
    const kind = names.kind;
    const { schema } = storageVersion(crd);
    const em = new Emitter(kind);
    const props = schema.properties ?? {};
    const specType = props.spec ? em.typeOf(props.spec, 'spec', `${kind}Spec`) : undefined;
    const statusType = props.status ? em.typeOf(props.status, 'status', `${kind}Status`) : undefined;
    for (const e of em.out) {
      const prior = decls.find((d) => d.name === e.name);
      if (prior && prior.body !== e.body) throw new Error(`generate: two different types would both be named ${e.name}`);
      if (!prior) decls.push(e);
    }
    const required = new Set(schema.required ?? []);
    const scope = crd.spec.scope === 'Namespaced' ? 'namespaced' : 'cluster-scoped';
    const c = constName(kind);
    resources.push(
      [
        docComment([schema.description ?? kind, `${scope}; plural ${names.plural}.`], ''),
        `export interface ${kind} {\n`,
        `  apiVersion: typeof API_VERSION;\n`,
        `  kind: '${kind}';\n`,
        `  metadata: V1ObjectMeta;\n`,
        specType ? `  spec${required.has('spec') ? '' : '?'}: ${specType};\n` : '',
        statusType ? `  status?: ${statusType};\n` : '',
        `}\n\n`,
        `export interface ${names.listKind ?? `${kind}List`} {\n`,
        `  apiVersion: typeof API_VERSION;\n`,
        `  kind: '${names.listKind ?? `${kind}List`}';\n`,
        `  metadata: V1ListMeta;\n`,
        `  items: ${kind}[];\n`,
        `}\n\n`,
        `export const ${c}_KIND = '${kind}';\n`,
        `export const ${c}_PLURAL = '${names.plural}';\n`,
        `/** Everything a client needs to address ${kind} objects. */\n`,
        `export const ${kind}Resource = {\n`,
        `  group: GROUP,\n`,
        `  version: VERSION,\n`,
        `  apiVersion: API_VERSION,\n`,
        `  kind: '${kind}',\n`,
        `  plural: '${names.plural}',\n`,
        `  singular: '${names.singular ?? kind.toLowerCase()}',\n`,
        `  namespaced: ${crd.spec.scope === 'Namespaced'},\n`,
        `  shortNames: [${(names.shortNames ?? []).map(literal).join(', ')}],\n`,
        `} as const;\n`,
      ].join(''),
    );
  }

  return [
    '// GENERATED by operator/src/api/generate.ts from crds/*.yaml: do not edit by hand. After changing\n',
    '// a CRD run `node operator/src/api/generate.ts`; the drift test (generate.test.ts) fails until you do.\n',
    '// These are the TypeScript shapes of the Atelier custom resources, one source of truth with the\n',
    '// schemas the API server enforces.\n',
    "import type { V1ListMeta, V1ObjectMeta } from '@kubernetes/client-node';\n\n",
    `export const GROUP = '${group}';\n`,
    `export const VERSION = '${version}';\n`,
    `export const API_VERSION = '${group}/${version}';\n\n`,
    decls.map((d) => d.text).join('\n'),
    '\n',
    resources.join('\n'),
  ].join('');
}

/** Reads and parses every crds/*.yaml (sorted by file name) into CRD documents. */
export function loadCrds(dir: string = crdDir): CrdDoc[] {
  return readdirSync(dir)
    .filter((f) => f.endsWith('.yaml') || f.endsWith('.yml'))
    .sort()
    .flatMap((f) => loadAll(readFileSync(path.join(dir, f), 'utf8')) as CrdDoc[])
    .filter((d) => d && d.kind === 'CustomResourceDefinition');
}

function main(argv: string[]): number {
  const text = renderTypes(loadCrds());
  if (argv.includes('--check')) {
    let current = '';
    try {
      current = readFileSync(generatedPath, 'utf8');
    } catch {
      /* missing counts as stale */
    }
    if (current !== text) {
      console.error(`${path.relative(repoRoot, generatedPath)} is stale: run node operator/src/api/generate.ts`);
      return 1;
    }
    return 0;
  }
  writeFileSync(generatedPath, text);
  console.log(`wrote ${path.relative(repoRoot, generatedPath)}`);
  return 0;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  process.exitCode = main(process.argv.slice(2));
}
