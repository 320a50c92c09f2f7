{{- define "mlflow.validate" -}}
{{- if not .Values.auth.existingSecret }}
{{- fail "auth.existingSecret is required: a Secret with MLFLOW_BACKEND_STORE_URI, AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (the commitlake chart creates one)" }}
{{- end }}
{{- if not (hasPrefix "s3://" .Values.artifacts.destination) }}
{{- fail (printf "artifacts.destination must be an s3:// URI, got %q" .Values.artifacts.destination) }}
{{- end }}
{{- end }}

{{/* Host headers MLflow accepts: the Service under every DNS form, and localhost for port-forward and kind. */}}
{{- define "mlflow.allowedHosts" -}}
{{- $svc := include "mlflow.fullname" . }}
{{- $hosts := list $svc (printf "%s:*" $svc) (printf "%s.%s*" $svc .Release.Namespace) "localhost" "localhost:*" "127.0.0.1" "127.0.0.1:*" }}
{{- join "," (concat $hosts .Values.server.extraAllowedHosts) }}
{{- end }}
