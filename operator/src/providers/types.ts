// The one contract every compute-provider adapter implements, and the vocabulary around it: the
// shard spec an adapter receives, offers, remote status phases, results, cost, capabilities and
// the typed ProviderError the controller uses to decide between retry, fail-over and give-up.
// Controllers depend on this file only, never on a concrete adapter (STYLE.md habit 7). Money is
// always an exact decimal string (see money.ts); time comes from an injected Clock.

import { realClock, type Clock as RuntimeClock } from '../runtime/clock.js';
import type { SignedShardResult } from '../settlement/results.js';

/** A shard as an adapter sees it: everything needed to run one slice of a RenderJob elsewhere. */
export interface ShardSpec {
  jobUid: string;
  jobNamespace: string;
  jobName: string;
  shardIndex: number;
  shardCount?: number;
  image: string;
  command: string[];
  args: string[];
  env: EnvVar[];
  /** GPUs one shard needs (>= 1). */
  gpuCount: number;
  /** Acceptable GPU models in Atelier's naming (`nvidia-h100`, `nvidia-rtx-4090`, `nvidia-a100-80gb`); empty = any. */
  gpuModels: string[];
  outputUri: string;
  frames?: { start: number; end: number };
  /**
   * The longest one attempt may run (spec.shards.maxDuration), seconds. The operator passes it to
   * submit as SubmitOptions.maxDurationSec; where capabilities().maxDuration is `operator`, the
   * operator itself cancels an attempt that runs longer.
   */
  maxDurationSec?: number;
  /** Optional sizing; adapters fall back to their own defaults. */
  resources?: { cpu?: number; memoryGi?: number; storageGi?: number; minVramGb?: number };
  /**
   * Present when the job settles on-chain: the EIP-712 domain a provider signs its result under
   * (operator/src/settlement/results.ts) and the token's decimals for `amountClaimed`. Passed to the
   * shard as ATELIER_SETTLEMENT_CHAIN_ID, ATELIER_SETTLEMENT_ESCROW and ATELIER_SETTLEMENT_TOKEN_DECIMALS.
   */
  settlement?: { chainId: string; escrowAddress: string; tokenDecimals: number };
  /**
   * Present when the job has spec.inputs or spec.output.encryptTo (data/plane.ts decorateSpec): the
   * inputs as the job names them and the age recipients the origin resolved. The shard's env already
   * carries them (ATELIER_INPUTS, ATELIER_ENCRYPT_TO); an adapter whose peer runs Atelier (subnet)
   * passes them as the peer job's own spec.inputs / spec.output.encryptTo, so the peer's operator
   * gates, pins and seals as the origin would.
   */
  data?: ShardData;
}

export interface ShardData {
  inputs: { name: string; cid: string; path?: string; env?: string }[];
  /** Comma-separated age1… recipients; absent when the job does not seal its outputs. */
  recipient?: string;
}

export interface EnvVar {
  name: string;
  value: string;
}

/** `subnet`: a peer cluster running Atelier (providers/subnet/), built outside createProviderAdapter. */
export type ProviderType = 'akash' | 'render' | 'bittensor' | 'nosana' | 'vastai' | 'subnet';

export type RemotePhase = 'Pending' | 'Provisioning' | 'Running' | 'Succeeded' | 'Failed' | 'Cancelled' | 'Unknown';

export const TERMINAL_PHASES: ReadonlySet<RemotePhase> = new Set(['Succeeded', 'Failed', 'Cancelled']);

export interface ProviderCapabilities {
  provider: ProviderType;
  logs: 'stream' | 'snapshot' | 'none';
  /** `native`: getResults returns outputs; `none`: it answers `{supported:false}`. */
  results: 'native' | 'none';
  /** How a shard hands back its output report on this provider (documented per adapter). */
  resultChannel: string;
  billing: 'perSecond' | 'perBlock' | 'prepaid';
  maxGpusPerJob: number;
  /** False when the remote workload keeps running after the shard finishes (Akash): call cancel() after results. */
  endsByItself: boolean;
  /**
   * True when cancel() resolving is itself the proof that nothing runs any more (Akash: the DELETE
   * answers success only once the deployment is closed, or was already), so no status read must
   * confirm it. Absent: false.
   */
  cancelConfirms?: boolean;
  /**
   * `remote`: findByKey asks the provider and survives an operator restart; `bestEffort`: it asks the
   * provider, but through a listing whose order or size the provider does not publish, so a miss is not
   * proof of absence (Render); `process`: only this process's memory plus an injected journal (Chutes:
   * the caller must record the intent before submit() and the remote id right after it).
   */
  findByKey: 'remote' | 'bestEffort' | 'process';
  /**
   * Who stops a shard at SubmitOptions.maxDurationSec: `provider` (the provider takes the limit and ends
   * the job itself, Render's max_timeout_run_ms) or `operator` (the provider has no such field, as on
   * Akash, whose create body is only {sdl, deposit?}: the caller must cancel() the shard once it ran
   * that long). Absent means `operator`.
   */
  maxDuration?: 'provider' | 'operator';
  /** False when the provider runs a pre-deployed model rather than an arbitrary image (Chutes). */
  runsArbitraryImages: boolean;
}

export interface OfferRequest {
  gpuModels?: string[];
  gpuCount: number;
  minVramGb?: number;
  region?: string;
  /** Exact decimal string, USD per GPU-hour; offers above it are dropped. */
  maxUsdPerGpuHour?: string;
}

export interface Offer {
  offerId: string;
  gpuModel: string;
  gpuCount: number;
  /** Normalised, exact decimal string (micro-USD precision). */
  usdPerGpuHour: string;
  /** The provider's own figure, untouched, and what it is per. */
  rawPrice: string;
  rawUnit: string;
  /** GPUs of this model the provider reports free, when it says. */
  available?: number;
  expiresAt?: Date;
}

export interface SubmitOptions {
  offerId?: string;
  /** Deterministic per shard attempt; [A-Za-z0-9._-], at most 128 characters. */
  idempotencyKey: string;
  /** Ceiling for the whole shard (all its GPUs), exact decimal string. */
  maxUsdPerHour?: string;
  maxDurationSec?: number;
}

export interface SubmitResult {
  remoteId: string;
}

export interface RemoteStatus {
  phase: RemotePhase;
  /** The provider's own state word(s), for events and debugging. */
  raw: string;
  message?: string;
  startedAt?: Date;
  endedAt?: Date;
}

export interface LogOptions {
  tail?: number;
}

export interface ShardOutput {
  uri: string;
  sha256: string;
  cid?: string;
}

/** What getResults returns when the provider has a result channel. */
export interface ResultSet {
  supported: true;
  outputs: ShardOutput[];
  /** sha256 over the canonical output list (see results.ts), the value recorded and settled on. */
  digest: string;
  signature?: string;
  /**
   * The provider's EIP-712 signature over (jobUid, shardIndex, resultDigest = '0x' + digest,
   * amountClaimed) by its payout key, when it sent one (a report's `signed` field). Only its shape is
   * checked here; the controller checks the signer against the ComputeProvider's payoutAddress.
   */
  signed?: SignedShardResult;
  /**
   * `verified`: the adapter fetched the output bytes through the provider and they hash as reported;
   * `reported`: the shard's own report, to be checked by the verify stage; `mismatch`: bytes differ.
   */
  integrity: 'verified' | 'reported' | 'mismatch';
  mismatches?: string[];
}

export interface ResultsUnsupported {
  supported: false;
  reason: string;
}

export interface CostReport {
  /** In the provider's billing currency or denom, exact decimal string. */
  amount: string;
  currency: string;
  usd: string;
  basis: 'settled' | 'estimated';
  seconds: number;
}

/** Every adapter implements this; the controller holds only this type. */
export interface ProviderAdapter {
  readonly type: ProviderType;
  capabilities(): ProviderCapabilities;
  listOffers(req: OfferRequest): Promise<Offer[]>;
  /** Not retried internally: on an ambiguous failure call findByKey before submitting again. */
  submit(spec: ShardSpec, opts: SubmitOptions): Promise<SubmitResult>;
  /**
   * The remote id submitted under this key, if the provider (or this process) knows one. `spec`, the
   * shard the key was submitted for, lets an adapter that finds submissions by their content find one
   * made by an earlier process (Akash recomputes the deployment's manifest version from it); without
   * it such an adapter knows only what this process submitted.
   */
  findByKey(idempotencyKey: string, spec?: ShardSpec): Promise<string | undefined>;
  getStatus(remoteId: string): Promise<RemoteStatus>;
  logs(remoteId: string, opts?: LogOptions): Promise<string[]>;
  getResults(remoteId: string): Promise<ResultSet | ResultsUnsupported>;
  /** Idempotent; a no-op on a terminal or already-gone job. */
  cancel(remoteId: string): Promise<void>;
  getCost(remoteId: string): Promise<CostReport>;
}

/** Injected time: adapters never read Date.now() or setTimeout directly. The runtime's one Clock, of which adapters need only these two. */
export type Clock = Pick<RuntimeClock, 'now' | 'sleep'>;

export const systemClock: Clock = realClock;

export type FetchLike = (input: string, init?: RequestInit) => Promise<Response>;

export interface RetryPolicy {
  /** Attempts for a safe (idempotent) request, including the first. */
  maxAttempts: number;
  baseDelayMs: number;
  maxDelayMs: number;
  /** A 429 whose Retry-After is longer than this is returned to the caller instead of slept through. */
  maxRetryAfterMs: number;
}

/** Common constructor shape; `credentials` comes from a Kubernetes Secret, read by the caller. */
export interface AdapterInit<C, O> {
  endpoint: string;
  credentials: C;
  fetch?: FetchLike;
  clock?: Clock;
  /** Per-attempt timeout. */
  timeoutMs?: number;
  retry?: Partial<RetryPolicy>;
  options?: Partial<O>;
}

/** Remembers idempotency key -> remote id where a provider cannot be searched (Chutes). */
export interface SubmissionJournal {
  get(idempotencyKey: string): Promise<string | undefined>;
  put(idempotencyKey: string, remoteId: string): Promise<void>;
}

export function memoryJournal(): SubmissionJournal {
  const entries = new Map<string, string>();
  return {
    get: async (key) => entries.get(key),
    put: async (key, id) => {
      entries.set(key, id);
    },
  };
}

export type ProviderErrorKind = 'transient' | 'rateLimited' | 'notFound' | 'invalid' | 'auth' | 'insufficientFunds' | 'fatal';

/**
 * The only error adapters throw (or one of its subclasses below). `transient`/`rateLimited`: try again
 * later (after retryAfterMs); `notFound`: the remote job is gone; `invalid`: this request can never
 * succeed as written; `auth`: credentials wrong or lacking rights; `insufficientFunds`: the wallet or
 * account behind the credentials cannot pay (HTTP 402, InsufficientFundsError); `fatal`: anything
 * else that retrying won't fix.
 * Messages never contain credentials (http.ts redacts them before an error is built).
 */
export class ProviderError extends Error {
  readonly kind: ProviderErrorKind;
  readonly provider: ProviderType;
  readonly status?: number;
  readonly retryAfterMs?: number;

  constructor(
    provider: ProviderType,
    kind: ProviderErrorKind,
    message: string,
    extra: { status?: number; retryAfterMs?: number; cause?: unknown } = {},
  ) {
    super(message, extra.cause === undefined ? undefined : { cause: extra.cause });
    this.name = 'ProviderError';
    this.provider = provider;
    this.kind = kind;
    if (extra.status !== undefined) this.status = extra.status;
    if (extra.retryAfterMs !== undefined) this.retryAfterMs = extra.retryAfterMs;
  }

  /** True when trying the same call again later may succeed. */
  get retryable(): boolean {
    return this.kind === 'transient' || this.kind === 'rateLimited';
  }
}

/**
 * HTTP 402 from a provider: the wallet or account behind the credentials is out of funds (the Akash
 * console's managed wallet answers 402 "insufficient balance"). Not a fault of the shard: the caller
 * stops sending work to this provider (condition InsufficientFunds) until it clears, and retrying the
 * same call later may succeed once the account is topped up.
 */
export class InsufficientFundsError extends ProviderError {
  constructor(provider: ProviderType, message: string, extra: { status?: number; cause?: unknown } = {}) {
    super(provider, 'insufficientFunds', message, extra);
    this.name = 'InsufficientFundsError';
  }
}

export function isInsufficientFunds(err: unknown): err is InsufficientFundsError {
  return err instanceof InsufficientFundsError;
}

/**
 * A quota that resets at a known time, not a rate limit to retry through (Chutes answers 429 "Daily
 * job quota exceeded" with no Retry-After; the count restarts at 00:00 UTC). Kind `rateLimited`, with
 * retryAfterMs until `resetsAt`, so a caller that only reads retryAfterMs waits the whole way.
 */
export class QuotaExceededError extends ProviderError {
  readonly resetsAt: Date;
  constructor(provider: ProviderType, message: string, resetsAt: Date, now: number, extra: { status?: number; cause?: unknown } = {}) {
    super(provider, 'rateLimited', message, { ...extra, retryAfterMs: Math.max(0, resetsAt.getTime() - now) });
    this.name = 'QuotaExceededError';
    this.resetsAt = resetsAt;
  }
}

export function isProviderError(err: unknown): err is ProviderError {
  return err instanceof ProviderError;
}

const KEY_PATTERN = /^[A-Za-z0-9._-]{1,128}$/;

/** Keys are embedded in SDL env, job titles and payloads, so they are kept to a safe alphabet. */
export function assertIdempotencyKey(provider: ProviderType, key: string): void {
  if (!KEY_PATTERN.test(key)) {
    throw new ProviderError(provider, 'invalid', 'idempotency key must match [A-Za-z0-9._-]{1,128}');
  }
}

/** The env every remote shard receives (DESIGN.md), plus the key marker adapters search for. */
export function shardEnv(spec: ShardSpec, idempotencyKey: string): EnvVar[] {
  const env: EnvVar[] = [
    { name: 'ATELIER_JOB_UID', value: spec.jobUid },
    { name: 'ATELIER_SHARD_INDEX', value: String(spec.shardIndex) },
    { name: 'ATELIER_OUTPUT_URI', value: spec.outputUri },
    { name: IDEMPOTENCY_ENV, value: idempotencyKey },
  ];
  if (spec.shardCount !== undefined) env.push({ name: 'ATELIER_SHARD_COUNT', value: String(spec.shardCount) });
  if (spec.frames) {
    env.push({ name: 'ATELIER_FRAME_START', value: String(spec.frames.start) });
    env.push({ name: 'ATELIER_FRAME_END', value: String(spec.frames.end) });
  }
  if (spec.settlement) {
    env.push({ name: 'ATELIER_SETTLEMENT_CHAIN_ID', value: spec.settlement.chainId });
    env.push({ name: 'ATELIER_SETTLEMENT_ESCROW', value: spec.settlement.escrowAddress });
    env.push({ name: 'ATELIER_SETTLEMENT_TOKEN_DECIMALS', value: String(spec.settlement.tokenDecimals) });
  }
  const ours = new Set(env.map((e) => e.name));
  return [...spec.env.filter((e) => !ours.has(e.name)), ...env];
}

export const IDEMPOTENCY_ENV = 'ATELIER_IDEMPOTENCY_KEY';
