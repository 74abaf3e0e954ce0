{{- /*
The allowed cluster-scoped kinds, resolved: a list of {kind, group,
resource}. A name alone is looked up in the known table; an entry not in it
must give its group and resource.
*/ -}}
{{- define "release-manager.clusterKinds" -}}
{{- $known := dict
  "PersistentVolume" (dict "group" "" "resource" "persistentvolumes")
  "StorageClass" (dict "group" "storage.k8s.io" "resource" "storageclasses")
  "PriorityClass" (dict "group" "scheduling.k8s.io" "resource" "priorityclasses")
-}}
{{- $out := list -}}
{{- range .Values.allowedClusterKinds -}}
{{- if kindIs "string" . -}}
{{- $k := get $known . -}}
{{- if not $k -}}
{{- fail (printf "allowedClusterKinds: %s is not in the known table (%s); give it as {kind, group, resource}" . (keys $known | sortAlpha | join ", ")) -}}
{{- end -}}
{{- $out = append $out (dict "kind" . "group" $k.group "resource" $k.resource) -}}
{{- else -}}
{{- $out = append $out (dict "kind" .kind "group" (.group | default "") "resource" .resource) -}}
{{- end -}}
{{- end -}}
{{- toYaml (dict "kinds" $out) -}}
{{- end -}}

{{- /* SDP_ALLOWED_CLUSTER_KINDS: Kind (core group) or Kind.group, comma-separated. */ -}}
{{- define "release-manager.clusterKindsEnv" -}}
{{- $names := list -}}
{{- range (include "release-manager.clusterKinds" . | fromYaml).kinds -}}
{{- $names = append $names (ternary .kind (printf "%s.%s" .kind .group) (eq .group "")) -}}
{{- end -}}
{{- join "," $names -}}
{{- end -}}
