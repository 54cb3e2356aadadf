// The operator's Prometheus metrics (prom-client): one registry (the runtime's queue and reconcile
// metrics included), `atelier_` prefix, `_total`/`_seconds` suffixes, and bounded label values listed
// in each help text (phases, states, placements, and provider names, which are cluster objects the
// platform team creates — never job or shard names). Controllers get the narrow `JobMetrics` view;
// nothing else creates metrics.
import * as prom from 'prom-client';
import { PromControllerMetrics, PromWorkQueueMetrics } from '../runtime/metrics.js';

const PHASES = ['Pending', 'Running', 'Succeeded', 'Failed', 'Suspended'] as const;

/** A job's shards by state and placement. */
export interface ShardBreakdown { pending: number; failed: number; runningLocal: number; runningRemote: number; succeededLocal: number; succeededRemote: number }

/** What the RenderJob controller reports. */
export interface JobMetrics {
  /** The job's current summary (gauges are summed over jobs at scrape time). */
  observeJob(key: string, phase: string | undefined, shards: ShardBreakdown): void;
  forgetJob(key: string): void;
  /** A shard attempt ended: its GPU time and cost, where it ran. */
  attemptEnded(placement: 'local' | 'remote', provider: string, gpuSeconds: number, costUsd: number): void;
  /** A shard started: how long it waited since it became startable. */
  shardStarted(placement: 'local' | 'remote', provider: string, waitSeconds: number): void;
  /** A provider's bill for a finished remote attempt could not be read (it is asked again). */
  costReadFailed(provider: string): void;
}

export interface OperatorMetrics {
  registry: prom.Registry;
  apiWrites: prom.Counter<'kind'>;
  queues: PromWorkQueueMetrics;
  controllers: PromControllerMetrics;
  leader: prom.Gauge;
  providerRequests: prom.Histogram<'provider' | 'operation' | 'result'>;
  jobs: JobMetrics;
  settlement: SettlementMetrics;
  budgets: BudgetMetrics;
}

/** What the RenderBudget controller reports: each budget's spent and limit in the current period. */
export interface BudgetMetrics {
  observe(namespace: string, budget: string, spentUsd: number, limitUsd: number): void;
  forget(namespace: string, budget: string): void;
}

/** What verification and settlement report. */
export interface SettlementMetrics {
  /** A remote result was checked: verified (spot check matched), failed (mismatch or bad signature), skipped (not chosen, or could not be checked). */
  verification(provider: string, result: 'verified' | 'failed' | 'skipped'): void;
  /** An on-chain transaction finished: kind (approve, open, topUp, release, refund, cancel), result (confirmed, reverted, error). */
  transaction(kind: string, result: 'confirmed' | 'reverted' | 'error'): void;
  /** Token amounts moved: escrowed (funded), released (to providers), refunded (to the payer); in whole tokens (USD). */
  amount(kind: 'escrowed' | 'released' | 'refunded', provider: string, tokens: number): void;
}

export const nopSettlementMetrics: SettlementMetrics = { verification() {}, transaction() {}, amount() {} };

export function createMetrics(): OperatorMetrics {
  const registry = new prom.Registry();
  prom.collectDefaultMetrics({ register: registry, prefix: 'atelier_' }); // atelier_process_cpu_seconds_total, atelier_process_resident_memory_bytes, …
  const registers = [registry];
  const perJob = new Map<string, { phase?: string; shards: ShardBreakdown }>();

  new prom.Gauge({
    name: 'atelier_renderjobs',
    help: 'RenderJobs the operator sees, by phase (Pending, Running, Succeeded, Failed, Suspended).',
    labelNames: ['phase'],
    registers,
    collect() {
      const n = Object.fromEntries(PHASES.map((p) => [p, 0])) as Record<string, number>;
      for (const j of perJob.values()) if (j.phase && j.phase in n) n[j.phase]!++;
      for (const p of PHASES) this.set({ phase: p }, n[p]!);
    },
  });
  new prom.Gauge({
    name: 'atelier_shards',
    help: 'Shards of all RenderJobs, by state (pending, running, succeeded, failed) and placement (local, remote; none for pending and failed).',
    labelNames: ['state', 'placement'],
    registers,
    collect() {
      const t: ShardBreakdown = { pending: 0, failed: 0, runningLocal: 0, runningRemote: 0, succeededLocal: 0, succeededRemote: 0 };
      for (const j of perJob.values()) for (const k of Object.keys(t) as (keyof ShardBreakdown)[]) t[k] += j.shards[k];
      this.set({ state: 'pending', placement: 'none' }, t.pending);
      this.set({ state: 'failed', placement: 'none' }, t.failed);
      this.set({ state: 'running', placement: 'local' }, t.runningLocal);
      this.set({ state: 'running', placement: 'remote' }, t.runningRemote);
      this.set({ state: 'succeeded', placement: 'local' }, t.succeededLocal);
      this.set({ state: 'succeeded', placement: 'remote' }, t.succeededRemote);
    },
  });
  const gpuSeconds = new prom.Counter({ name: 'atelier_gpu_seconds_total', help: 'GPU-seconds of finished shard attempts, by placement (local, remote).', labelNames: ['placement'], registers });
  const cost = new prom.Counter({ name: 'atelier_cost_usd_total', help: 'Cost in USD of finished shard attempts, by placement (local, remote) and provider (ComputeProvider name; "local" for local).', labelNames: ['placement', 'provider'], registers });
  const costReadFailures = new prom.Counter({ name: 'atelier_remote_cost_read_failures_total', help: 'Reads of a provider\'s bill for a finished remote attempt that failed, by provider (ComputeProvider name); the read is retried and settlement waits for it.', labelNames: ['provider'], registers });
  const bursts = new prom.Counter({ name: 'atelier_bursts_total', help: 'Shard attempts submitted to a provider, by provider (ComputeProvider name).', labelNames: ['provider'], registers });
  const wait = new prom.Histogram({
    name: 'atelier_shard_queue_wait_seconds',
    help: 'Time a shard waited from becoming startable to starting, by placement (local, remote).',
    labelNames: ['placement'],
    buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 900, 3600],
    registers,
  });
  // budget_namespace, not namespace: a scrape's target labels already use namespace (the operator's), and
  // Prometheus would rename ours to exported_namespace.
  const budgetSpent = new prom.Gauge({ name: 'atelier_budget_spent_usd', help: 'Provider cost in USD recorded against a RenderBudget in its current period, by budget_namespace and budget (RenderBudget objects, created by the platform team).', labelNames: ['budget_namespace', 'budget'], registers });
  const budgetLimit = new prom.Gauge({ name: 'atelier_budget_limit_usd', help: 'The limit in USD of a RenderBudget per period, by budget_namespace and budget.', labelNames: ['budget_namespace', 'budget'], registers });
  return {
    registry,
    budgets: {
      observe: (ns, budget, spent, limit) => { budgetSpent.set({ budget_namespace: ns, budget }, spent); budgetLimit.set({ budget_namespace: ns, budget }, limit); },
      forget: (ns, budget) => { budgetSpent.remove({ budget_namespace: ns, budget }); budgetLimit.remove({ budget_namespace: ns, budget }); },
    },
    queues: new PromWorkQueueMetrics(registry),
    controllers: new PromControllerMetrics(registry),
    apiWrites: new prom.Counter({
      name: 'atelier_api_writes_total',
      help: 'Kubernetes API writes sent by the operator, by kind (podCreate, podDelete, shardCreate, shardStatus, shardDeleteCollection, jobStatus, jobFinalizer).',
      labelNames: ['kind'],
      registers,
    }),
    leader: new prom.Gauge({ name: 'atelier_leader', help: '1 while this replica holds the leader Lease, else 0.', registers }),
    providerRequests: new prom.Histogram({
      name: 'atelier_provider_request_duration_seconds',
      help: 'Provider API calls, by provider (ComputeProvider name), operation (listOffers, submit, findByKey, getStatus, getResults, cancel, getCost, logs) and result (ok, or the error kind: transient, rateLimited, notFound, invalid, auth, insufficientFunds, fatal).',
      labelNames: ['provider', 'operation', 'result'],
      buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers,
    }),
    settlement: (() => {
      const verifications = new prom.Counter({
        name: 'atelier_verifications_total',
        help: 'Remote shard results checked, by provider (ComputeProvider name) and result (verified: a spot check matched; failed: a spot check did not match or the signature was rejected; skipped: not chosen for a spot check, or the local re-run could not check it).',
        labelNames: ['provider', 'result'], registers,
      });
      const txs = new prom.Counter({
        name: 'atelier_settlement_transactions_total',
        help: 'On-chain settlement transactions, by kind (approve, open, topUp, release, refund, cancel) and result (confirmed, reverted, error: unreachable RPC or another failure).',
        labelNames: ['kind', 'result'], registers,
      });
      const amounts = new prom.Counter({
        name: 'atelier_settlement_amount_total',
        help: 'Token amounts moved by settlement, in whole tokens (a USD stablecoin), by kind (escrowed: funded into escrows; released: paid to providers; refunded: returned to the payer) and provider (ComputeProvider name).',
        labelNames: ['kind', 'provider'], registers,
      });
      return {
        verification: (provider: string, result: 'verified' | 'failed' | 'skipped') => verifications.inc({ provider, result }),
        transaction: (kind: string, result: 'confirmed' | 'reverted' | 'error') => txs.inc({ kind, result }),
        amount: (kind: 'escrowed' | 'released' | 'refunded', provider: string, tokens: number) => { if (tokens > 0) amounts.inc({ kind, provider }, tokens); },
      } satisfies SettlementMetrics;
    })(),
    jobs: {
      costReadFailed: (provider) => costReadFailures.inc({ provider }),
      observeJob: (key, phase, shards) => perJob.set(key, { phase, shards }),
      forgetJob: (key) => perJob.delete(key),
      attemptEnded: (placement, provider, gs, usd) => {
        if (gs > 0) gpuSeconds.inc({ placement }, gs);
        if (usd > 0) cost.inc({ placement, provider }, usd);
      },
      shardStarted: (placement, provider, waitSeconds) => {
        wait.observe({ placement }, Math.max(0, waitSeconds));
        if (placement === 'remote') bursts.inc({ provider });
      },
    },
  };
}

/** A JobMetrics that records nothing (tests, tools). */
export const nopJobMetrics: JobMetrics = { observeJob() {}, forgetJob() {}, attemptEnded() {}, shardStarted() {}, costReadFailed() {} };
