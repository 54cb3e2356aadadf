// Settlement in the controller, end to end: the real operator on the test-bed cluster, a real anvil
// chain (its own, for this suite) with the escrow contract and a test token deployed, and Render
// Network contract fakes (test/fakes/render.ts) that sign their results with their payout keys.
// Shards render deterministically (ATELIER_TEST_RENDER_SEED on the fake, the render-seed annotation
// for KWOK), so a spot check's local re-run matches an honest provider and not a wrong one.
//   - a settled burst job: the provider's token balance rises by exactly what verified shards cost,
//     the studio gets the rest back, status shows the transactions;
//   - a provider returning wrong results for spot-checked shards is paid nothing for the job;
//   - the RPC down for a minute in the middle: settlement completes after it returns, exactly once;
//   - the deadline passes with nothing verified: the escrow is refunded in full;
//   - deleting a job with an open escrow refunds it before the job goes;
//   - the operator SIGKILLed right after every broadcast, before the hash is recorded, and restarted:
//     the provider is paid exactly once (balances and EscrowReleased events).
import { TcpProxy } from '../support/tcpproxy.js';
import { Contract, HDNodeWallet, type JsonRpcProvider } from 'ethers';
import { installCrds } from '../support/crds.js';
import { startOperator, type OperatorProcess } from '../support/operator.js';
import { clients, freshNamespace, startChain, stopChain, testbed, waitFor, type Clients } from '../support/testbed.js';
import { RenderFake } from '../fakes/render.js';
import { createJob, getJob, listShards, renderJob } from '../operator/helpers.js';
import { deploySettlement } from '../../operator/src/settlement/deploy.js';
import { escrowIdFor, fromUnits, makeProvider, toUnits } from '../../operator/src/settlement/escrow.js';
import { loadArtifacts } from '../../operator/src/settlement/compile.js';
import { parseMicros } from '../../operator/src/money.js';

const CHAIN = `settle-ctl-${process.pid}`;
const MNEMONIC = 'test test test test test test test test test test test junk';
const SEED = 'frame-batch-7';
const GOOD_KEY = '0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d'; // anvil account 1
const WRONG_KEY = '0x5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a'; // anvil account 2

let c: Clients;
let ns: string;
let provider: JsonRpcProvider;
let payer: HDNodeWallet;
let token: Contract;
let escrowAddr: string;
let tokenAddr: string;
let rpcPort: number;
let proxy: TcpProxy; // in front of anvil: taken down (connections refused and cut) and brought back
const good = new RenderFake({ assignDelayMs: 200, startMs: 200, jobDurationMs: 2000, payoutKey: GOOD_KEY });
const wrong = new RenderFake({ assignDelayMs: 200, startMs: 200, jobDurationMs: 2000, payoutKey: WRONG_KEY, everyJob: 'wrong' });
const slow = new RenderFake({ assignDelayMs: 200, startMs: 200, jobDurationMs: 3_600_000, payoutKey: GOOD_KEY });

const balance = async (who: string) => (await token.getFunction('balanceOf').staticCall(who)) as bigint;
type Escrow = { provider: string; escrowId?: string; state?: string; funded?: string; released?: string; refunded?: string; owed?: string; transactions?: { kind?: string; hash?: string; state?: string }[] };
type Job = Awaited<ReturnType<typeof getJob>> & { status?: { settlement?: { escrows?: Escrow[] } } };
const job = async (name: string) => (await getJob(c, ns, name)) as Job;
const condition = (j: Job, type: string) => j.status?.conditions?.find((x) => x.type === type);

async function computeProvider(name: string, fake: RenderFake, price: string) {
  await c.core.createNamespacedSecret({ namespace: 'atelier-system', body: { metadata: { name }, stringData: { credential: `${fake.opts.publicKey}:${fake.opts.secretKey}` } } });
  await c.custom.createClusterCustomObject({
    group: 'atelier.dev', version: 'v1alpha1', plural: 'computeproviders',
    body: {
      apiVersion: 'atelier.dev/v1alpha1', kind: 'ComputeProvider', metadata: { name },
      spec: { type: 'render', endpoint: fake.url, credentialsSecretRef: { namespace: 'atelier-system', name, key: 'credential' }, payoutAddress: fake.payoutAddress, gpuModels: ['nvidia-h100'], options: { pricePerGpuHour: price } },
    },
  });
}

function settledJob(name: string, o: { count: number; providers: string[]; spotCheck?: number; deadline?: string }) {
  const j = renderJob(name, { count: o.count, models: ['nvidia-h100'], annotations: { 'testbed.atelier.dev/render-seed': SEED }, ...(o.deadline ? { deadline: o.deadline } : {}) }) as { spec: Record<string, unknown> & { template: Record<string, unknown> } };
  j.spec.template.env = [{ name: 'ATELIER_TEST_RENDER_SEED', value: SEED }];
  j.spec.placement = { policy: 'ProviderOnly', providers: o.providers };
  j.spec.verification = { spotCheckFraction: o.spotCheck ?? 0 };
  j.spec.settlement = { enabled: true };
  return j as unknown as Record<string, unknown>;
}

function startSettlingOperator(name: string, env: Record<string, string> = {}): OperatorProcess {
  return startOperator(testbed().kubeconfig, ['--namespace', ns, '--lease-name', `atelier-settle-${name}`, '--remote-poll', '1', '--provider-probe', '2'], {
    ATELIER_SETTLEMENT_RPC_URL: `http://127.0.0.1:${proxy.port}`,
    ATELIER_SETTLEMENT_CHAIN_ID: '31337',
    ATELIER_SETTLEMENT_ESCROW_ADDRESS: escrowAddr,
    ATELIER_SETTLEMENT_TOKEN_ADDRESS: tokenAddr,
    ATELIER_SETTLEMENT_WALLET_SECRET: 'atelier-system/studio-wallet',
    ...env,
  });
}

async function until<T>(what: string, name: string, fn: (j: Job) => T | undefined | false, timeoutMs = 240_000): Promise<T> {
  try {
    return await waitFor(what, async () => fn(await job(name)), timeoutMs, 1000);
  } catch (e) {
    console.log(JSON.stringify((await job(name)).status, null, 1));
    throw e;
  }
}

/**
 * What the provider is owed for the job, from the provider's own records (never from the operator's
 * status, which is what is under test): every run of the job it completed, billed as it meters it
 * (the claim it signs is the same amount), in token units (6 decimals: micro-USD = token units).
 * The provider here is honest, so every completed run passes verification and is owed.
 */
async function billedUnits(name: string, fake: RenderFake): Promise<bigint> {
  const uid = (await job(name)).metadata.uid!;
  let sum = 0n;
  for (const j of fake.jobs()) {
    if (!j.key?.startsWith(`${uid}-`) || j.status !== 'COMPLETED') continue;
    sum += parseMicros(fake.meteredUsd(j.id));
  }
  return sum;
}

beforeAll(async () => {
  c = clients();
  await installCrds();
  const url = await startChain(CHAIN);
  rpcPort = Number(new URL(url).port);
  proxy = new TcpProxy(rpcPort);
  await proxy.up();
  provider = makeProvider(url, 31337, 200);
  payer = HDNodeWallet.fromPhrase(MNEMONIC, undefined, `m/44'/60'/0'/0/0`).connect(provider);
  const d = await deploySettlement({ signer: payer, testToken: { mint: [{ to: payer.address, amount: '100000' }] } });
  escrowAddr = d.escrow;
  tokenAddr = d.token!;
  token = new Contract(tokenAddr, (await loadArtifacts()).token.abi, provider);
  await Promise.all([good.start(), wrong.start(), slow.start()]);
  ns = await freshNamespace(c, 'settle');
  await c.core.createNamespace({ body: { metadata: { name: 'atelier-system' } } }).catch(() => undefined);
  await c.core.createNamespacedSecret({ namespace: 'atelier-system', body: { metadata: { name: 'studio-wallet' }, stringData: { privateKey: payer.privateKey } } });
  await computeProvider('settle-good', good, '2.20');
  await computeProvider('settle-wrong', wrong, '1.00');
  await computeProvider('settle-slow', slow, '2.20');
}, 300_000);

afterAll(async () => {
  for (const name of ['settle-good', 'settle-wrong', 'settle-slow']) await c.custom.deleteClusterCustomObject({ group: 'atelier.dev', version: 'v1alpha1', plural: 'computeproviders', name }).catch(() => undefined);
  await Promise.all([good.stop(), wrong.stop(), slow.stop()]);
  await proxy?.down();
  provider?.destroy();
  await stopChain(CHAIN);
});

describe('with the operator running', () => {
  let op: OperatorProcess;
  beforeAll(async () => {
    op = startSettlingOperator('main');
    await op.waitForLog('settlement connected', 90_000);
  }, 120_000);
  afterAll(async () => {
    const secrets = [payer.privateKey.slice(2), GOOD_KEY.slice(2), WRONG_KEY.slice(2)];
    await op?.kill('SIGTERM');
    // The wallet key is never logged.
    for (const s of secrets) expect(op.raw.join('\n')).not.toContain(s);
  });

  test('a burst job settles: the provider gets exactly what verified shards cost, the studio the rest', async () => {
    const before = { studio: await balance(payer.address), provider: await balance(good.payoutAddress) };
    await createJob(c, ns, settledJob('paid', { count: 4, providers: ['settle-good'], spotCheck: 0.5 }));
    const done = await until('paid settled', 'paid', (j) => condition(j, 'Settled')?.status === 'True' && j);
    expect(done.status!.phase).toBe('Succeeded');
    expect(condition(done, 'Verified')).toMatchObject({ status: 'True', reason: 'Verified' });
    const shards = await listShards(c, ns, 'paid');
    const checked = shards.filter((s) => (s.status as { verification?: { state?: string } }).verification?.state === 'Verified').length;
    console.log(`paid: ${checked}/4 shards spot-checked and verified; conditions ${JSON.stringify(done.status!.conditions!.map((x) => `${x.type}=${x.status}/${x.reason}`))}`);
    const e = done.status!.settlement!.escrows!.find((x) => x.provider === 'settle-good')!;
    expect(e.state).toBe('Released');
    expect(e.escrowId).toBe(escrowIdFor(done.metadata.uid!, 'settle-good'));
    const owed = await billedUnits('paid', good);
    expect(owed).toBeGreaterThan(0n);
    expect(toUnits(e.released!, 6)).toBe(owed);
    expect(await balance(good.payoutAddress) - before.provider).toBe(owed);
    expect(before.studio - (await balance(payer.address))).toBe(owed);
    const kinds = (e.transactions ?? []).map((t) => t.kind);
    expect(kinds).toEqual(expect.arrayContaining(['approve', 'open', 'release']));
    for (const t of e.transactions ?? []) {
      expect(t.state).toBe('Confirmed');
      expect((await provider.getTransactionReceipt(t.hash!))?.status).toBe(1);
    }
    console.log(`paid: released ${fromUnits(owed, 6)} of ${e.funded} funded; transactions ${kinds.join(', ')}`);
    // The operator's own account of it, scraped from /metrics.
    const text = await (await fetch(`${await op.metricsUrl()}/metrics`)).text();
    const series = (re: RegExp) => Number(re.exec(text)?.[1] ?? NaN);
    expect(series(/^atelier_settlement_amount_total\{kind="released",provider="settle-good"\} (\S+)$/m)).toBeCloseTo(Number(fromUnits(owed, 6)), 6);
    expect(series(/^atelier_settlement_transactions_total\{kind="release",result="confirmed"\} (\S+)$/m)).toBe(1);
    expect(series(/^atelier_verifications_total\{provider="settle-good",result="verified"\} (\S+)$/m) || 0).toBe(checked);
  }, 300_000);

  test('a provider returning wrong results for spot-checked shards is paid nothing for the job', async () => {
    const before = await balance(wrong.payoutAddress);
    await createJob(c, ns, settledJob('cheat', { count: 3, providers: ['settle-wrong', 'settle-good'], spotCheck: 1 }));
    const done = await until('cheat settled', 'cheat', (j) => condition(j, 'Settled')?.status === 'True' && j);
    expect(done.status!.phase).toBe('Succeeded');
    expect(condition(done, 'Verified')).toMatchObject({ status: 'False', reason: 'VerificationFailed' });
    const escrows = done.status!.settlement!.escrows!;
    const w = escrows.find((x) => x.provider === 'settle-wrong');
    expect(w?.state).toBe('Withheld');
    expect(await balance(wrong.payoutAddress)).toBe(before);
    // No shard's accepted result comes from the wrong provider.
    for (const s of await listShards(c, ns, 'cheat')) {
      const st = s.status as { phase?: string; placement?: string; provider?: string };
      expect(st.phase).toBe('Succeeded');
      expect(st.placement === 'Remote' && st.provider === 'settle-wrong').toBe(false);
    }
    const cp = (await c.custom.getClusterCustomObject({ group: 'atelier.dev', version: 'v1alpha1', plural: 'computeproviders', name: 'settle-wrong' })) as { status?: { verificationFailures?: number } };
    expect(cp.status?.verificationFailures ?? 0).toBeGreaterThanOrEqual(1);
    console.log(`cheat: escrows ${JSON.stringify(escrows.map((x) => ({ p: x.provider, state: x.state, released: x.released, refunded: x.refunded })))}`);
  }, 300_000);

  test('deleting a job with an open escrow refunds it before the job goes', async () => {
    const before = await balance(payer.address);
    await createJob(c, ns, settledJob('dropped', { count: 2, providers: ['settle-slow'] }));
    const opened = await until('dropped escrow open', 'dropped', (j) => j.status?.settlement?.escrows?.find((x) => x.state === 'Open'));
    expect(toUnits(opened.funded!, 6)).toBeGreaterThan(0n);
    await c.custom.deleteNamespacedCustomObject({ group: 'atelier.dev', version: 'v1alpha1', plural: 'renderjobs', namespace: ns, name: 'dropped' });
    await waitFor('dropped gone', async () => (await getJob(c, ns, 'dropped').then(() => false, () => true)), 120_000, 1000);
    const escrow = new Contract(escrowAddr, (await loadArtifacts()).escrow.abi, provider);
    const rec = await escrow.getFunction('escrows').staticCall(opened.escrowId!);
    expect(rec[5]).toBe(3n); // Refunded
    expect(await balance(payer.address)).toBe(before);
  }, 300_000);

  test('the deadline passes with nothing verified: the escrow is refunded in full', async () => {
    const before = await balance(payer.address);
    const deadline = new Date(Date.now() + 25_000).toISOString();
    await createJob(c, ns, settledJob('late', { count: 2, providers: ['settle-slow'], deadline }));
    await until('late escrow open', 'late', (j) => j.status?.settlement?.escrows?.find((x) => x.state === 'Open'));
    const done = await until('late settled', 'late', (j) => condition(j, 'Settled')?.status === 'True' && j);
    expect(done.status!.phase).toBe('Failed');
    expect(condition(done, 'Failed')?.reason).toBe('DeadlineExceeded');
    const e = done.status!.settlement!.escrows![0]!;
    expect(e.state).toBe('Refunded');
    expect(e.refunded).toBe(e.funded);
    expect(await balance(payer.address)).toBe(before);
  }, 300_000);

  test('the RPC down for a minute in the middle: settlement completes after it returns, paid once', async () => {
    const before = await balance(good.payoutAddress);
    await createJob(c, ns, settledJob('outage', { count: 3, providers: ['settle-good'] }));
    await until('outage escrow open', 'outage', (j) => j.status?.settlement?.escrows?.find((x) => x.state === 'Open'));
    await proxy.down();
    const downAt = Date.now();
    const stuck = await until('outage Settled=False RpcUnavailable', 'outage', (j) => j.status?.phase === 'Succeeded' && condition(j, 'Settled')?.reason === 'RpcUnavailable' && j, 120_000);
    console.log(`outage: ${JSON.stringify(condition(stuck, 'Settled'))}`);
    await new Promise((r) => setTimeout(r, Math.max(0, 60_000 - (Date.now() - downAt))));
    await proxy.up();
    const done = await until('outage settled', 'outage', (j) => condition(j, 'Settled')?.status === 'True' && j, 180_000);
    const owed = await billedUnits('outage', good);
    expect(done.status!.settlement!.escrows![0]!.state).toBe('Released');
    expect(await balance(good.payoutAddress) - before).toBe(owed);
  }, 420_000);
});

test('killed right after each broadcast, before the hash is recorded, and restarted: paid exactly once', async () => {
  const before = await balance(good.payoutAddress);
  await createJob(c, ns, settledJob('crashy', { count: 3, providers: ['settle-good'] }));
  let kills = 0;
  let done: Job | undefined;
  const deadline = Date.now() + 300_000;
  while (!done && Date.now() < deadline) {
    const op = startSettlingOperator('crashy', { ATELIER_TEST_KILL_AFTER_SEND: '*' });
    const exit = await Promise.race([op.exited.then((code) => ({ code })), new Promise<undefined>((r) => setTimeout(() => r(undefined), 20_000))]);
    if (exit) kills++;
    const j = await job('crashy');
    if (condition(j, 'Settled')?.status === 'True') done = j;
    await op.kill('SIGKILL');
  }
  expect(done).toBeDefined();
  expect(kills).toBeGreaterThanOrEqual(3); // approve, open, release at least: each one killed the operator once
  const e = done!.status!.settlement!.escrows![0]!;
  expect(e.state).toBe('Released');
  const owed = await billedUnits('crashy', good);
  expect(await balance(good.payoutAddress) - before).toBe(owed);
  const escrow = new Contract(escrowAddr, (await loadArtifacts()).escrow.abi, provider);
  const released = await escrow.queryFilter(escrow.filters.EscrowReleased!(e.escrowId), 0);
  expect(released).toHaveLength(1);
  console.log(`crashy: operator killed ${kills} times right after a broadcast; released ${fromUnits(owed, 6)} once`);
}, 420_000);
