// The Atelier installation written with cdk8s-plus-27: the same objects as the Helm chart in
// charts/atelier/ rendered with its default values (ServiceAccount, ClusterRole + binding, Role +
// binding for the leader Lease, the operator Deployment, its metrics Service and a
// PodDisruptionBudget), for teams that keep their platform in TypeScript rather than Helm.
// install.test.ts compares synthInstall() with `helm template` so the two cannot drift: same kinds
// and names, identical RBAC rules, identical container security settings, probes, ports and args.
// kplus cannot express a few fields (seccomp profiles, named probe and target ports, exact resource
// quantities, affinity); those are set with JSON patches on the synthesized objects.
//
// Run it: `tsc -p tsconfig.json --outDir /tmp/atelier-ts && node /tmp/atelier-ts/cdk8s/install.js`
// prints the manifests as YAML (CRDs are not included: apply crds/ first).
import { pathToFileURL } from 'node:url';
import { ApiObject, App, Chart, Duration, JsonPatch, Size } from 'cdk8s';
import * as kplus from 'cdk8s-plus-27';
import { dump } from 'js-yaml';

export interface InstallOptions {
  /** Name of every object (the chart's full name). Default atelier. */
  name?: string;
  /** Namespace of the operator. Default atelier-system. */
  namespace?: string;
  /** Operator image. Default ghcr.io/atelier-dev/atelier:<version>. */
  image?: string;
  /** Chart/app version used in labels and the default image tag. Default 0.1.0. */
  version?: string;
  replicas?: number;
  leaseName?: string;
  metricsPort?: number;
  workers?: number;
  logLevel?: 'error' | 'warn' | 'info' | 'debug';
  localGpuHourPrice?: string;
  retryBaseSeconds?: number;
  remotePollSeconds?: number;
  providerTimeoutSeconds?: number;
  /** This cluster's name on jobs it submits to peer clusters; unset means the operator's default. */
  clusterName?: string;
  /**
   * As a subnet peer: a Secret in `namespace` holding this site's payout private key, with which the
   * operator signs the results of settled shards other sites send it (chart: operator.payoutKeySecret).
   */
  payoutKeySecret?: { name: string; key?: string };
  /** Namespaces whose RenderJobs the operator runs; empty means all (job permissions cluster-wide). */
  watchNamespaces?: string[];
}

/** One RBAC rule: apiGroup and resource (optionally one object name), and the verbs allowed. */
export interface Rule {
  apiGroup: string;
  resource: string;
  resourceName?: string;
  verbs: string[];
}

// The same three rule sets as charts/atelier/templates/_helpers.tpl; see the comments there.
export const CLUSTER_RULES: Rule[] = [
  { apiGroup: 'atelier.dev', resource: 'computeproviders', verbs: ['get', 'list', 'watch'] },
  { apiGroup: 'atelier.dev', resource: 'computeproviders/status', verbs: ['get', 'patch', 'update'] },
  { apiGroup: '', resource: 'nodes', verbs: ['list', 'watch'] },
  { apiGroup: '', resource: 'pods', verbs: ['list', 'watch'] },
  { apiGroup: '', resource: 'events', verbs: ['create', 'patch'] },
];

export const JOB_RULES: Rule[] = [
  { apiGroup: 'atelier.dev', resource: 'renderjobs', verbs: ['get', 'list', 'watch', 'patch', 'update'] },
  { apiGroup: 'atelier.dev', resource: 'renderjobs/status', verbs: ['get', 'patch', 'update'] },
  { apiGroup: 'atelier.dev', resource: 'renderjobs/finalizers', verbs: ['update'] },
  { apiGroup: 'atelier.dev', resource: 'rendershards', verbs: ['get', 'list', 'watch', 'create', 'delete', 'deletecollection'] },
  { apiGroup: 'atelier.dev', resource: 'rendershards/status', verbs: ['get', 'patch', 'update'] },
  { apiGroup: 'atelier.dev', resource: 'renderbudgets', verbs: ['get', 'list', 'watch'] },
  { apiGroup: 'atelier.dev', resource: 'renderbudgets/status', verbs: ['get', 'patch', 'update'] },
  { apiGroup: '', resource: 'pods', verbs: ['create', 'delete', 'patch'] }, // patch: removing atelier.dev/outcome
];

export function leaseRules(leaseName: string): Rule[] {
  return [
    { apiGroup: 'coordination.k8s.io', resource: 'leases', verbs: ['create'] },
    { apiGroup: 'coordination.k8s.io', resource: 'leases', resourceName: leaseName, verbs: ['get', 'update'] },
    { apiGroup: '', resource: 'events', verbs: ['create', 'patch'] },
    // Secrets only in the operator's own namespace (provider credentials, kubeconfigs, keys).
    { apiGroup: '', resource: 'secrets', verbs: ['get'] },
  ];
}

/**
 * One rule's resource in both shapes kplus takes (Role.allow wants an IApiResource, ClusterRole.allow
 * an IApiEndpoint); kplus's own ApiResource.custom cannot carry a resource name.
 */
function resource(r: Rule): kplus.IApiResource & kplus.IApiEndpoint {
  const res: kplus.IApiResource = { apiGroup: r.apiGroup, resourceType: r.resource, resourceName: r.resourceName };
  return { ...res, asApiResource: () => res, asNonApiResource: () => undefined };
}

function allow(role: kplus.Role | kplus.ClusterRole, rules: Rule[]): void {
  for (const r of rules) role.allow(r.verbs, resource(r));
}

/** The installation as a cdk8s chart inside `app`. */
export class AtelierInstall extends Chart {
  constructor(app: App, id: string, opts: InstallOptions = {}) {
    const name = opts.name ?? 'atelier';
    const namespace = opts.namespace ?? 'atelier-system';
    const version = opts.version ?? '0.1.0';
    const selector = { 'app.kubernetes.io/name': 'atelier', 'app.kubernetes.io/instance': name };
    const labels = { ...selector, 'app.kubernetes.io/version': version, 'app.kubernetes.io/managed-by': 'cdk8s', 'app.kubernetes.io/part-of': 'atelier' };
    // No chart-wide namespace: it would land on the cluster-scoped ClusterRole and its binding too.
    super(app, id, { labels });

    const leaseName = opts.leaseName ?? 'atelier-operator';
    const port = opts.metricsPort ?? 8080;
    const watch = opts.watchNamespaces ?? [];

    const sa = new kplus.ServiceAccount(this, 'service-account', { metadata: { name, namespace }, automountToken: true });

    const clusterRole = new kplus.ClusterRole(this, 'cluster-role', { metadata: { name } });
    allow(clusterRole, CLUSTER_RULES);
    if (watch.length === 0) allow(clusterRole, JOB_RULES);
    new kplus.ClusterRoleBinding(this, 'cluster-role-binding', { metadata: { name }, role: clusterRole }).addSubjects(sa);

    const role = new kplus.Role(this, 'role', { metadata: { name, namespace } });
    allow(role, leaseRules(leaseName));
    new kplus.RoleBinding(this, 'role-binding', { metadata: { name, namespace }, role }).addSubjects(sa);

    if (watch.length > 0) {
      const jobs = new kplus.ClusterRole(this, 'job-role', { metadata: { name: `${name}-jobs` } });
      allow(jobs, JOB_RULES);
      for (const ns of watch) {
        new kplus.RoleBinding(this, `job-binding-${ns}`, { metadata: { name: `${name}-jobs`, namespace: ns }, role: jobs }).addSubjects(sa);
      }
    }

    const tmp = kplus.Volume.fromEmptyDir(this, 'tmp-volume', 'tmp', { sizeLimit: Size.mebibytes(512) });
    const deployment = new kplus.Deployment(this, 'deployment', {
      metadata: { name, namespace, labels: { 'app.kubernetes.io/component': 'operator' } },
      replicas: opts.replicas ?? 2,
      select: false,
      spread: false,
      serviceAccount: sa,
      automountServiceAccountToken: true,
      terminationGracePeriod: Duration.seconds(30),
      strategy: kplus.DeploymentStrategy.rollingUpdate({ maxSurge: kplus.PercentOrAbsolute.absolute(1), maxUnavailable: kplus.PercentOrAbsolute.absolute(0) }),
      podMetadata: { labels: { ...labels, 'app.kubernetes.io/component': 'operator' }, annotations: { 'kubectl.kubernetes.io/default-container': 'operator' } },
      securityContext: { ensureNonRoot: true, user: 65532, group: 65532, fsGroup: 65532, fsGroupChangePolicy: kplus.FsGroupChangePolicy.ON_ROOT_MISMATCH },
      volumes: [tmp],
      containers: [{
        name: 'operator',
        image: opts.image ?? `ghcr.io/atelier-dev/atelier:${version}`,
        imagePullPolicy: kplus.ImagePullPolicy.IF_NOT_PRESENT,
        args: [
          'run',
          `--metrics-addr=0.0.0.0:${port}`,
          '--leader-elect=true',
          `--lease-namespace=${namespace}`,
          `--lease-name=${leaseName}`,
          `--workers=${opts.workers ?? 32}`,
          `--log-level=${opts.logLevel ?? 'info'}`,
          `--local-gpu-hour-price=${opts.localGpuHourPrice ?? '0.00'}`,
          `--retry-base=${opts.retryBaseSeconds ?? 10}`,
          `--remote-poll=${opts.remotePollSeconds ?? 5}`,
          `--provider-timeout=${opts.providerTimeoutSeconds ?? 300}`,
          ...(opts.clusterName ? [`--cluster-name=${opts.clusterName}`] : []),
          ...(opts.payoutKeySecret?.name ? [`--payout-key-secret=${namespace}/${opts.payoutKeySecret.name}`, `--payout-key-secret-key=${opts.payoutKeySecret.key || 'privateKey'}`] : []),
          ...(watch.length > 0 ? [`--namespace=${watch.join(',')}`] : []),
        ],
        envVariables: {
          POD_NAMESPACE: kplus.EnvValue.fromFieldRef(kplus.EnvFieldPaths.POD_NAMESPACE),
          POD_NAME: kplus.EnvValue.fromFieldRef(kplus.EnvFieldPaths.POD_NAME),
          ATELIER_CACHE: kplus.EnvValue.fromValue('/tmp/atelier-cache'),
        },
        ports: [{ name: 'metrics', number: port, protocol: kplus.Protocol.TCP }],
        liveness: kplus.Probe.fromHttpGet('/healthz', { port, initialDelaySeconds: Duration.seconds(15), periodSeconds: Duration.seconds(10), timeoutSeconds: Duration.seconds(5), failureThreshold: 3 }),
        readiness: kplus.Probe.fromHttpGet('/readyz', { port, initialDelaySeconds: Duration.seconds(5), periodSeconds: Duration.seconds(5), timeoutSeconds: Duration.seconds(5), failureThreshold: 3 }),
        securityContext: {
          ensureNonRoot: true, user: 65532, group: 65532, privileged: false, readOnlyRootFilesystem: true, allowPrivilegeEscalation: false,
          // Kubernetes spells "every capability" ALL, which kplus's Capability enum (CAP_*) lacks.
          capabilities: { drop: ['ALL' as kplus.Capability] },
        },
        volumeMounts: [{ path: '/tmp', volume: tmp }],
      }],
    });
    deployment.select(kplus.LabelSelector.of({ labels: selector }));
    // Patched values go through the typed k8s converters after patching, hence IntOrString/Quantity.
    const pod = '/spec/template/spec';
    const named = kplus.k8s.IntOrString.fromString('metrics');
    const q = (v: string) => kplus.k8s.Quantity.fromString(v);
    ApiObject.of(deployment).addJsonPatch(
      JsonPatch.add('/spec/revisionHistoryLimit', 5),
      // kplus labels every pod with its construct address even when it does not select on it.
      JsonPatch.remove('/spec/template/metadata/labels/cdk8s.io~1metadata.addr'),
      JsonPatch.add(`${pod}/enableServiceLinks`, false),
      JsonPatch.add(`${pod}/securityContext/seccompProfile`, { type: 'RuntimeDefault' }),
      JsonPatch.add(`${pod}/containers/0/securityContext/seccompProfile`, { type: 'RuntimeDefault' }),
      // Probes address the port by name, so changing the port number cannot leave them behind.
      JsonPatch.add(`${pod}/containers/0/livenessProbe/httpGet/port`, named),
      JsonPatch.add(`${pod}/containers/0/readinessProbe/httpGet/port`, named),
      JsonPatch.replace(`${pod}/containers/0/resources`, { limits: { cpu: q('1'), memory: q('1Gi') }, requests: { cpu: q('100m'), memory: q('256Mi') } }),
      JsonPatch.add(`${pod}/affinity`, {
        podAntiAffinity: {
          preferredDuringSchedulingIgnoredDuringExecution: [
            { weight: 100, podAffinityTerm: { topologyKey: 'kubernetes.io/hostname', labelSelector: { matchLabels: selector } } },
          ],
        },
      }),
    );

    const service = new kplus.Service(this, 'metrics-service', {
      metadata: { name: `${name}-metrics`, namespace, labels: { 'app.kubernetes.io/component': 'metrics' } },
      type: kplus.ServiceType.CLUSTER_IP,
      ports: [{ name: 'metrics', port, targetPort: port, protocol: kplus.Protocol.TCP }],
    });
    for (const [k, v] of Object.entries(selector)) service.selectLabel(k, v);
    ApiObject.of(service).addJsonPatch(JsonPatch.add('/spec/ports/0/targetPort', kplus.k8s.IntOrString.fromString('metrics')));

    // The same apply-time refusal of Secret references outside the operator's namespace as the chart's
    // secretrefpolicy.yaml (the operator refuses them anyway: Ready=False SecretNamespaceNotAllowed).
    const policy = `${name}-secret-refs`;
    const sameNs = (path: string, field: string) => ({
      expression: `${path} || ${field}.namespace == '${namespace}'`,
      message: `${field.replace('object.', '')}.namespace must be ${namespace}: Atelier reads Secrets only from its own namespace; create the Secret there`,
    });
    new ApiObject(this, 'secret-ref-policy', {
      apiVersion: 'admissionregistration.k8s.io/v1', kind: 'ValidatingAdmissionPolicy', metadata: { name: policy },
      spec: {
        failurePolicy: 'Fail',
        matchConstraints: { resourceRules: [{ apiGroups: ['atelier.dev'], apiVersions: ['v1alpha1'], operations: ['CREATE', 'UPDATE'], resources: ['computeproviders'] }] },
        validations: [
          sameNs('!has(object.spec.credentialsSecretRef)', 'object.spec.credentialsSecretRef'),
          sameNs('!has(object.spec.subnet) || !has(object.spec.subnet.kubeconfigSecretRef)', 'object.spec.subnet.kubeconfigSecretRef'),
        ],
      },
    });
    new ApiObject(this, 'secret-ref-policy-binding', {
      apiVersion: 'admissionregistration.k8s.io/v1', kind: 'ValidatingAdmissionPolicyBinding', metadata: { name: policy },
      spec: { policyName: policy, validationActions: ['Deny'] },
    });

    new ApiObject(this, 'pdb', {
      apiVersion: 'policy/v1',
      kind: 'PodDisruptionBudget',
      metadata: { name, namespace },
      spec: { maxUnavailable: 1, selector: { matchLabels: selector } },
    });
  }
}

/** The installation's manifests as plain objects (what `kubectl apply` takes), CRDs excluded. */
export function synthInstall(opts: InstallOptions = {}): Record<string, any>[] {
  const app = new App();
  return new AtelierInstall(app, 'atelier', opts).toJson();
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  process.stdout.write(synthInstall().map((o) => `---\n${dump(o, { noRefs: true })}`).join(''));
}
