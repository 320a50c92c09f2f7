{{/* A restricted-profile pod spec body running `mc` against this store; `.script` is the shell to run. */}}
{{- define "objectstore.mcContainer" -}}
{{- $ := .root }}
{{- $secret := include "objectstore.secretName" $ }}
- name: mc
  image: "{{ $.Values.setup.image.repository }}:{{ $.Values.setup.image.tag }}"
  imagePullPolicy: {{ $.Values.setup.image.pullPolicy }}
  command: ["/bin/sh", "-c"]
  args:
    - |
      set -eu
      # Wait for the server (up to 5 minutes), then run the task.
      i=0
      until mc alias set store "http://{{ include "objectstore.fullname" $ }}:{{ $.Values.service.port }}" "$ACCESS_KEY" "$SECRET_KEY" >/dev/null 2>&1; do
        i=$((i + 1)); [ "$i" -lt 60 ] || { echo "object store not reachable"; exit 1; }
        sleep 5
      done
      {{- .script | nindent 6 }}
  env:
    - name: MC_CONFIG_DIR
      value: /tmp/.mc
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
