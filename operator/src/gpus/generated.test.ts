// Drift check: the RenderJob CRD's GPU name rules and docs/gpus.md are what scripts/gen-gpus.ts makes
// of the catalog, and the names the CRD admits are exactly the catalog's (canonical and node labels).
import { readFileSync } from 'node:fs';
import { load } from 'js-yaml';
import { CRD_PATH, DOC_PATH, loadCatalog, renderCrd, renderDoc } from '../../../scripts/gen-gpus.js';
import { GPUS } from './index.js';

test('CRD rules and docs/gpus.md are generated from the catalog (run node scripts/gen-gpus.ts)', () => {
  const c = loadCatalog();
  const crd = readFileSync(CRD_PATH, 'utf8');
  expect(renderCrd(crd, c)).toBe(crd);
  expect(renderDoc(c)).toBe(readFileSync(DOC_PATH, 'utf8'));
});

test('the CEL rule on spec.gpu.models lists every catalog name and node label', () => {
  const doc = load(readFileSync(CRD_PATH, 'utf8')) as any;
  const gpu = doc.spec.versions[0].schema.openAPIV3Schema.properties.spec.properties.gpu.properties;
  const rule: string = gpu.models['x-kubernetes-validations'][0].rule;
  const listed = [...rule.matchAll(/'([^']+)'/g)].map((m) => m[1]);
  expect(new Set(listed)).toEqual(new Set(GPUS.flatMap((g) => [g.name, ...g.nodeLabels])));
  expect(gpu.models['x-kubernetes-validations'][0].message).toContain(GPUS.map((g) => g.name).join(', '));
});
