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
{{- if and .Values.secrets.create .Values.objectstore.enabled .Values.objectstore.identities }}
{{- $consumers := list .Values.secrets.pipeline .Values.secrets.mlflow .Values.secrets.argo .Values.secrets.backups }}
{{- $named := list }}
{{- range .Values.objectstore.identities }}
{{- if not (has .existingSecret $consumers) }}
{{- fail (printf "objectstore.identities: %s names Secret %q, which this chart does not create (secrets.pipeline, secrets.mlflow, secrets.argo, secrets.backups)" .name .existingSecret) }}
{{- end }}
{{- if or (ne .accessKeyKey "AWS_ACCESS_KEY_ID") (ne .secretKeyKey "AWS_SECRET_ACCESS_KEY") }}
{{- fail (printf "objectstore.identities: %s must use the keys AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY" .name) }}
{{- end }}
{{- $named = append $named .existingSecret }}
{{- end }}
{{- range $consumers }}
{{- if not (has . $named) }}
{{- fail (printf "objectstore.identities has no identity for Secret %q: it would hold keys the store does not know" .) }}
{{- end }}
{{- end }}
{{- end }}
{{- if not .Values.global.kubeAPI.cidrs }}
{{- fail "global.kubeAPI.cidrs is empty: set the API server's addresses (kubectl get endpoints kubernetes -n default)" }}
{{- end }}
{{- range .Values.global.kubeAPI.cidrs }}
{{- if not (regexMatch "^[0-9a-fA-F:.]+/[0-9]+$" (toString .)) }}
{{- fail (printf "%s: %q is not a CIDR" "global.kubeAPI.cidrs" (toString .)) }}
{{- end }}
{{- if has . (list "0.0.0.0/0" "::/0") }}
{{- fail (printf "global.kubeAPI.cidrs contains %s: name the API server's addresses (kubectl get endpoints kubernetes -n default), not everywhere" .) }}
{{- end }}
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
