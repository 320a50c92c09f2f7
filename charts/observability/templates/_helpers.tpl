{{/* Chart name, truncated to the 63 characters a label value allows. */}}
{{- define "observability.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Fully qualified name: release-chart, unless the release name already contains the chart name. */}}
{{- define "observability.fullname" -}}
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

{{/* Per-component name: <fullname>-<component>. Call with (dict "root" $ "component" "loki"). */}}
{{- define "observability.componentName" -}}
{{- printf "%s-%s" (include "observability.fullname" .root) .component | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "observability.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Three workloads share this chart, so (like argo-helm) the selector carries the component too. */}}
{{- define "observability.selectorLabels" -}}
app.kubernetes.io/name: {{ include "observability.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{- define "observability.labels" -}}
helm.sh/chart: {{ include "observability.chart" .root }}
{{ include "observability.selectorLabels" . }}
app.kubernetes.io/version: {{ .root.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
app.kubernetes.io/part-of: commitlake
{{- end }}

{{/* Pod-level security context (Pod Security Standard "restricted"); `.sc` is the component's securityContext values. */}}
{{- define "observability.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: {{ .sc.runAsUser }}
runAsGroup: {{ .sc.runAsGroup }}
fsGroup: {{ .sc.fsGroup }}
fsGroupChangePolicy: OnRootMismatch
seccompProfile:
  type: RuntimeDefault
{{- end }}

{{- define "observability.containerSecurityContext" -}}
runAsNonRoot: true
runAsUser: {{ .sc.runAsUser }}
runAsGroup: {{ .sc.runAsGroup }}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
privileged: false
capabilities:
  drop: ["ALL"]
seccompProfile:
  type: RuntimeDefault
{{- end }}

{{/* Egress rule to the cluster DNS. */}}
{{- define "observability.dnsEgress" -}}
- to:
    - namespaceSelector:
        matchLabels:
          kubernetes.io/metadata.name: kube-system
      podSelector:
        matchLabels:
          k8s-app: kube-dns
  ports:
    - port: 53
      protocol: UDP
    - port: 53
      protocol: TCP
{{- end }}

{{- define "observability.lokiUrl" -}}
http://{{ include "observability.componentName" (dict "root" . "component" "loki") }}:{{ .Values.loki.service.port }}
{{- end }}

{{- define "observability.grafanaSecretName" -}}
{{- default (printf "%s-admin" (include "observability.componentName" (dict "root" . "component" "grafana"))) .Values.grafana.admin.existingSecret }}
{{- end }}

{{/* The API server endpoint (cidrs, ports): the parent's `global.kubeAPI` if set, else this chart's value. */}}
{{- define "observability.kubeAPI" -}}
{{- $api := (.Values.global).kubeAPI | default .Values.networkPolicy.kubeAPI }}
{{- if not $api.cidrs }}
{{- fail "networkPolicy.kubeAPI.cidrs is empty: set the API server's addresses (kubectl get endpoints kubernetes -n default)" }}
{{- end }}
{{- range $api.cidrs }}
{{- if not (regexMatch "^[0-9a-fA-F:.]+/[0-9]+$" (toString .)) }}
{{- fail (printf "%s: %q is not a CIDR" "networkPolicy.kubeAPI.cidrs" (toString .)) }}
{{- end }}
{{- if has . (list "0.0.0.0/0" "::/0") }}
{{- fail (printf "networkPolicy.kubeAPI.cidrs contains %s: name the API server's addresses (kubectl get endpoints kubernetes -n default), not everywhere" .) }}
{{- end }}
{{- end }}
{{- toYaml $api }}
{{- end }}
