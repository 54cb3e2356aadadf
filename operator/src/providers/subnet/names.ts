// How a shard sent to a peer cluster is named and marked there: the peer RenderJob's deterministic
// name (`<job>-<index>-<hash of the idempotency key>`, at most 63 characters so it can also be the
// peer's `atelier.dev/job` label value), the labels and annotations that name its origin, and the
// label-value sanitising they need. Pure, so the submit path and findByKey can never disagree.
import { createHash } from 'node:crypto';

/** Labels on a peer RenderJob (label values: <= 63 chars of [A-Za-z0-9._-]). */
export const ORIGIN_LABELS = {
  cluster: 'atelier.dev/origin-cluster',
  namespace: 'atelier.dev/origin-namespace',
  job: 'atelier.dev/origin-job',
  shard: 'atelier.dev/origin-shard',
  /** sha256 of the idempotency key (first 32 hex digits); findByKey selects on it. */
  keyHash: 'atelier.dev/idempotency-key-hash',
  createdBy: 'app.kubernetes.io/created-by',
} as const;

/** Annotations on a peer RenderJob: values too long or too free-form for labels. */
export const ORIGIN_ANNOTATIONS = {
  /** The full idempotency key, compared on AlreadyExists and in findByKey. */
  key: 'atelier.dev/idempotency-key',
  jobUid: 'atelier.dev/origin-job-uid',
  /** `<cluster>/<namespace>/<job>/<shard>`, for people reading the peer. */
  origin: 'atelier.dev/origin',
} as const;

export const CREATED_BY = 'atelier-subnet';

export function keyHash(idempotencyKey: string): string {
  return createHash('sha256').update(idempotencyKey).digest('hex').slice(0, 32);
}

/** A valid label value made from any text: invalid characters become '-', cut to 63, alphanumeric at both ends. */
export function labelValue(text: string): string {
  let v = text.replace(/[^A-Za-z0-9._-]/g, '-').slice(0, 63);
  v = v.replace(/^[^A-Za-z0-9]+/, '').replace(/[^A-Za-z0-9]+$/, '');
  return v;
}

/**
 * The peer RenderJob's name for one submission: `<job>-<index>-<10 hex of sha256(key)>`, lower case,
 * DNS-1123 label characters only, at most 63 characters (the job part is shortened to fit).
 */
export function subnetJobName(jobName: string, shardIndex: number, idempotencyKey: string): string {
  const suffix = `-${shardIndex}-${keyHash(idempotencyKey).slice(0, 10)}`;
  let base = jobName.toLowerCase().replace(/[^a-z0-9-]/g, '-').slice(0, 63 - suffix.length).replace(/-+$/, '').replace(/^-+/, '');
  if (!base) base = 'shard'.slice(0, 63 - suffix.length);
  return `${base}${suffix}`;
}
