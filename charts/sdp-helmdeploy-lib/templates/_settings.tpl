{{/*
Settings the three services must agree on (the config DB, the processing
namespace and release prefix, the log level) can be given once in the
umbrella chart under `global`; a value set there overrides the chart's own.
Each returns YAML, to be read back with fromYaml.
*/}}
{{- define "sdp-helmdeploy-lib.merged" -}}
{{- $ctx := index . 0 -}}
{{- $key := index . 1 -}}
{{- $own := deepCopy (index $ctx.Values $key | default dict) -}}
{{- $global := dict -}}
{{- if $ctx.Values.global -}}
{{- $global = deepCopy (index $ctx.Values.global $key | default dict) -}}
{{- end -}}
{{- toYaml (mergeOverwrite $own $global) -}}
{{- end -}}

{{- define "sdp-helmdeploy-lib.configDB" -}}
{{- include "sdp-helmdeploy-lib.merged" (list . "configDB") -}}
{{- end -}}

{{- define "sdp-helmdeploy-lib.helm" -}}
{{- include "sdp-helmdeploy-lib.merged" (list . "helm") -}}
{{- end -}}

{{- define "sdp-helmdeploy-lib.logLevel" -}}
{{- if and .Values.global .Values.global.logLevel -}}
{{- .Values.global.logLevel -}}
{{- else -}}
{{- .Values.logLevel | default "INFO" -}}
{{- end -}}
{{- end -}}

{{/* SDP_LOG_FORMAT: global.logFormat over the chart's own logFormat. */}}
{{- define "sdp-helmdeploy-lib.logFormat" -}}
{{- if and .Values.global .Values.global.logFormat -}}
{{- .Values.global.logFormat -}}
{{- else -}}
{{- .Values.logFormat | default "ska" -}}
{{- end -}}
{{- end -}}

{{/* Where the config DB's CA bundle is mounted. */}}
{{- define "sdp-helmdeploy-lib.tlsDir" -}}/etc/sdp-helmdeploy/config-db-tls{{- end -}}

{{/*
The SDP_* environment of the config DB and logging, which every service
reads. Credentials come from a Secret, never from values.
*/}}
{{- define "sdp-helmdeploy-lib.env" -}}
{{- $db := include "sdp-helmdeploy-lib.configDB" . | fromYaml -}}
{{- $tls := $db.tls | default dict -}}
{{- $protocol := $db.protocol | default (ternary "https" "http" (not (empty $tls.secretName))) -}}
- name: SDP_CONFIG_HOST
  value: {{ required "configDB.host is required" $db.host | quote }}
- name: SDP_CONFIG_PORT
  value: {{ $db.port | default 2379 | int | quote }}
- name: SDP_CONFIG_PROTOCOL
  value: {{ $protocol | quote }}
{{- with $db.prefix }}
- name: SDP_CONFIG_PREFIX
  value: {{ . | quote }}
{{- end }}
{{- if $tls.secretName }}
- name: SDP_CONFIG_CERT
  value: {{ printf "%s/%s" (include "sdp-helmdeploy-lib.tlsDir" .) ($tls.caKey | default "ca.crt") | quote }}
{{- end }}
{{- with $db.existingSecret }}
- name: SDP_CONFIG_USERNAME
  valueFrom:
    secretKeyRef:
      name: {{ . | quote }}
      key: {{ $db.usernameKey | default "username" | quote }}
- name: SDP_CONFIG_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ . | quote }}
      key: {{ $db.passwordKey | default "password" | quote }}
{{- end }}
- name: SDP_LOG_LEVEL
  value: {{ include "sdp-helmdeploy-lib.logLevel" . | quote }}
- name: SDP_LOG_FORMAT
  value: {{ include "sdp-helmdeploy-lib.logFormat" . | quote }}
- name: SDP_HTTP_ADDR
  value: {{ printf ":%d" (int .Values.httpPort) | quote }}
{{- /* Helm and client-go may want a home for caches: the root filesystem
is read-only, /tmp is an emptyDir. */}}
- name: HOME
  value: /tmp
{{- end -}}
