// The one place that builds Kubernetes API clients: from a kubeconfig file, the in-cluster service
// account, or the default loading rules. Everything else receives the clients it needs.
import { createHash } from 'node:crypto';
import * as k8s from '@kubernetes/client-node';

export interface KubeClients {
  kc: k8s.KubeConfig;
  core: k8s.CoreV1Api;
  custom: k8s.CustomObjectsApi;
  coordination: k8s.CoordinationV1Api;
  events: k8s.CoreV1Api;
}

export function loadKubeConfig(kubeconfigPath?: string): k8s.KubeConfig {
  const kc = new k8s.KubeConfig();
  if (kubeconfigPath) kc.loadFromFile(kubeconfigPath);
  else kc.loadFromDefault(); // KUBECONFIG, ~/.kube/config, or in-cluster
  if (!kc.getCurrentCluster()) throw new Error('no Kubernetes cluster configured: pass --kubeconfig, set KUBECONFIG, or run in a cluster');
  reuseConnections(kc);
  return kc;
}

interface DispatcherFactory {
  createDispatcher(cluster: unknown, agentOptions: unknown): unknown;
  createDispatcherOptions(cluster: unknown, agentOptions: unknown): unknown;
}

/**
 * client-node 2.x builds a new undici Agent, so a new TCP and TLS connection, for every API request
 * (KubeConfig.applySecurityAuthentication -> createDispatcher). Under load that was about half of
 * the operator's CPU and a large share of its memory (test/bench/client-reuse.ts measures it). This
 * keeps one connection pool per distinct set of TLS options (a rotated client certificate or CA
 * gives a new key, and the pool it replaces is closed once its requests are done).
 */
export function reuseConnections(kc: k8s.KubeConfig): void {
  const f = kc as unknown as DispatcherFactory;
  if (typeof f.createDispatcher !== 'function' || typeof f.createDispatcherOptions !== 'function') return; // another client-node
  const create = f.createDispatcher.bind(kc);
  let current: { key: string; dispatcher: unknown } | undefined;
  f.createDispatcher = (cluster, agentOptions) => {
    const key = createHash('sha256').update(JSON.stringify(f.createDispatcherOptions(cluster, agentOptions))).digest('hex');
    if (current?.key === key) return current.dispatcher;
    const old = current?.dispatcher as { close?: () => Promise<void> } | undefined;
    current = { key, dispatcher: create(cluster, agentOptions) };
    void old?.close?.().catch(() => undefined);
    return current.dispatcher;
  };
}

export function makeClients(kc: k8s.KubeConfig): KubeClients {
  const core = kc.makeApiClient(k8s.CoreV1Api);
  return { kc, core, custom: kc.makeApiClient(k8s.CustomObjectsApi), coordination: kc.makeApiClient(k8s.CoordinationV1Api), events: core };
}

export { isConflict, isNotFound, statusCode } from '../runtime/errors.js';

/** Options that make a client-node patch call send a JSON merge patch. */
export const mergePatch = () => k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch);
/** Server-side apply: with a field manager, each writer owns its own fields (e.g. its own conditions of a map-keyed list). */
export const applyPatch = () => k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.ServerSideApply);
/** A status for a JSON merge patch: an undefined field becomes null, which removes it. */
export function mergePatchStatus<T extends object>(status: T): Record<string, unknown> {
  return Object.fromEntries(Object.entries(status).map(([k, v]) => [k, v === undefined ? null : v]));
}
export const strategicMergePatch = () => k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.StrategicMergePatch);
/** Field managers of the operator's status writers (one owner per status field). */
export const FIELD_MANAGER = { renderjob: 'atelier', settlement: 'atelier-settlement' } as const;
