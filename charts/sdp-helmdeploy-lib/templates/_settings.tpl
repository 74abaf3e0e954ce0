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

{{/* The API server the in-cluster client is pointed at: global.apiServer over the chart's own. */}}
{{- define "sdp-helmdeploy-lib.apiServer" -}}
{{- include "sdp-helmdeploy-lib.merged" (list . "apiServer") -}}
{{- end -}}

{{/*
"true" when the pod is to run in the node's network namespace:
global.hostNetwork turns it on for every service, else the chart's own.
*/}}
{{- define "sdp-helmdeploy-lib.hostNetwork" -}}
{{- if or .Values.hostNetwork (and .Values.global .Values.global.hostNetwork) -}}true{{- end -}}
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

{{/* Where the config DB's TLS Secret is mounted. */}}
{{- define "sdp-helmdeploy-lib.tlsDir" -}}/etc/sdp-helmdeploy/config-db-tls{{- end -}}

{{/*
The SDP_* environment of the config DB and logging, which every service
reads, and the API server's address when given. Credentials come from a
Secret, never from values.

TLS: the services take the client identity as one PEM file holding the
private key and its certificate (SDP_CONFIG_CERT, as the Python deployer
gave it), and the CA bundle apart (SDP_CONFIG_CA); a cert and a key in two
files cannot be given, hence identityKey rather than a certKey and keyKey.
*/}}
{{- define "sdp-helmdeploy-lib.env" -}}
{{- $db := include "sdp-helmdeploy-lib.configDB" . | fromYaml -}}
{{- $tls := $db.tls | default dict -}}
{{- $dir := include "sdp-helmdeploy-lib.tlsDir" . -}}
{{- $secure := or (not (empty $tls.secretName)) (not (empty $tls.insecureSkipVerify)) -}}
{{- $protocol := $db.protocol | default (ternary "https" "http" $secure) -}}
{{- if and $secure (eq $protocol "http") -}}
{{- fail "configDB.protocol is http but configDB.tls is set (secretName or insecureSkipVerify): the services would ignore it and talk to etcd in clear; set the protocol to https, or leave it empty" -}}
{{- end -}}
{{- if and (not $tls.secretName) $tls.identityKey -}}
{{- fail "configDB.tls.identityKey names a key of configDB.tls.secretName, which is empty" -}}
{{- end -}}
{{- if and $tls.secretName (not $tls.identityKey) (not $tls.caKey) -}}
{{- fail "configDB.tls.secretName is set but neither configDB.tls.caKey nor configDB.tls.identityKey names a file of it" -}}
{{- end -}}
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
{{- with $tls.identityKey }}
- name: SDP_CONFIG_CERT
  value: {{ printf "%s/%s" $dir . | quote }}
{{- end }}
{{- with $tls.caKey }}
- name: SDP_CONFIG_CA
  value: {{ printf "%s/%s" $dir . | quote }}
{{- end }}
{{- end }}
{{- if $tls.insecureSkipVerify }}
- name: SDP_CONFIG_INSECURE_SKIP_VERIFY
  value: "true"
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
{{- /* client-go's in-cluster config reads these two; set in the container,
they win over what the kubelet injects (the kubernetes Service's
ClusterIP), which nothing routes on a node without kube-proxy. */}}
{{- $api := include "sdp-helmdeploy-lib.apiServer" . | fromYaml }}
{{- with $api.host }}
- name: KUBERNETES_SERVICE_HOST
  value: {{ . | quote }}
{{- end }}
{{- with $api.port }}
- name: KUBERNETES_SERVICE_PORT
  value: {{ . | toString | quote }}
{{- end }}
{{- end -}}
