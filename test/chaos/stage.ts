// Sets up the chaos suite's world and takes it down: site A (its own test-bed cluster, so restarting
// its API server or etcd and deleting its nodes touch no other suite) with two operator replicas
// under leader election talking to the API server through a cuttable proxy; site B, the subnet peer,
// with its own operator signing results with a payout key; a chain of its own (anvil) behind a
// proxy that can go down, with the escrow and a test token deployed; and two HTTP provider fakes
// (Render, Chutes) that sign their results with their own payout keys.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { HDNodeWallet, Wallet } from 'ethers';
import { ChutesFake } from '../fakes/chutes.js';
import { RenderFake } from '../fakes/render.js';
import { installCrds } from '../support/crds.js';
import { startOperator, type OperatorProcess } from '../support/operator.js';
import { createComputeProvider } from '../support/providers.js';
import { clients, startChain, startCluster, stopChain, stopCluster, waitFor, type Clients } from '../support/testbed.js';
import { deploySettlement } from '../../operator/src/settlement/deploy.js';
import { loadArtifacts } from '../../operator/src/settlement/compile.js';
import { makeProvider } from '../../operator/src/settlement/escrow.js';
import type { Stage } from './faults.js';
import { apiPort, kubeconfigVia } from './procs.js';
import { TcpProxy } from '../support/tcpproxy.js';

const MNEMONIC = 'test test test test test test test test test test test junk';
export const NODE_SPEC_A = '2:2:nvidia-h100';
export const PROVIDERS = { render: 'chaos-render', chutes: 'chaos-chutes', peer: 'chaos-peer' } as const;

export interface World extends Stage {
  chainName: string;
  chainUrl: string;
  payer: HDNodeWallet;
  escrowAbi: unknown;
  peerNs: string;
  peerOp: OperatorProcess;
  peerPayout: Wallet;
  payees: Map<string, string>;
  /** Every secret value this run handed out, for the end-of-suite scan. */
  secrets: Record<string, string>;
  teardown(): Promise<void>;
}

async function ns(c: Clients, name: string): Promise<void> {
  await c.core.createNamespace({ body: { metadata: { name } } }).catch(() => undefined);
  await waitFor(`default ServiceAccount in ${name}`, async () => { await c.core.readNamespacedServiceAccount({ name: 'default', namespace: name }); return true; });
}

async function chain(name: string) {
  const url = await startChain(name);
  const rpcProxy = new TcpProxy(Number(new URL(url).port));
  await rpcProxy.up();
  const provider = makeProvider(url, 31337, 200);
  const payer = HDNodeWallet.fromPhrase(MNEMONIC, undefined, `m/44'/60'/0'/0/0`).connect(provider);
  const d = await deploySettlement({ signer: payer, testToken: { mint: [{ to: payer.address, amount: '1000000' }] } });
  const art = await loadArtifacts();
  // The second sender: the same key, its own provider (so its nonce bookkeeping is not the payer's).
  const secondSender = HDNodeWallet.fromPhrase(MNEMONIC, undefined, `m/44'/60'/0'/0/0`).connect(makeProvider(url, 31337, 200));
  return { url, rpcProxy, provider, payer, escrowAddr: d.escrow, tokenAddr: d.token!, tokenAbi: art.token.abi, escrowAbi: art.escrow.abi, secondSender };
}

async function peer(clusterB: string, b: Clients, kubeconfigB: string, payout: Wallet) {
  const peerNs = 'shared-renders';
  await Promise.all([ns(b, peerNs), ns(b, 'atelier-system')]);
  await b.core.createNamespacedSecret({ namespace: 'atelier-system', body: { metadata: { name: 'payout' }, stringData: { privateKey: payout.privateKey } } }).catch(() => undefined);
  const peerOp = startOperator(kubeconfigB, ['--namespace', peerNs, '--leader-elect', 'false', '--cluster-name', clusterB, '--local-gpu-hour-price', '2.00', '--payout-key-secret', 'atelier-system/payout', '--secrets-namespace', 'atelier-system']);
  await peerOp.waitForLog('became leader', 90_000);
  return { peerNs, peerOp };
}

/** Builds the whole world; `log` prints a line. */
export async function buildWorld(base: string, log: (l: string) => void): Promise<World> {
  const clusterA = `${base}-chaos`, clusterB = `${base}-chaos-b`, chainName = `${base}-chaos`;
  const [kubeconfigA, kubeconfigB] = await Promise.all([startCluster(clusterA, NODE_SPEC_A), startCluster(clusterB, '1:4:nvidia-h100')]);
  await Promise.all([installCrds(kubeconfigA), installCrds(kubeconfigB)]);
  const a = clients(kubeconfigA), b = clients(kubeconfigB);
  const ch = await chain(chainName);
  const render = new RenderFake({ assignDelayMs: 200, startMs: 200, jobDurationMs: 3000, gpus: { 'NVIDIA H100': 4 } });
  const chutes = new ChutesFake({ claimDelayMs: 300, jobDurationMs: 3000, uploadMs: 200 });
  await Promise.all([render.start(), chutes.start()]);
  const studio = 'studio';
  await Promise.all([ns(a, studio), ns(a, 'atelier-system')]);
  await a.core.createNamespacedSecret({ namespace: 'atelier-system', body: { metadata: { name: 'studio-wallet' }, stringData: { privateKey: ch.payer.privateKey } } });
  const peerPayout = new Wallet(Wallet.createRandom().privateKey);
  const p = await peer(clusterB, b, kubeconfigB, peerPayout);
  await a.core.createNamespacedSecret({ namespace: 'atelier-system', body: { metadata: { name: 'site-b' }, stringData: { kubeconfig: readFileSync(kubeconfigB, 'utf8') } } });
  const limits = { maxConcurrentShards: 3, allowedNamespaces: [studio] };
  await createComputeProvider(a, PROVIDERS.render, 'render', render.url, `${render.opts.publicKey}:${render.opts.secretKey}`, { pricePerGpuHour: '2.20' }, { ...limits, payoutAddress: render.payoutAddress });
  await createComputeProvider(a, PROVIDERS.chutes, 'bittensor', chutes.url, chutes.opts.apiKey, { chuteId: chutes.opts.chutes[0]!.chute_id, method: 'render' }, { ...limits, payoutAddress: chutes.payoutAddress });
  await a.custom.createClusterCustomObject({
    group: 'atelier.dev', version: 'v1alpha1', plural: 'computeproviders',
    body: {
      apiVersion: 'atelier.dev/v1alpha1', kind: 'ComputeProvider', metadata: { name: PROVIDERS.peer },
      spec: { type: 'subnet', payoutAddress: peerPayout.address, gpuModels: ['nvidia-h100'], ...limits, subnet: { kubeconfigSecretRef: { namespace: 'atelier-system', name: 'site-b', key: 'kubeconfig' }, namespace: p.peerNs }, options: { pricePerGpuHour: '2.50' } },
    },
  });
  const apiProxy = new TcpProxy(apiPort(kubeconfigA));
  await apiProxy.up();
  const viaProxy = kubeconfigVia(kubeconfigA, apiProxy.port, path.join(path.dirname(kubeconfigA), 'proxied.kubeconfig'));
  const all: OperatorProcess[] = [];
  const env = {
    ATELIER_SETTLEMENT_RPC_URL: `http://127.0.0.1:${ch.rpcProxy.port}`, ATELIER_SETTLEMENT_CHAIN_ID: '31337',
    ATELIER_SETTLEMENT_ESCROW_ADDRESS: ch.escrowAddr, ATELIER_SETTLEMENT_TOKEN_ADDRESS: ch.tokenAddr, ATELIER_SETTLEMENT_WALLET_SECRET: 'atelier-system/studio-wallet',
  };
  const startReplica = () => {
    const op = startOperator(viaProxy, ['--namespace', studio, '--lease-name', 'chaos', '--cluster-name', 'site-a', '--remote-poll', '1', '--provider-probe', '2', '--provider-timeout', '30', '--local-gpu-hour-price', '1.00', '--peer-job-ttl', '0'], env);
    all.push(op);
    return op;
  };
  const replicas = [startReplica(), startReplica()];
  const payees = new Map([[render.payoutAddress.toLowerCase(), PROVIDERS.render], [chutes.payoutAddress.toLowerCase(), PROVIDERS.chutes], [peerPayout.address.toLowerCase(), PROVIDERS.peer]]);
  const tokenA = /token: (\S+)/.exec(readFileSync(kubeconfigA, 'utf8'))![1]!, tokenB = /token: (\S+)/.exec(readFileSync(kubeconfigB, 'utf8'))![1]!;
  const secrets = {
    'render secret key': render.opts.secretKey, 'chutes API key': chutes.opts.apiKey, 'studio wallet key': ch.payer.privateKey.slice(2),
    'peer payout key': peerPayout.privateKey.slice(2), 'site B kubeconfig token': tokenB, 'site A token': tokenA,
  };
  log(`chaos world: site A ${clusterA} (${NODE_SPEC_A}), site B ${clusterB}, chain ${ch.url}, render ${render.url}, chutes ${chutes.url}`);
  const world: World = {
    clusterA, clusterB, nodeSpecA: NODE_SPEC_A, a, b, ns: studio, replicas, all, startReplica, apiProxy, rpcProxy: ch.rpcProxy, render, chutes,
    fakes: { [PROVIDERS.render]: render, [PROVIDERS.chutes]: chutes }, sabotaged: new Set(), secondSender: ch.secondSender, tokenAddr: ch.tokenAddr, tokenAbi: ch.tokenAbi,
    escrowAddr: ch.escrowAddr, escrowAbi: ch.escrowAbi, pending: [], log, chainName, chainUrl: ch.url, payer: ch.payer, peerNs: p.peerNs, peerOp: p.peerOp, peerPayout, payees, secrets,
    async teardown() {
      await Promise.all([...world.all, world.peerOp].map((o) => o.kill('SIGKILL')));
      await Promise.allSettled([render.stop(), chutes.stop(), apiProxy.down(), ch.rpcProxy.down()]);
      ch.provider.destroy();
      (ch.secondSender.provider as { destroy?: () => void } | null)?.destroy?.();
      if (process.env.ATELIER_KEEP_TESTBED === '1') return;
      await Promise.allSettled([stopCluster(clusterA), stopCluster(clusterB), stopChain(chainName)]);
    },
  };
  return world;
}
