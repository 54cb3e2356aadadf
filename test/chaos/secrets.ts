// The end-of-suite secret scan: every secret value the chaos run handed out (provider API keys, the
// studio's wallet key, the peer's payout key, kubeconfig tokens) looked for, as text and in the
// encodings a careless log would use (0x-prefixed, base64), in every operator's log (both sites,
// every process started, killed ones included), every Event on both sites, the status of every
// Atelier object on both sites, and /metrics of the operators still running. A hit is a violation.
import type { Clients } from '../support/testbed.js';
import type { OperatorProcess } from '../support/operator.js';

export interface SecretScanInput {
  a: Clients;
  b: Clients;
  all: OperatorProcess[];
  peerOp: OperatorProcess;
  secrets: Record<string, string>;
}

/** The forms of one secret a leak could take. */
function forms(value: string): string[] {
  const v = value.replace(/^0x/, '');
  return [...new Set([v, v.toLowerCase(), Buffer.from(v).toString('base64'), Buffer.from(value).toString('base64')])].filter((f) => f.length >= 12);
}

async function statuses(c: Clients): Promise<string> {
  const out: unknown[] = [];
  for (const plural of ['renderjobs', 'rendershards', 'renderbudgets']) {
    const list = (await c.custom.listClusterCustomObject({ group: 'atelier.dev', version: 'v1alpha1', plural }).catch(() => ({ items: [] }))) as { items: { status?: unknown }[] };
    out.push(...list.items.map((i) => i.status));
  }
  const cps = (await c.custom.listClusterCustomObject({ group: 'atelier.dev', version: 'v1alpha1', plural: 'computeproviders' }).catch(() => ({ items: [] }))) as { items: { status?: unknown }[] };
  out.push(...cps.items.map((i) => i.status));
  return JSON.stringify(out);
}

async function events(c: Clients): Promise<string> {
  const list = await c.core.listEventForAllNamespaces({}).catch(() => ({ items: [] }));
  return JSON.stringify(list.items.map((e) => [e.reason, e.message, e.involvedObject?.name]));
}

async function metrics(ops: OperatorProcess[]): Promise<string> {
  const texts = await Promise.all(ops.filter((o) => o.proc.exitCode === null && o.proc.signalCode === null).map(async (o) => {
    try { return await (await fetch(`${await o.metricsUrl()}/metrics`)).text(); } catch { return ''; }
  }));
  return texts.join('\n');
}

/** Every place a secret was found, as violation lines (empty when none leaked). */
export async function scanSecrets(w: SecretScanInput): Promise<string[]> {
  const ops = [...w.all, w.peerOp];
  const places: Record<string, string> = {
    'operator logs': ops.map((o) => o.raw.join('\n')).join('\n'),
    'site A events': await events(w.a),
    'site B events': await events(w.b),
    'site A object status': await statuses(w.a),
    'site B object status': await statuses(w.b),
    '/metrics': await metrics(ops),
  };
  const found: string[] = [];
  for (const [what, value] of Object.entries(w.secrets)) {
    for (const [where, text] of Object.entries(places)) if (forms(value).some((f) => text.includes(f))) found.push(`secret leaked: ${what} found in ${where}`);
  }
  const scanned = Object.entries(places).map(([k, v]) => `${k} ${(v.length / 1024).toFixed(0)} KiB`).join(', ');
  console.log(`secret scan: ${Object.keys(w.secrets).length} secrets over ${scanned}: ${found.length} found`);
  return found;
}
