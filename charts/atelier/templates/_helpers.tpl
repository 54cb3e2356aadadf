{{/*
_helpers.tpl: names, labels and the RBAC rule sets shared by the templates. The rule sets live here
once because the same rules are bound cluster-wide or per watched namespace depending on values.
cdk8s/install.ts synthesizes the same rules; cdk8s/install.test.ts compares the two.
*/}}

{{- define "atelier.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "atelier.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "atelier.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "atelier.selectorLabels" -}}
app.kubernetes.io/name: {{ include "atelier.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "atelier.labels" -}}
helm.sh/chart: {{ include "atelier.chart" . }}
{{ include "atelier.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: atelier
{{- end }}

{{- define "atelier.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "atelier.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "atelier.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{/* Name of the Secret the chart creates for a provider's credentials. */}}
{{- define "atelier.providerSecretName" -}}
{{- printf "%s-%s-credentials" (include "atelier.fullname" .root) .provider.name | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Permissions granted cluster-wide whatever watchNamespaces says: cluster-scoped objects; pods
everywhere, read-only, because free GPU capacity is what nodes hold minus what every pod in every
namespace uses; and Events, because those about cluster-scoped ComputeProviders go to the default
namespace. No Secrets: those are read only in the release namespace (atelier.leaseRules), so whoever
may write a ComputeProvider cannot make the operator read a Secret of another namespace.
*/}}
{{- define "atelier.clusterRules" -}}
- apiGroups: ["atelier.dev"]
  resources: ["computeproviders"]
  verbs: ["get", "list", "watch"]
- apiGroups: ["atelier.dev"]
  resources: ["computeproviders/status"]
  verbs: ["get", "patch", "update"]
- apiGroups: [""]
  resources: ["nodes"]
  verbs: ["list", "watch"]
- apiGroups: [""]
  resources: ["pods"]
  verbs: ["list", "watch"]
- apiGroups: [""]
  resources: ["events"]
  verbs: ["create", "patch"]
{{- end }}

{{/*
Permissions in the namespaces whose RenderJobs the operator runs: the jobs (finalizers are set with a
merge patch; renderjobs/finalizers lets shard owner references block deletion), their shard records,
creating and deleting their pods, and patching them to remove the operator's own finalizer
(atelier.dev/outcome) once a pod's outcome is kept.
*/}}
{{- define "atelier.jobRules" -}}
- apiGroups: ["atelier.dev"]
  resources: ["renderjobs"]
  verbs: ["get", "list", "watch", "patch", "update"]
- apiGroups: ["atelier.dev"]
  resources: ["renderjobs/status"]
  verbs: ["get", "patch", "update"]
- apiGroups: ["atelier.dev"]
  resources: ["renderjobs/finalizers"]
  verbs: ["update"]
- apiGroups: ["atelier.dev"]
  resources: ["rendershards"]
  verbs: ["get", "list", "watch", "create", "delete", "deletecollection"]
- apiGroups: ["atelier.dev"]
  resources: ["rendershards/status"]
  verbs: ["get", "patch", "update"]
- apiGroups: ["atelier.dev"]
  resources: ["renderbudgets"]
  verbs: ["get", "list", "watch"]
- apiGroups: ["atelier.dev"]
  resources: ["renderbudgets/status"]
  verbs: ["get", "patch", "update"]
- apiGroups: [""]
  resources: ["pods"]
  verbs: ["create", "delete", "patch"]
{{- end }}

{{/* Leader election in the release namespace, and Events about it. */}}
{{- define "atelier.leaseRules" -}}
- apiGroups: ["coordination.k8s.io"]
  resources: ["leases"]
  verbs: ["create"]
- apiGroups: ["coordination.k8s.io"]
  resources: ["leases"]
  resourceNames: [{{ .Values.leaderElection.leaseName | quote }}]
  verbs: ["get", "update"]
- apiGroups: [""]
  resources: ["events"]
  verbs: ["create", "patch"]
- apiGroups: [""]
  resources: ["secrets"]
  verbs: ["get"]
{{- end }}
