{{/*
The scale-out knobs of the Hera-rendered WorkflowTemplate, applied as an overlay from values (workflowScale):
ingest fan-out parallelism (the DAG's `parallelism`), per-stage container resources, and topology spread of
the workflow pods over nodes. With nothing set the document is returned byte for byte, so the default profile
still includes the Hera output verbatim. The template's warehouse mutex is never touched.
Usage: include "commitlake.scaleWorkflow" (dict "doc" $text "root" .)
*/}}
{{- define "commitlake.scaleWorkflow" -}}
{{- $s := .root.Values.workflowScale | default dict }}
{{- if not (or $s.parallelism $s.resources $s.topologySpread) }}
{{- .doc }}
{{- else }}
{{- $wt := fromYaml .doc }}
{{- $known := list }}
{{- range $t := $wt.spec.templates }}
{{- $known = append $known $t.name }}
{{- if and $s.parallelism $t.dag }}
{{- $_ := set $t "parallelism" (int $s.parallelism) }}
{{- end }}
{{- with (get ($s.resources | default dict) $t.name) }}
{{- $_ := set $t.container "resources" (mergeOverwrite (deepCopy $t.container.resources) .) }}
{{- end }}
{{- end }}
{{- range $name, $_ := ($s.resources | default dict) }}
{{- if not (has $name $known) }}
{{- fail (printf "workflowScale.resources.%s: no such stage in the WorkflowTemplate (stages: %s)" $name (join ", " $known)) }}
{{- end }}
{{- end }}
{{- if $s.topologySpread }}
{{- $spread := dict "topologySpreadConstraints" (list (dict "maxSkew" 1 "topologyKey" "kubernetes.io/hostname" "whenUnsatisfiable" "ScheduleAnyway" "labelSelector" (dict "matchLabels" (dict "app.kubernetes.io/part-of" "commitlake" "app.kubernetes.io/component" "pipeline")))) }}
{{- $_ := set $wt.spec "podSpecPatch" (toJson $spread) }}
{{- end }}
{{- toYaml $wt }}
{{- end }}
{{- end }}
