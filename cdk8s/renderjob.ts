// Typed RenderJob constructs for users who write their jobs in TypeScript with cdk8s. The spec type
// is the one generated from crds/ (operator/src/api/generated.ts), so a misspelt field or a wrong
// type fails at compile time, and the constructor checks the rules the CRD's CEL enforces that a
// type cannot express (exactly one of shards.count / shards.frames, an integer nvidia.com/gpu limit
// of at least 1), so `cdk8s synth` fails before `kubectl apply` would.
import { ApiObject, type ApiObjectMetadata, type GroupVersionKind } from 'cdk8s';
import type { Construct } from 'constructs';
import { API_VERSION, type RenderJobSpec } from '../operator/src/api/generated.js';

export type { RenderJobSpec } from '../operator/src/api/generated.js';

export interface RenderJobProps {
  /** Name, namespace, labels, annotations; the name defaults to one derived from the construct path. */
  readonly metadata?: ApiObjectMetadata;
  readonly spec: RenderJobSpec;
}

/** Reasons a spec would be rejected by the API server, or [] if none of these checks fails. */
export function renderJobSpecProblems(spec: RenderJobSpec): string[] {
  const problems: string[] = [];
  const { count, frames } = spec.shards;
  if ((count === undefined) === (frames === undefined)) problems.push('spec.shards: set exactly one of count or frames');
  if (count !== undefined && (!Number.isInteger(count) || count < 1 || count > 100000)) problems.push(`spec.shards.count must be an integer in 1..100000, got ${count}`);
  if (frames && frames.end < frames.start) problems.push(`spec.shards.frames: end (${frames.end}) is before start (${frames.start})`);
  const gpus = spec.template.resources.limits['nvidia.com/gpu'];
  if (gpus === undefined || !/^[1-9][0-9]*$/.test(String(gpus))) problems.push('spec.template.resources.limits must include nvidia.com/gpu as an integer >= 1');
  const f = spec.verification?.spotCheckFraction;
  if (f !== undefined && (f < 0 || f > 1)) problems.push(`spec.verification.spotCheckFraction must be in 0..1, got ${f}`);
  return problems;
}

/** An atelier.dev/v1alpha1 RenderJob. */
export class RenderJob extends ApiObject {
  static readonly GVK: GroupVersionKind = { apiVersion: API_VERSION, kind: 'RenderJob' };

  readonly spec: RenderJobSpec;

  constructor(scope: Construct, id: string, props: RenderJobProps) {
    const problems = renderJobSpecProblems(props.spec);
    if (problems.length > 0) throw new Error(`RenderJob ${id}: ${problems.join('; ')}`);
    super(scope, id, { ...RenderJob.GVK, metadata: props.metadata, spec: props.spec });
    this.spec = props.spec;
  }
}
