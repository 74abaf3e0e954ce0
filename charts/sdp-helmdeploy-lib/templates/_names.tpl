{{/*
Names and labels. A service chart installed on its own is named after its
release; inside the umbrella chart, <release>-<service>.
*/}}
{{- define "sdp-helmdeploy-lib.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "sdp-helmdeploy-lib.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "sdp-helmdeploy-lib.selectorLabels" -}}
app.kubernetes.io/name: {{ include "sdp-helmdeploy-lib.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "sdp-helmdeploy-lib.labels" -}}
{{- /* skaffold sets the tag as tag@sha256:digest; a label value may hold neither "@" nor ":" */ -}}
{{- $version := include "sdp-helmdeploy-lib.imageTag" . | splitList "@" | first -}}
{{- $version = regexReplaceAll "[^A-Za-z0-9._-]" $version "-" | trunc 63 | trimAll "-_." -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "sdp-helmdeploy-lib.selectorLabels" . }}
app.kubernetes.io/version: {{ $version | quote }}
app.kubernetes.io/component: {{ .Chart.Name }}
app.kubernetes.io/part-of: sdp-helmdeploy
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{- define "sdp-helmdeploy-lib.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "sdp-helmdeploy-lib.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "sdp-helmdeploy-lib.imageTag" -}}
{{- .Values.image.tag | default .Chart.AppVersion -}}
{{- end -}}

{{- define "sdp-helmdeploy-lib.image" -}}
{{- printf "%s:%s" .Values.image.repository (include "sdp-helmdeploy-lib.imageTag" .) -}}
{{- end -}}
