// The one place that builds Kubernetes API clients: from a kubeconfig file, the in-cluster service
// account, or the default loading rules. Everything else receives the clients it needs.
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
  return kc;
}

export function makeClients(kc: k8s.KubeConfig): KubeClients {
  const core = kc.makeApiClient(k8s.CoreV1Api);
  return { kc, core, custom: kc.makeApiClient(k8s.CustomObjectsApi), coordination: kc.makeApiClient(k8s.CoordinationV1Api), events: core };
}

export { isConflict, isNotFound, statusCode } from '../runtime/errors.js';

/** Options that make a client-node patch call send a JSON merge patch. */
export const mergePatch = () => k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch);
