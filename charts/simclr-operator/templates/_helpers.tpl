{{- define "simclr-operator.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "simclr-operator.fullname" -}}
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

{{/* Volume kinds a job may mount only where jobs.extraVolumeKinds lists them: ADMIN_VOLUME_SOURCE_KINDS of
operator/api/schema.ts (test/chart/chart.test.ts checks they agree). */}}
{{- define "simclr-operator.adminVolumeKinds" -}}
hostPath awsElasticBlockStore azureDisk azureFile cephfs cinder downwardAPI ephemeral fc flexVolume flocker gcePersistentDisk gitRepo glusterfs image iscsi photonPersistentDisk portworxVolume projected quobyte rbd scaleIO storageos vsphereVolume
{{- end }}

{{- define "simclr-operator.selectorLabels" -}}
app.kubernetes.io/name: {{ include "simclr-operator.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "simclr-operator.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "simclr-operator.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/component: operator
{{- end }}

{{- define "simclr-operator.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "simclr-operator.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "simclr-operator.leaseName" -}}
{{- default (include "simclr-operator.fullname" .) .Values.operator.leaseName }}
{{- end }}

{{/* Checks across fields that values.schema.json cannot express; called from the Deployment. */}}
{{- define "simclr-operator.validate" -}}
{{- if and (gt (int .Values.replicaCount) 1) (not .Values.operator.leaderElect) }}
{{- fail "replicaCount > 1 needs operator.leaderElect: true (two leaders would reconcile the same jobs)" }}
{{- end }}
{{- if ge (int .Values.operator.renewDeadlineSeconds) (int .Values.operator.leaseDurationSeconds) }}
{{- fail "operator.renewDeadlineSeconds must be below operator.leaseDurationSeconds" }}
{{- end }}
{{- end }}

{{/* The operator's rights over jobs and what they own: a ClusterRole's rules, or a Role's when one namespace is
watched. See rbac.yaml for what uses each verb. */}}
{{- define "simclr-operator.jobRules" -}}
- apiGroups: ["simclr.dev"]
  resources: ["simclrjobs"]
  verbs: ["list", "watch", "delete"]
- apiGroups: ["simclr.dev"]
  resources: ["simclrjobs/status"]
  verbs: ["update"]
- apiGroups: ["simclr.dev"]
  resources: ["simclrjobs/finalizers"]
  verbs: ["update"]
- apiGroups: [""]
  resources: ["pods", "services"]
  verbs: ["list", "watch", "create", "delete"]
- apiGroups: [""]
  resources: ["events"]
  verbs: ["create", "list"]
- apiGroups: ["networking.k8s.io"]
  resources: ["networkpolicies"]
  verbs: ["list", "watch", "create"]
- apiGroups: ["scheduling.x-k8s.io", "scheduling.volcano.sh"]
  resources: ["podgroups"]
  verbs: ["create"]
{{- end }}

{{/* REST API auth (TokenReview, SubjectAccessReview): cluster-scoped, only with operator.auth=kubernetes. */}}
{{- define "simclr-operator.reviewRules" -}}
{{- if eq .Values.operator.auth "kubernetes" }}
- apiGroups: ["authentication.k8s.io"]
  resources: ["tokenreviews"]
  verbs: ["create"]
- apiGroups: ["authorization.k8s.io"]
  resources: ["subjectaccessreviews"]
  verbs: ["create"]
{{- end }}
{{- end }}

{{/* The kubernetes.io/tls Secret the operator serves HTTPS with: the given one, or the chart's. */}}
{{- define "simclr-operator.tlsSecretName" -}}
{{- .Values.tls.secretName | default (printf "%s-tls" (include "simclr-operator.fullname" .)) }}
{{- end }}
