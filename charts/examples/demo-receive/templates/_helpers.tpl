{{/* A duration flag's value: a Go duration as it is, a number as seconds. */}}
{{- define "demo-receive.duration" -}}
{{- if kindIs "string" . -}}{{ . }}{{- else -}}{{ . }}s{{- end -}}
{{- end -}}
