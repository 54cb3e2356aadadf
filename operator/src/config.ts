// Operator configuration from flags and environment (flags win), validated once at start-up so a
// bad value fails with a clear message instead of a crash loop later. The rest of the operator gets
// this object injected and never reads process.env itself.
import { parseArgs } from 'node:util';
import { dataFlags, dataUsage, parseDataConfig, type DataConfig } from './data/config.js';
import { parseMicros } from './money.js';

export interface OperatorConfig {
  kubeconfig?: string;
  namespaces: string[]; // empty: all namespaces
  metricsAddr: string; // host:port serving /metrics, /healthz, /readyz
  leaderElect: boolean;
  leaseNamespace: string;
  /**
   * The operator's own namespace: the only one it reads Secrets from (provider credentials, peer
   * kubeconfigs, wallet and payout keys), as cert-manager reads ClusterIssuer Secrets only from its
   * cluster resource namespace. A reference to another namespace is refused.
   */
  secretsNamespace: string;
  leaseName: string;
  identity: string;
  workers: number;
  localPricePerGpuHour: string;
  logLevel: string;
  retryBaseMs: number;
  shutdownTimeoutMs: number;
  /** Names this cluster on the objects it creates in peer clusters (private subnetworks). */
  clusterName: string;
  /** How often a live remote shard's status is asked for. */
  remotePollMs: number;
  /** How often each ComputeProvider is probed for offers. */
  providerProbeMs: number;
  /** A provider that does not answer for this long has its shards failed over. */
  providerTimeoutMs: number;
  /** How long a subnet peer keeps the RenderJob of a shard it ran here after the origin job is finished and settled (default 5 min). */
  peerJobTtlMs?: number;
  /**
   * As a peer in a private subnetwork: the Secret key holding this site's payout wallet's private key,
   * with which it signs the results of shards other sites send it (controllers/subnetsigner.ts).
   * Unset: nothing is signed.
   */
  payoutKeySecret?: { namespace: string; name: string; key: string };
  /** On-chain settlement (jobs opt in with spec.settlement.enabled); unset: settled jobs say NotConfigured. */
  settlement?: SettlementConfig;
  /**
   * Test fault hook (ATELIER_TEST_KILL_AFTER_SEND, never a flag): SIGKILL the operator right after
   * broadcasting one of these settlement actions ("open", "release", … or "*"). Read here like every
   * other setting, so no controller reads the environment.
   */
  testKillAfterSend?: string[];
  /** The data plane (inputs by CID, sealed outputs, delivery); unset: jobs with inputs are refused. */
  data?: DataConfig;
}

export interface SettlementConfig {
  rpcUrl: string;
  chainId: number;
  escrowAddress: string;
  tokenAddress: string;
  /** The payer wallet's private key, from a Secret key (never from a flag or plain env). */
  walletSecret: { namespace: string; name: string; key: string };
  /** How long after the job's deadline (or creation + 7 days) an escrow can be refunded by anyone. */
  escrowGraceMs: number;
}

export const usage = `Usage: atelier run [flags]

Runs the Atelier operator against the cluster in --kubeconfig, $KUBECONFIG, ~/.kube/config or the
in-cluster service account.

Flags (environment variable in brackets):
  --kubeconfig PATH             kubeconfig file [KUBECONFIG]
  --namespace NS                namespace to watch; repeat or comma-separate; default all [ATELIER_NAMESPACES]
  --metrics-addr HOST:PORT      /metrics, /healthz and /readyz (default 0.0.0.0:8080) [ATELIER_METRICS_ADDR]
  --leader-elect BOOL           elect a leader through a Lease (default true) [ATELIER_LEADER_ELECT]
  --lease-namespace NS          namespace of the Lease (default: POD_NAMESPACE or atelier-system) [ATELIER_LEASE_NAMESPACE]
  --secrets-namespace NS        the only namespace Secrets are read from (default: POD_NAMESPACE or atelier-system) [ATELIER_SECRETS_NAMESPACE]
  --lease-name NAME             name of the Lease (default atelier-operator)
  --workers N                   concurrent reconciles (default 32) [ATELIER_WORKERS]
  --local-gpu-hour-price USD    price of one local GPU-hour, decimal (default 0.00) [ATELIER_LOCAL_GPU_HOUR_PRICE]
  --retry-base SECONDS          first delay before retrying a failed shard (default 10) [ATELIER_RETRY_BASE_SECONDS]
  --cluster-name NAME           this cluster's name on objects it creates in peer clusters (default atelier) [ATELIER_CLUSTER_NAME]
  --remote-poll SECONDS         how often a remote shard's status is polled (default 5) [ATELIER_REMOTE_POLL_SECONDS]
  --provider-probe SECONDS      how often each ComputeProvider is probed for offers (default 60) [ATELIER_PROVIDER_PROBE_SECONDS]
  --provider-timeout SECONDS    fail over a provider's shards after it is silent this long (default 300) [ATELIER_PROVIDER_TIMEOUT_SECONDS]
  --peer-job-ttl SECONDS        delete a subnet peer's RenderJob this long after the origin job finished and
                                settled, its result and bill recorded (default 300) [ATELIER_PEER_JOB_TTL_SECONDS]
  --payout-key-secret NS/NAME   Secret with this site's payout private key; when set, results of shards
                                that peer sites send here are signed with it [ATELIER_PAYOUT_KEY_SECRET]
  --payout-key-secret-key KEY   key in that Secret (default privateKey) [ATELIER_PAYOUT_KEY_SECRET_KEY]
  --log-level LEVEL             error|warn|info|debug (default info) [ATELIER_LOG_LEVEL]

Settlement (all four addresses or none; the chart sets them from .Values.settlement):
  --settlement-rpc-url URL       EVM JSON-RPC endpoint [ATELIER_SETTLEMENT_RPC_URL]
  --settlement-chain-id N        chain id (default 31337) [ATELIER_SETTLEMENT_CHAIN_ID]
  --settlement-escrow ADDR       AtelierEscrow contract [ATELIER_SETTLEMENT_ESCROW_ADDRESS]
  --settlement-token ADDR        ERC-20 token escrows hold [ATELIER_SETTLEMENT_TOKEN_ADDRESS]
  --settlement-wallet-secret NS/NAME  Secret with the payer wallet's private key [ATELIER_SETTLEMENT_WALLET_SECRET]
  --settlement-wallet-secret-key KEY  key in that Secret (default privateKey) [ATELIER_SETTLEMENT_WALLET_SECRET_KEY]

${dataUsage}`;

function bool(name: string, v: string): boolean {
  if (/^(true|1|yes)$/i.test(v)) return true;
  if (/^(false|0|no)$/i.test(v)) return false;
  throw new Error(`--${name} must be true or false, got ${JSON.stringify(v)}`);
}

function int(name: string, v: string, min: number, max: number): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < min || n > max) throw new Error(`--${name} must be an integer in ${min}..${max}, got ${JSON.stringify(v)}`);
  return n;
}

function positive(name: string, v: string): number {
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0) throw new Error(`--${name} must be a positive number of seconds, got ${JSON.stringify(v)}`);
  return n;
}

function nonNegative(name: string, v: string): number {
  const n = Number(v);
  if (v.trim() === '' || !Number.isFinite(n) || n < 0) throw new Error(`--${name} must be a number of seconds >= 0, got ${JSON.stringify(v)}`);
  return n;
}

/** `--payout-key-secret NS/NAME` and its key; undefined when no Secret is named. */
function secretRef(ref: string | undefined, key: string | undefined, flag = 'payout-key-secret'): { namespace: string; name: string; key: string } | undefined {
  if (ref === undefined || ref === '') {
    if (key) throw new Error(`--${flag}-key needs --${flag} NS/NAME`);
    return undefined;
  }
  const m = /^([a-z0-9]([-a-z0-9]*[a-z0-9])?)\/([a-z0-9]([-.a-z0-9]*[a-z0-9])?)$/.exec(ref);
  if (!m || m[1]!.length > 63 || m[3]!.length > 253) throw new Error(`--${flag} must be NAMESPACE/NAME, got ${JSON.stringify(ref)}`);
  const k = key || 'privateKey';
  if (!/^[-._a-zA-Z0-9]{1,253}$/.test(k)) throw new Error(`--${flag}-key must be a Secret key ([-._a-zA-Z0-9]), got ${JSON.stringify(k)}`);
  return { namespace: m[1]!, name: m[3]!, key: k };
}

export function parseConfig(argv: string[], env: Record<string, string | undefined>, hostname: string): OperatorConfig {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    options: {
      kubeconfig: { type: 'string' },
      namespace: { type: 'string', multiple: true },
      'metrics-addr': { type: 'string' },
      'leader-elect': { type: 'string' },
      'lease-namespace': { type: 'string' },
      'secrets-namespace': { type: 'string' },
      'lease-name': { type: 'string' },
      workers: { type: 'string' },
      'local-gpu-hour-price': { type: 'string' },
      'retry-base': { type: 'string' },
      'log-level': { type: 'string' },
      'remote-poll': { type: 'string' },
      'cluster-name': { type: 'string' },
      'provider-probe': { type: 'string' },
      'provider-timeout': { type: 'string' },
      'peer-job-ttl': { type: 'string' },
      'payout-key-secret': { type: 'string' },
      'payout-key-secret-key': { type: 'string' },
      'settlement-rpc-url': { type: 'string' },
      'settlement-chain-id': { type: 'string' },
      'settlement-escrow': { type: 'string' },
      'settlement-token': { type: 'string' },
      'settlement-wallet-secret': { type: 'string' },
      'settlement-wallet-secret-key': { type: 'string' },
      ...dataFlags,
    },
  });
  const namespaces = (values.namespace ?? (env.ATELIER_NAMESPACES ? [env.ATELIER_NAMESPACES] : []))
    .flatMap((s) => s.split(','))
    .map((s) => s.trim())
    .filter(Boolean);
  const price = values['local-gpu-hour-price'] ?? env.ATELIER_LOCAL_GPU_HOUR_PRICE ?? '0.00';
  try { parseMicros(price); } catch { throw new Error(`--local-gpu-hour-price must be a decimal USD amount like 1.20, got ${JSON.stringify(price)}`); }
  const metricsAddr = values['metrics-addr'] ?? env.ATELIER_METRICS_ADDR ?? '0.0.0.0:8080';
  if (!/^[^:]*:\d+$/.test(metricsAddr)) throw new Error(`--metrics-addr must be HOST:PORT, got ${JSON.stringify(metricsAddr)}`);
  const level = values['log-level'] ?? env.ATELIER_LOG_LEVEL ?? 'info';
  if (!['error', 'warn', 'info', 'debug'].includes(level)) throw new Error(`--log-level must be error, warn, info or debug, got ${JSON.stringify(level)}`);
  const secretsNamespace = values['secrets-namespace'] ?? env.ATELIER_SECRETS_NAMESPACE ?? env.POD_NAMESPACE ?? 'atelier-system';
  const payoutKeySecret = secretRef(values['payout-key-secret'] ?? env.ATELIER_PAYOUT_KEY_SECRET, values['payout-key-secret-key'] ?? env.ATELIER_PAYOUT_KEY_SECRET_KEY);
  return {
    kubeconfig: values.kubeconfig ?? env.KUBECONFIG?.split(':')[0] ?? undefined,
    namespaces,
    metricsAddr,
    leaderElect: bool('leader-elect', values['leader-elect'] ?? env.ATELIER_LEADER_ELECT ?? 'true'),
    leaseNamespace: values['lease-namespace'] ?? env.ATELIER_LEASE_NAMESPACE ?? env.POD_NAMESPACE ?? 'atelier-system',
    secretsNamespace,
    leaseName: values['lease-name'] ?? 'atelier-operator',
    identity: `${env.POD_NAME ?? hostname}_${process.pid}_${Math.random().toString(36).slice(2, 8)}`,
    workers: int('workers', values.workers ?? env.ATELIER_WORKERS ?? '32', 1, 256),
    localPricePerGpuHour: price,
    logLevel: level,
    retryBaseMs: Math.round(1000 * Number(values['retry-base'] ?? env.ATELIER_RETRY_BASE_SECONDS ?? '10')),
    shutdownTimeoutMs: 20_000,
    clusterName: values['cluster-name'] ?? env.ATELIER_CLUSTER_NAME ?? 'atelier',
    remotePollMs: Math.round(1000 * positive('remote-poll', values['remote-poll'] ?? env.ATELIER_REMOTE_POLL_SECONDS ?? '5')),
    providerProbeMs: Math.round(1000 * positive('provider-probe', values['provider-probe'] ?? env.ATELIER_PROVIDER_PROBE_SECONDS ?? '60')),
    providerTimeoutMs: Math.round(1000 * positive('provider-timeout', values['provider-timeout'] ?? env.ATELIER_PROVIDER_TIMEOUT_SECONDS ?? '300')),
    peerJobTtlMs: Math.round(1000 * nonNegative('peer-job-ttl', values['peer-job-ttl'] ?? env.ATELIER_PEER_JOB_TTL_SECONDS ?? '300')),
    ...(env.ATELIER_TEST_KILL_AFTER_SEND ? { testKillAfterSend: env.ATELIER_TEST_KILL_AFTER_SEND.split(',').map((a) => a.trim()).filter(Boolean) } : {}),
    ...(payoutKeySecret ? { payoutKeySecret } : {}),
    ...settlementConfig(values, env),
    ...parseDataConfig(values, env, secretsNamespace),
  };
}

function settlementConfig(values: Record<string, string | boolean | string[] | undefined>, env: Record<string, string | undefined>): { settlement?: SettlementConfig } {
  const v = (flag: string, name: string) => (values[flag] as string | undefined) ?? env[name];
  const rpcUrl = v('settlement-rpc-url', 'ATELIER_SETTLEMENT_RPC_URL');
  const escrow = v('settlement-escrow', 'ATELIER_SETTLEMENT_ESCROW_ADDRESS');
  const token = v('settlement-token', 'ATELIER_SETTLEMENT_TOKEN_ADDRESS');
  const wallet = v('settlement-wallet-secret', 'ATELIER_SETTLEMENT_WALLET_SECRET');
  const given = [rpcUrl, escrow, token, wallet].filter((x) => x !== undefined && x !== '');
  if (given.length === 0) return {};
  if (given.length < 4) throw new Error('settlement needs all of --settlement-rpc-url, --settlement-escrow, --settlement-token and --settlement-wallet-secret (or their ATELIER_SETTLEMENT_* variables)');
  if (!/^https?:\/\//.test(rpcUrl!)) throw new Error(`--settlement-rpc-url must be an http(s) URL, got ${JSON.stringify(rpcUrl)}`);
  for (const [flag, a] of [['settlement-escrow', escrow], ['settlement-token', token]] as const) {
    if (!/^0x[0-9a-fA-F]{40}$/.test(a!)) throw new Error(`--${flag} must be a 0x-prefixed 20-byte address, got ${JSON.stringify(a)}`);
  }
  const walletSecret = secretRef(wallet, v('settlement-wallet-secret-key', 'ATELIER_SETTLEMENT_WALLET_SECRET_KEY'), 'settlement-wallet-secret');
  return {
    settlement: {
      rpcUrl: rpcUrl!, chainId: int('settlement-chain-id', v('settlement-chain-id', 'ATELIER_SETTLEMENT_CHAIN_ID') || '31337', 1, 2 ** 48),
      escrowAddress: escrow!, tokenAddress: token!, walletSecret: walletSecret!, escrowGraceMs: 24 * 3600_000,
    },
  };
}
