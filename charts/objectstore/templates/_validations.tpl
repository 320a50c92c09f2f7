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
{{- $drives := mul (int .Values.replicas) (int .Values.drivesPerNode) }}
{{- if and (gt (int .Values.replicas) 1) (ne .Values.backend "minio") }}
{{- fail "replicas > 1 needs backend=minio (distributed mode); run SeaweedFS as one pod here" }}
{{- end }}
{{- if and (gt (int .Values.replicas) 1) (lt $drives 4) }}
{{- fail (printf "MinIO distributed mode needs at least 4 drives: replicas x drivesPerNode is %d" $drives) }}
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

{{/* MinIO distributed mode: more than one pod. */}}
{{- define "objectstore.distributed" -}}
{{- if gt (int .Values.replicas) 1 }}true{{ end }}
{{- end }}

{{/* Data volume names: `data` for one drive per pod, `data0`... for several. */}}
{{- define "objectstore.dataVolumes" -}}
{{- if gt (int .Values.drivesPerNode) 1 }}
{{- range $i := until (int .Values.drivesPerNode) }}data{{ $i }} {{ end }}
{{- else }}data{{ end }}
{{- end }}

{{/* The MinIO server's drive argument: /data, /data{0...n-1}, or every pod's drives by DNS name. */}}
{{- define "objectstore.minioVolumes" -}}
{{- $path := ternary (printf "/data{0...%d}" (sub (int .Values.drivesPerNode) 1)) "/data" (gt (int .Values.drivesPerNode) 1) }}
{{- if include "objectstore.distributed" . }}
{{- $name := include "objectstore.fullname" . }}
{{- printf "http://%s-{0...%d}.%s-hl.%s.svc.%s:9000%s" $name (sub (int .Values.replicas) 1) $name .Release.Namespace .Values.clusterDomain $path }}
{{- else }}
{{- $path }}
{{- end }}
{{- end }}
