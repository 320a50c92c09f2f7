{{/* In-cluster endpoints, derived like the subcharts derive their names (`<release>-<chart>`). */}}
{{- define "commitlake.postgresHost" -}}
{{- default (printf "%s-postgres" .Release.Name) .Values.endpoints.postgres }}
{{- end }}
{{- define "commitlake.objectStoreHost" -}}
{{- default (printf "%s-objectstore" .Release.Name) .Values.endpoints.objectStore }}
{{- end }}
{{- define "commitlake.mlflowHost" -}}
{{- default (printf "%s-mlflow" .Release.Name) .Values.endpoints.mlflow }}
{{- end }}
{{- define "commitlake.objectStoreUrl" -}}
http://{{ include "commitlake.objectStoreHost" . }}:9000
{{- end }}

{{/* Fail at render time, with a message that says how to fix the values. */}}
{{- define "commitlake.validate" -}}
{{- $mlflowS3 := tpl .Values.mlflow.artifacts.s3EndpointUrl . }}
{{- if and .Values.mlflow.enabled (ne $mlflowS3 (include "commitlake.objectStoreUrl" .)) }}
{{- fail (printf "mlflow.artifacts.s3EndpointUrl is %q but the object store is %q: point both (or endpoints.objectStore) at the same service" $mlflowS3 (include "commitlake.objectStoreUrl" .)) }}
{{- end }}
{{- if and .Values.secrets.create .Values.objectstore.enabled (ne .Values.objectstore.auth.existingSecret .Values.secrets.objectStore) }}
{{- fail "objectstore.auth.existingSecret must equal secrets.objectStore when secrets.create=true" }}
{{- end }}
{{- if and .Values.secrets.create .Values.postgres.enabled (ne .Values.postgres.auth.existingSecret .Values.secrets.postgres) }}
{{- fail "postgres.auth.existingSecret must equal secrets.postgres when secrets.create=true" }}
{{- end }}
{{- if and .Values.secrets.create .Values.mlflow.enabled (ne .Values.mlflow.auth.existingSecret .Values.secrets.mlflow) }}
{{- fail "mlflow.auth.existingSecret must equal secrets.mlflow when secrets.create=true" }}
{{- end }}
{{- $configKeys := (.Files.Get "files/config-env.yaml" | fromYaml).keys | default list }}
{{- range $key, $_ := .Values.pipeline.env }}
{{- if $configKeys }}
{{- if not (has $key $configKeys) }}
{{- fail (printf "pipeline.env.%s is read by no stage (the stages read: %s)" $key (join ", " $configKeys)) }}
{{- end }}
{{- end }}
{{- end }}
{{- if ne .Values.secrets.pipeline "commitlake-pipeline" }}
{{- fail "secrets.pipeline must stay commitlake-pipeline: the WorkflowTemplate references it by that name" }}
{{- end }}
{{- end }}
