// The CI drift check between crds/*.yaml and the committed generated.ts: regenerates the types in
// memory and fails when they differ, so a CRD change can't land without its TypeScript types.
// Also pins a few properties of the generator itself on a small hand-made CRD.
import { readFileSync } from 'node:fs';
import { generatedPath, loadCrds, renderTypes, type CrdDoc } from './generate.js';

describe('generated.ts', () => {
  it('matches crds/*.yaml', () => {
    const expected = renderTypes(loadCrds());
    let actual = '';
    try {
      actual = readFileSync(generatedPath, 'utf8');
    } catch {
      /* missing: reported below */
    }
    if (actual !== expected) {
      const a = actual.split('\n');
      const e = expected.split('\n');
      const first = e.findIndex((l, i) => l !== a[i]);
      const line = first === -1 ? e.length : first;
      throw new Error(
        `operator/src/api/generated.ts is out of date with crds/*.yaml: run node operator/src/api/generate.ts\n` +
          `first difference at line ${line + 1}:\n  generated: ${e[line] ?? '<end>'}\n  committed: ${a[line] ?? '<end>'}`,
      );
    }
  });
});

describe('renderTypes', () => {
  const crd = (schema: object): CrdDoc =>
    ({
      kind: 'CustomResourceDefinition',
      spec: {
        group: 'example.dev',
        scope: 'Namespaced',
        names: { kind: 'Widget', plural: 'widgets' },
        versions: [{ name: 'v1', storage: true, schema: { openAPIV3Schema: schema } }],
      },
    }) as CrdDoc;

  const text = renderTypes([
    crd({
      type: 'object',
      required: ['spec'],
      properties: {
        spec: {
          type: 'object',
          required: ['size'],
          properties: {
            size: { type: 'integer' },
            mode: { type: 'string', enum: ['A', 'B'] },
            quantities: { type: 'object', additionalProperties: { 'x-kubernetes-int-or-string': true } },
            extra: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true },
            parts: { type: 'array', items: { type: 'object', properties: { name: { type: 'string' } } } },
          },
        },
      },
    }),
  ]);

  it('maps required, enums, int-or-string, open objects and list items', () => {
    expect(text).toContain("export const GROUP = 'example.dev';");
    expect(text).toContain('  size: number;');
    expect(text).toContain("  mode?: 'A' | 'B';");
    expect(text).toContain('  quantities?: Record<string, number | string>;');
    expect(text).toContain('  extra?: Record<string, unknown>;');
    expect(text).toContain('  parts?: WidgetSpecPart[];');
    expect(text).toContain('export interface WidgetSpecPart {');
    expect(text).toContain('  spec: WidgetSpec;');
    expect(text).toContain("export const WIDGET_PLURAL = 'widgets';");
  });

  it('is deterministic', () => {
    expect(renderTypes(loadCrds())).toBe(renderTypes(loadCrds()));
  });
});
