{{/*
A restricted-profile pod spec body running `mc` against this store; `.script` is the shell to run. With
`.asRoot` the alias `store` holds the root credentials (the setup Job, the only consumer of them) and every
identity's keys are in ID_<n>_ACCESS / ID_<n>_SECRET; without it `store` is identity 0 and the root
credentials are not mounted at all.
*/}}
{{- define "objectstore.mcContainer" -}}
{{- $ := .root }}
{{- $secret := include "objectstore.secretName" $ }}
{{- $asRoot := .asRoot }}
- name: mc
  image: "{{ $.Values.setup.image.repository }}:{{ $.Values.setup.image.tag }}"
  imagePullPolicy: {{ $.Values.setup.image.pullPolicy }}
  command: ["/bin/sh", "-c"]
  args:
    - |
      set -eu
      # Wait for the server (up to 5 minutes), then run the task.
      i=0
      {{- if $asRoot }}
      until mc alias set store "http://{{ include "objectstore.fullname" $ }}:{{ $.Values.service.port }}" "$ACCESS_KEY" "$SECRET_KEY" >/dev/null 2>&1; do
      {{- else }}
      {{- /* A scoped identity may not list all buckets: no signature probe, wait on one of its own buckets. */}}
      mc alias set store "http://{{ include "objectstore.fullname" $ }}:{{ $.Values.service.port }}" "$ACCESS_KEY" "$SECRET_KEY" --api S3v4 --path on >/dev/null
      until mc ls store/{{ first (index $.Values.identities 0).buckets }} >/dev/null 2>&1; do
      {{- end }}
        i=$((i + 1)); [ "$i" -lt 60 ] || { echo "object store not reachable"; exit 1; }
        sleep 5
      done
      {{- .script | nindent 6 }}
  env:
    - name: MC_CONFIG_DIR
      value: /tmp/.mc
    {{- if $asRoot }}
    - name: ACCESS_KEY
      valueFrom:
        secretKeyRef:
          name: {{ $secret }}
          key: {{ $.Values.auth.accessKeyKey }}
    - name: SECRET_KEY
      valueFrom:
        secretKeyRef:
          name: {{ $secret }}
          key: {{ $.Values.auth.secretKeyKey }}
    {{- else }}
    {{- with index $.Values.identities 0 }}
    - name: ACCESS_KEY
      valueFrom:
        secretKeyRef:
          name: {{ .existingSecret }}
          key: {{ .accessKeyKey }}
    - name: SECRET_KEY
      valueFrom:
        secretKeyRef:
          name: {{ .existingSecret }}
          key: {{ .secretKeyKey }}
    {{- end }}
    {{- end }}
    {{- include "objectstore.identityEnv" $ | trim | nindent 4 }}
  resources:
    requests:
      cpu: 10m
      memory: 32Mi
    limits:
      cpu: 200m
      memory: 128Mi
  securityContext:
    {{- include "objectstore.containerSecurityContext" $ | nindent 4 }}
  volumeMounts:
    - name: tmp
      mountPath: /tmp
{{- end }}

{{/* Egress from an `mc` pod to the store's S3 port and DNS. */}}
{{- define "objectstore.mcEgress" -}}
- to:
    - podSelector:
        matchLabels:
          {{- include "objectstore.selectorLabels" . | nindent 10 }}
  ports:
    - port: s3
      protocol: TCP
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

{{/* The bucket-scoped IAM policy of one identity (`.buckets`): list and read/write objects, nothing else. */}}
{{- define "objectstore.policy" -}}
{{- $buckets := list }}
{{- $objects := list }}
{{- range .buckets }}
{{- $buckets = append $buckets (printf "arn:aws:s3:::%s" .) }}
{{- $objects = append $objects (printf "arn:aws:s3:::%s/*" .) }}
{{- end }}
{{- $bucketActions := list "s3:GetBucketLocation" "s3:ListBucket" "s3:ListBucketMultipartUploads" }}
{{- $objectActions := list "s3:GetObject" "s3:PutObject" "s3:DeleteObject" "s3:AbortMultipartUpload" "s3:ListMultipartUploadParts" }}
{{- dict "Version" "2012-10-17" "Statement" (list (dict "Effect" "Allow" "Action" $bucketActions "Resource" $buckets) (dict "Effect" "Allow" "Action" $objectActions "Resource" $objects)) | toJson }}
{{- end }}

{{/* Shell for the setup Job (alias `store` = root): one user and one policy per identity, idempotently. */}}
{{- define "objectstore.identitiesScript" -}}
{{- range $i, $id := .Values.identities }}
# identity {{ $id.name }}: {{ join ", " $id.buckets }}
printf '%s' '{{ include "objectstore.policy" $id }}' > /tmp/policy-{{ $id.name }}.json
mc admin policy create store commitlake-{{ $id.name }} /tmp/policy-{{ $id.name }}.json
mc admin user add store "$ID_{{ $i }}_ACCESS" "$ID_{{ $i }}_SECRET"
mc admin policy attach store commitlake-{{ $id.name }} --user "$ID_{{ $i }}_ACCESS" 2>/dev/null \
  || mc admin user info store "$ID_{{ $i }}_ACCESS" --json | grep -q '"commitlake-{{ $id.name }}"'
echo "identity {{ $id.name }} may use {{ join " " $id.buckets }} only"
{{- end }}
{{- end }}

{{/* Shell for `helm test` (no root credentials): each identity reaches its buckets and no other. */}}
{{- define "objectstore.identitiesTestScript" -}}
{{- range $i, $id := .Values.identities }}
mc alias set id{{ $i }} "http://{{ include "objectstore.fullname" $ }}:{{ $.Values.service.port }}" "$ID_{{ $i }}_ACCESS" "$ID_{{ $i }}_SECRET" --api S3v4 --path on >/dev/null
{{- range $id.buckets }}
echo probe | mc pipe id{{ $i }}/{{ . }}/.helm-test-{{ $id.name }} >/dev/null && mc rm id{{ $i }}/{{ . }}/.helm-test-{{ $id.name }} >/dev/null
echo "identity {{ $id.name }} writes {{ . }}"
{{- end }}
{{- range $.Values.buckets }}
{{- if not (has . $id.buckets) }}
if mc ls id{{ $i }}/{{ . }} >/dev/null 2>&1; then echo "identity {{ $id.name }} can list {{ . }}"; exit 1; fi
{{- end }}
{{- end }}
{{- end }}
{{- end }}

{{/* Env ID_<n>_ACCESS / ID_<n>_SECRET: every identity's keys, read from its own Secret. */}}
{{- define "objectstore.identityEnv" -}}
{{- range $i, $id := .Values.identities }}
- name: ID_{{ $i }}_ACCESS
  valueFrom:
    secretKeyRef:
      name: {{ $id.existingSecret }}
      key: {{ $id.accessKeyKey }}
- name: ID_{{ $i }}_SECRET
  valueFrom:
    secretKeyRef:
      name: {{ $id.existingSecret }}
      key: {{ $id.secretKeyKey }}
{{- end }}
{{- end }}

{{/*
SeaweedFS's equivalent of the MinIO policies: an -s3.config file whose identities may Read/Write/List/Tagging
their own buckets only (actions `<Action>:<bucket>`), written at start into the pod's /tmp (0600) from the
ID_<n>_* env. Keys with characters outside the base64 alphabet are refused rather than JSON-escaped.
*/}}
{{- define "objectstore.seaweedfsIdentities" -}}
umask 077
{{- range $i, $id := .Values.identities }}
case "$ID_{{ $i }}_ACCESS$ID_{{ $i }}_SECRET" in
  *[!A-Za-z0-9_+/=.-]*) echo "identity {{ $id.name }}: keys must be [A-Za-z0-9_+/=.-]" >&2; exit 1 ;;
esac
{{- end }}
cat > /tmp/s3-identities.json <<JSON
{"identities": [
{{- range $i, $id := .Values.identities }}
{{- $actions := list }}
{{- range $id.buckets }}
{{- $actions = concat $actions (list (printf "Read:%s" .) (printf "Write:%s" .) (printf "List:%s" .) (printf "Tagging:%s" .)) }}
{{- end }}
  {"name": "{{ $id.name }}", "credentials": [{"accessKey": "$ID_{{ $i }}_ACCESS", "secretKey": "$ID_{{ $i }}_SECRET"}], "actions": {{ toJson $actions }}}{{ if lt (add1 $i) (len $.Values.identities) }},{{ end }}
{{- end }}
]}
JSON
{{- end }}
