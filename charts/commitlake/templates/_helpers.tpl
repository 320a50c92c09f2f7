{{/* Chart name, truncated to the 63 characters a label value allows. */}}
{{- define "commitlake.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Fully qualified name: release-chart, unless the release name already contains the chart name. */}}
{{- define "commitlake.fullname" -}}
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

{{- define "commitlake.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Selector labels never change after install, so they hold only name and instance. */}}
{{- define "commitlake.selectorLabels" -}}
app.kubernetes.io/name: {{ include "commitlake.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/* Common labels; `component` is what the NetworkPolicies of the other charts select on. */}}
{{- define "commitlake.labels" -}}
helm.sh/chart: {{ include "commitlake.chart" . }}
{{ include "commitlake.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: commitlake
app.kubernetes.io/component: {{ .Values.component }}
{{- end }}

{{- define "commitlake.serviceAccountName" -}}
{{- default (include "commitlake.fullname" .) .Values.serviceAccount.name }}
{{- end }}

{{/* Pod-level security context: Pod Security Standard "restricted". */}}
{{- define "commitlake.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: {{ .Values.securityContext.runAsUser }}
runAsGroup: {{ .Values.securityContext.runAsGroup }}
fsGroup: {{ .Values.securityContext.fsGroup }}
fsGroupChangePolicy: OnRootMismatch
seccompProfile:
  type: RuntimeDefault
{{- end }}

{{/* Container-level security context shared by every container of the chart. */}}
{{- define "commitlake.containerSecurityContext" -}}
runAsNonRoot: true
runAsUser: {{ .Values.securityContext.runAsUser }}
runAsGroup: {{ .Values.securityContext.runAsGroup }}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: {{ .Values.securityContext.readOnlyRootFilesystem }}
privileged: false
capabilities:
  drop: ["ALL"]
seccompProfile:
  type: RuntimeDefault
{{- end }}

{{/* A pod selector for another commitlake component in this namespace. */}}
{{- define "commitlake.componentSelector" -}}
podSelector:
  matchLabels:
    app.kubernetes.io/part-of: commitlake
    app.kubernetes.io/component: {{ . }}
{{- end }}

{{/* A stage's image under the chart's registry and tag: (list $ "<any prefix>/<component>:<any tag>"). */}}
{{- define "commitlake.stageImage" -}}
{{- $root := index . 0 }}
{{- $component := regexReplaceAll "^(.*/)?([^/:]+)(:[^/]*)?$" (index . 1) "${2}" }}
{{- printf "%s/%s:%s" $root.Values.image.registry $component (default $root.Chart.AppVersion $root.Values.image.tag) }}
{{- end }}
