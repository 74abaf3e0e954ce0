{{/* The Service in front of the metrics and health port, for scraping. */}}
{{- define "sdp-helmdeploy-lib.service" -}}
apiVersion: v1
kind: Service
metadata:
  name: {{ include "sdp-helmdeploy-lib.fullname" . }}
  labels:
    {{- include "sdp-helmdeploy-lib.labels" . | nindent 4 }}
  {{- if .Values.metrics.annotations }}
  annotations:
    prometheus.io/scrape: "true"
    prometheus.io/port: {{ .Values.service.port | int | quote }}
    prometheus.io/path: /metrics
  {{- end }}
spec:
  type: ClusterIP
  selector:
    {{- include "sdp-helmdeploy-lib.selectorLabels" . | nindent 4 }}
  ports:
    - name: http-metrics
      port: {{ .Values.service.port | int }}
      targetPort: http-metrics
      protocol: TCP
{{- end -}}

{{/* The service's own ServiceAccount: each service has its own rights. */}}
{{- define "sdp-helmdeploy-lib.serviceAccount" -}}
{{- if .Values.serviceAccount.create -}}
apiVersion: v1
kind: ServiceAccount
metadata:
  name: {{ include "sdp-helmdeploy-lib.serviceAccountName" . }}
  labels:
    {{- include "sdp-helmdeploy-lib.labels" . | nindent 4 }}
  {{- with .Values.serviceAccount.annotations }}
  annotations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
{{- end -}}
{{- end -}}

{{/*
A ServiceMonitor for the Prometheus operator, rendered only when the
cluster serves its API: installing one elsewhere would fail.
*/}}
{{- define "sdp-helmdeploy-lib.serviceMonitor" -}}
{{- if and .Values.metrics.serviceMonitor.enabled (.Capabilities.APIVersions.Has "monitoring.coreos.com/v1/ServiceMonitor") -}}
apiVersion: monitoring.coreos.com/v1
kind: ServiceMonitor
metadata:
  name: {{ include "sdp-helmdeploy-lib.fullname" . }}
  labels:
    {{- include "sdp-helmdeploy-lib.labels" . | nindent 4 }}
    {{- with .Values.metrics.serviceMonitor.labels }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
spec:
  selector:
    matchLabels:
      {{- include "sdp-helmdeploy-lib.selectorLabels" . | nindent 6 }}
  namespaceSelector:
    matchNames:
      - {{ .Release.Namespace }}
  endpoints:
    - port: http-metrics
      path: /metrics
      interval: {{ .Values.metrics.serviceMonitor.interval | default "30s" }}
{{- end -}}
{{- end -}}

{{/*
With more than one replica, a voluntary disruption (a node drain) takes at
most one at a time, so a standby is left to take over the leadership.
*/}}
{{- define "sdp-helmdeploy-lib.podDisruptionBudget" -}}
{{- if gt (int .Values.replicas) 1 -}}
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata:
  name: {{ include "sdp-helmdeploy-lib.fullname" . }}
  labels:
    {{- include "sdp-helmdeploy-lib.labels" . | nindent 4 }}
spec:
  maxUnavailable: 1
  selector:
    matchLabels:
      {{- include "sdp-helmdeploy-lib.selectorLabels" . | nindent 6 }}
{{- end -}}
{{- end -}}
