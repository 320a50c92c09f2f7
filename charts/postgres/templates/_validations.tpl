{{/* Fail at render time, with a message that says how to fix the values. */}}
{{- define "postgres.validate" -}}
{{- if and .Values.auth.existingSecret (not .Values.auth.pipelinePasswordKey) }}
{{- fail "auth.pipelinePasswordKey must name the key of the pipeline password in auth.existingSecret" }}
{{- end }}
{{- if not (regexMatch "^[a-z_][a-z0-9_]*$" .Values.warehouse.database) }}
{{- fail (printf "warehouse.database %q must be a lower-case SQL identifier" .Values.warehouse.database) }}
{{- end }}
{{- if not (regexMatch "^[a-z_][a-z0-9_]*$" .Values.mlflow.database) }}
{{- fail (printf "mlflow.database %q must be a lower-case SQL identifier" .Values.mlflow.database) }}
{{- end }}
{{- end }}

{{/* Name of the Secret holding the passwords: the existing one, or the one this chart generates. */}}
{{- define "postgres.secretName" -}}
{{- default (printf "%s-auth" (include "postgres.fullname" .)) .Values.auth.existingSecret }}
{{- end }}
