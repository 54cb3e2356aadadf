// Helpers for suites that run against the real test-bed: the cluster and chain that globalSetup
// started for this run, extra clusters for multi-site tests, API clients and polling.
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import * as k8s from '@kubernetes/client-node';

const run = promisify(execFile);
export const repoRoot = path.resolve(import.meta.dirname, '../..');
const clusterScript = path.join(repoRoot, 'test/testbed/cluster.sh');
const chainScript = path.join(repoRoot, 'test/testbed/chain.sh');

export interface TestbedInfo {
  name: string;
  kubeconfig: string;
  chainUrl: string;
}

/** The cluster and chain that the integration project's globalSetup started for this run. */
export function testbed(): TestbedInfo {
  const file = process.env.ATELIER_TESTBED_INFO;
  if (!file) throw new Error('ATELIER_TESTBED_INFO is not set: run integration suites through jest (globalSetup starts the test-bed)');
  return JSON.parse(readFileSync(file, 'utf8')) as TestbedInfo;
}

/** Starts (or reuses) a named cluster; nodeSpec as in cluster.sh ("count:gpus:model,..."). Returns its kubeconfig path. */
export async function startCluster(name: string, nodeSpec: string): Promise<string> {
  const { stdout } = await run('bash', [clusterScript, 'up', name], {
    env: { ...process.env, NODE_SPEC: nodeSpec },
    maxBuffer: 16 * 1024 * 1024,
  });
  return stdout.trim().split('\n').pop()!;
}

export async function stopCluster(name: string): Promise<void> {
  await run('bash', [clusterScript, 'down', name]);
}

export async function startChain(name: string): Promise<string> {
  const { stdout } = await run('bash', [chainScript, 'up', name]);
  return stdout.trim().split('\n').pop()!;
}

export async function stopChain(name: string): Promise<void> {
  await run('bash', [chainScript, 'down', name]);
}

export function kubeConfig(kubeconfigPath: string = testbed().kubeconfig): k8s.KubeConfig {
  const kc = new k8s.KubeConfig();
  kc.loadFromFile(kubeconfigPath);
  return kc;
}

export interface Clients {
  kc: k8s.KubeConfig;
  core: k8s.CoreV1Api;
  apps: k8s.AppsV1Api;
  batch: k8s.BatchV1Api;
  custom: k8s.CustomObjectsApi;
  ext: k8s.ApiextensionsV1Api;
  coordination: k8s.CoordinationV1Api;
  objects: k8s.KubernetesObjectApi;
}

export function clients(kubeconfigPath?: string): Clients {
  const kc = kubeConfig(kubeconfigPath);
  return {
    kc,
    core: kc.makeApiClient(k8s.CoreV1Api),
    apps: kc.makeApiClient(k8s.AppsV1Api),
    batch: kc.makeApiClient(k8s.BatchV1Api),
    custom: kc.makeApiClient(k8s.CustomObjectsApi),
    ext: kc.makeApiClient(k8s.ApiextensionsV1Api),
    coordination: kc.makeApiClient(k8s.CoordinationV1Api),
    objects: k8s.KubernetesObjectApi.makeApiClient(kc),
  };
}

/** Polls fn until it returns a value other than undefined/false, or fails with the last error after timeoutMs. */
export async function waitFor<T>(what: string, fn: () => Promise<T | undefined | false>, timeoutMs = 60000, intervalMs = 250): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastErr: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v !== undefined && v !== false) return v as T;
    } catch (e) {
      lastErr = e;
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeoutMs}ms waiting for ${what}${lastErr ? `: ${String(lastErr)}` : ''}`);
    }
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

/** Creates a fresh namespace and waits for its default ServiceAccount (pods are rejected until it exists). */
export async function freshNamespace(c: Clients, prefix: string): Promise<string> {
  const name = `${prefix}-${Math.random().toString(36).slice(2, 8)}`;
  await c.core.createNamespace({ body: { metadata: { name } } });
  await waitFor(`default ServiceAccount in ${name}`, async () => {
    await c.core.readNamespacedServiceAccount({ name: 'default', namespace: name });
    return true;
  });
  return name;
}
