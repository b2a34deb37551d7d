{{/*
The `app.kubernetes.io/name` label is fixed: the worker NetworkPolicy admits the control API only from pods
carrying it, and documentation and dashboards select on it.
*/}}
{{- define "sluice-operator.name" -}}
sluice-operator
{{- end }}

{{- define "sluice-operator.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else if contains "sluice-operator" .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-sluice-operator" .Release.Name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}

{{- define "sluice-operator.selectorLabels" -}}
app.kubernetes.io/name: {{ include "sluice-operator.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "sluice-operator.labels" -}}
{{ include "sluice-operator.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: sluice
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{- end }}

{{- define "sluice-operator.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "sluice-operator.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "sluice-operator.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{/*
The namespaces the operator reconciles in namespaced mode, as a JSON list (Helm templates can only return
strings; read it with `fromJsonArray`): `watchNamespaces`, else the release namespace.
*/}}
{{- define "sluice-operator.watchNamespaces" -}}
{{- if .Values.watchNamespaces }}
{{- toJson .Values.watchNamespaces }}
{{- else }}
{{- list .Release.Namespace | toJson }}
{{- end }}
{{- end }}

{{/*
Namespaces that run workers, as a JSON list (Helm templates can only return strings): the explicit list, else
the watched namespaces (namespaced) or the release namespace (cluster).
*/}}
{{- define "sluice-operator.workerNamespaces" -}}
{{- if .Values.networkPolicy.namespaces }}
{{- toJson .Values.networkPolicy.namespaces }}
{{- else if eq .Values.rbac.scope "namespaced" }}
{{- include "sluice-operator.watchNamespaces" . }}
{{- else }}
{{- list .Release.Namespace | toJson }}
{{- end }}
{{- end }}

{{/*
What the operator does to the objects of the StreamJobs it reconciles; shared by the ClusterRole and the
namespaced Role so the two modes grant exactly the same verbs.
*/}}
{{- define "sluice-operator.jobRules" -}}
# Watch StreamJobs; patch adds/removes the finalizer (server-side apply / JSON patch, never PUT) and lets the
# autoscaler set spec.parallelism (a JSON patch guarded by a test of the old value).
- apiGroups: [sluice.dev]
  resources: [streamjobs]
  verbs: [get, list, watch, patch]
# Status is written only through server-side apply on /status.
- apiGroups: [sluice.dev]
  resources: [streamjobs/status]
  verbs: [get, patch]
# Owner references with blockOwnerDeletion need update on the owner's finalizers subresource.
- apiGroups: [sluice.dev]
  resources: [streamjobs/finalizers]
  verbs: [update]
# One worker Pod per ordinal, the headless Service, the job ConfigMap and local-state PVCs: server-side apply
# (patch) to create and update, delete for upgrades and orphan cleanup. ConfigMaps need list/watch: the
# operator watches its own job ConfigMaps (label selector app.kubernetes.io/name=sluice-worker) and the model
# ConfigMaps (label selector sluice.dev/model) so that a new model rolls out at once. RBAC cannot restrict a
# grant by label; the selectors keep the operator's cache to those ConfigMaps only.
- apiGroups: [""]
  resources: [pods, services, configmaps, persistentvolumeclaims]
  verbs: [get, list, watch, create, patch, delete]
# The workers' PodDisruptionBudget (spec.disruptionBudget): server-side apply (create + patch), delete when
# the spec disables it.
- apiGroups: [policy]
  resources: [poddisruptionbudgets]
  verbs: [create, patch, delete]
# Get: the operator reads just the Secrets a StreamJob names, by name (control API token, Kafka TLS/SASL
# material, checkpoint store credentials), and each job's control certificate Secret `<job>-control-tls`.
# Create and patch (server-side apply): it writes only that certificate Secret, and never one the StreamJob
# does not own (such a Secret is reported on spec.controlTls instead). It never lists or watches Secrets, so
# it gets no list/watch: those would hand it every Secret of the namespace at once. RBAC cannot narrow these
# verbs with resourceNames here: the names are only known from the users' StreamJobs.
- apiGroups: [""]
  resources: [secrets]
  verbs: [get, create, patch]
# Kubernetes Events for every lifecycle transition (core and events.k8s.io clients).
- apiGroups: [""]
  resources: [events]
  verbs: [create, patch]
- apiGroups: [events.k8s.io]
  resources: [events]
  verbs: [create, patch]
{{- end }}
