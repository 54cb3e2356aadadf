// The settlement controller's setup: builds it from the operator context (settlement config, the
// wallet Secret reader, the status writer under its own field manager, the test fault hook from the
// config) and registers its watches: RenderJobs that opt in, and their RenderShards, whose changes
// are what moves escrows. Also reaches the chain early (connect), so settled jobs can burst: their
// shards carry the signing domain.
import { API_VERSION, GROUP, VERSION } from '../../api/index.js';
import type { SettlementConfig } from '../../config.js';
import { applyPatch, FIELD_MANAGER, isNotFound } from '../../kube/client.js';
import type { Controller, Log } from '../../runtime/index.js';
import { secretReader } from '../computeprovider/kube.js';
import { controllerFor, jobKeyOfShard, keyOf, type OperatorContext } from '../context.js';
import { Wallet } from 'ethers';
import { EscrowClient, makeProvider } from '../../settlement/escrow.js';
import { SettlementController } from './controller.js';

export interface SettlementSetup {
  controller: Controller;
  settlement: SettlementController;
  /** Connects to the chain, retrying with backoff until it works or `signal` aborts; then calls onConnected. */
  connect(signal: AbortSignal, onConnected: () => void): Promise<void>;
}

/** Test-only fault injection: SIGKILL this process right after broadcasting one of `actions`. */
function killAfterSend(actions: string[], log: Log): (action: string) => void {
  const set = new Set(actions);
  return (action) => {
    if (!set.has(action) && !set.has('*')) return;
    log.warn('ATELIER_TEST_KILL_AFTER_SEND: killing the operator after broadcasting a transaction', { action });
    process.kill(process.pid, 'SIGKILL');
  };
}

export function setupSettlementController(ctx: OperatorContext, cfg: SettlementConfig): SettlementSetup {
  const { caches, clients, metrics, log, clock } = ctx;
  const settlement = new SettlementController({
    cfg, jobs: caches.jobLister, shards: caches.shardLister,
    providers: { get: (n) => caches.providers.getByName(n) }, readSecret: secretReader(clients.core, ctx.cfg.secretsNamespace),
    writeStatus: async (namespace, name, body, settled) => {
      metrics.apiWrites.inc({ kind: 'jobSettlement' });
      const patch = { apiVersion: API_VERSION, kind: 'RenderJob', metadata: { name, namespace }, status: { settlement: body, conditions: [settled] } };
      await clients.custom.patchNamespacedCustomObjectStatus({ group: GROUP, version: VERSION, plural: 'renderjobs', namespace, name, body: patch, fieldManager: FIELD_MANAGER.settlement, force: true }, applyPatch())
        .catch((e) => { if (!isNotFound(e)) throw e; });
    },
    recorder: ctx.recorder, log, metrics: metrics.settlement, clock,
    // The one place the payer's chain client is built: ethers on the configured RPC, receipts
    // awaited on the operator's clock for at most a minute each (a slow chain never holds a worker long).
    connect: (privateKey) => EscrowClient.connect({ signer: new Wallet(privateKey, makeProvider(cfg.rpcUrl, cfg.chainId)), escrowAddress: cfg.escrowAddress, pollIntervalMs: 500, waitTimeoutMs: 60_000, clock }),
    ...(ctx.cfg.testKillAfterSend?.length ? { afterBroadcast: killAfterSend(ctx.cfg.testKillAfterSend, log) } : {}),
  });
  // Independent jobs settle side by side; a job's own escrows move in parallel inside its reconcile.
  const controller = controllerFor(ctx, 'settlement', 4, settlement);
  const settles = (key: string | undefined) => {
    if (!key) return;
    const [ns, n] = key.split('/') as [string, string];
    if (caches.jobLister.get(ns, n)?.spec.settlement?.enabled) controller.enqueue(key);
  };
  for (const i of caches.jobs) i.addEventHandler({ add: (j) => settles(keyOf(j)), update: (_o, j) => settles(keyOf(j)), delete: (j) => controller.enqueue(keyOf(j)) });
  for (const i of caches.shards) i.addEventHandler({ add: (s) => settles(jobKeyOfShard(s)), update: (_o, s) => settles(jobKeyOfShard(s)), delete: (s) => settles(jobKeyOfShard(s)) });
  const connect = async (signal: AbortSignal, onConnected: () => void) => {
    for (let i = 0; !signal.aborted; i++) {
      try {
        await settlement.ensureConnected();
        onConnected();
        return;
      } catch (e) {
        if (i === 0) log.warn('settlement chain not reachable yet, retrying', { error: (e as Error).message });
        await clock.sleep(Math.min(30_000, 1000 * 2 ** Math.min(i, 5)), signal).catch(() => undefined);
      }
    }
  };
  return { controller, settlement, connect };
}
