// Site B of the subnet suites: a second control plane (one node with 8 H100s) with Atelier's CRDs and
// the real operator (the built CLI) running there in one namespace, and site A's subnet adapter for
// it, its kubeconfig passed as text as it would come from a Secret.
import { readFileSync } from 'node:fs';
import { SubnetAdapter } from '../../operator/src/providers/subnet/adapter.js';
import { installCrds } from './crds.js';
import { startOperator, type OperatorProcess } from './operator.js';
import { clients, startCluster, stopCluster, testbed, type Clients } from './testbed.js';

export interface PeerSiteOptions {
  /** Also installs the CRDs on site A (the test-bed), alongside B's. */
  originCrds?: boolean;
  /** Creates what B's operator needs before it starts; answers its namespace and any further operator args. */
  prepare(b: Clients): Promise<{ namespace: string; args?: string[] }>;
}

export interface PeerSite {
  kubeconfig: string;
  clients: Clients;
  namespace: string;
  op: OperatorProcess;
  adapter: SubnetAdapter;
}

/** Starts site B as the named cluster; stop() takes down whatever start() got to. */
export function peerSite(cluster: string): { start(opts: PeerSiteOptions): Promise<PeerSite>; stop(): Promise<void> } {
  let op: OperatorProcess | undefined;
  return {
    async start(opts) {
      expect(testbed().name).toBeDefined();
      const kubeconfig = await startCluster(cluster, '1:8:nvidia-h100');
      await Promise.all([installCrds(kubeconfig), ...(opts.originCrds ? [installCrds()] : [])]);
      const b = clients(kubeconfig);
      const { namespace, args = [] } = await opts.prepare(b);
      op = startOperator(kubeconfig, ['--namespace', namespace, '--leader-elect', 'false', '--local-gpu-hour-price', '2.00', ...args]);
      await op.waitForLog('became leader');
      const adapter = new SubnetAdapter({ kubeconfig: readFileSync(kubeconfig, 'utf8'), namespace, options: { originCluster: 'site-a', pricePerGpuHour: '2.50' } });
      return { kubeconfig, clients: b, namespace, op, adapter };
    },
    async stop() {
      await op?.kill('SIGTERM');
      await stopCluster(cluster);
    },
  };
}
