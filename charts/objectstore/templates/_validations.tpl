{{- define "objectstore.validate" -}}
{{- if not (has .Values.backend (list "minio" "seaweedfs")) }}
{{- fail (printf "backend must be minio or seaweedfs, got %q" .Values.backend) }}
{{- end }}
{{- if and (eq .Values.consoleService.type "NodePort") (ne .Values.backend "minio") }}
{{- fail "consoleService.type=NodePort needs backend=minio: SeaweedFS has no MinIO console" }}
{{- end }}
{{- $names := list }}
{{- range .Values.identities }}
{{- if has .name $names }}
{{- fail (printf "identities: %q is listed twice" .name) }}
{{- end }}
{{- $names = append $names .name }}
{{- range .buckets }}
{{- if not (has . $.Values.buckets) }}
{{- fail (printf "identities: bucket %q is not in buckets" .) }}
{{- end }}
{{- end }}
{{- end }}
{{- range .Values.buckets }}
{{- if not (regexMatch "^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$" .) }}
{{- fail (printf "bucket name %q is not a valid S3 bucket name" .) }}
{{- end }}
{{- end }}
{{- end }}

{{- define "objectstore.secretName" -}}
{{- default (printf "%s-auth" (include "objectstore.fullname" .)) .Values.auth.existingSecret }}
{{- end }}

{{/* The container port of the S3 API: MinIO 9000, SeaweedFS 8333 (Services and policies use the name `s3`). */}}
{{- define "objectstore.s3ContainerPort" -}}
{{- if eq .Values.backend "minio" }}9000{{ else }}8333{{ end }}
{{- end }}

{{- define "objectstore.consoleEnabled" -}}
{{- if and (eq .Values.backend "minio") .Values.minio.console.enabled }}true{{ end }}
{{- end }}
