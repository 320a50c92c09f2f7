{{/* Cluster name: `<release>-warehouse`; the operator derives `-rw`, `-ro`, `-r` Services from it. */}}
{{- define "warehouse-ha.cluster" -}}
{{- printf "%s-warehouse" .Release.Name | trunc 50 | trimSuffix "-" }}
{{- end }}

{{- define "warehouse-ha.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Labels for objects this chart renders. */}}
{{- define "warehouse-ha.labels" -}}
helm.sh/chart: {{ include "warehouse-ha.chart" . }}
app.kubernetes.io/name: warehouse-ha
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: commitlake
{{- end }}

{{/* Pod selectors by the labels CloudNativePG puts on its pods. */}}
{{- define "warehouse-ha.instanceSelector" -}}
cnpg.io/cluster: {{ include "warehouse-ha.cluster" . }}
cnpg.io/podRole: instance
{{- end }}

{{- define "warehouse-ha.poolerName" -}}
{{- printf "%s-pooler-%s" (include "warehouse-ha.cluster" .root) .type }}
{{- end }}

{{/* A pod selector for another commitlake component in this namespace. */}}
{{- define "warehouse-ha.componentSelector" -}}
podSelector:
  matchLabels:
    app.kubernetes.io/part-of: commitlake
    app.kubernetes.io/component: {{ . }}
{{- end }}

{{/* Egress to the Kubernetes API server: the instance manager in each pod needs it. */}}
{{- define "warehouse-ha.kubeAPIEgress" -}}
- to:
    {{- range .Values.networkPolicy.kubeAPI.cidrs }}
    - ipBlock:
        cidr: {{ . }}
    {{- end }}
  ports:
    {{- range .Values.networkPolicy.kubeAPI.ports }}
    - port: {{ . }}
      protocol: TCP
    {{- end }}
{{- end }}
