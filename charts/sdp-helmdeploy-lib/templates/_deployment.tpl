{{/*
The Deployment of a service. Called with a dict:
  ctx           the chart's root context
  env           extra env entries of this service (list)
  args          extra arguments of this service (list)
  graceSeconds  default terminationGracePeriodSeconds
The container runs the image's entrypoint (the service binary) with args
only, under a restricted securityContext.
*/}}
{{- define "sdp-helmdeploy-lib.deployment" -}}
{{- $ctx := .ctx -}}
{{- $db := include "sdp-helmdeploy-lib.configDB" $ctx | fromYaml -}}
{{- $tls := $db.tls | default dict -}}
{{- $replicas := int $ctx.Values.replicas -}}
{{- $elect := $ctx.Values.leaderElection.enabled -}}
{{- $hostNetwork := eq (include "sdp-helmdeploy-lib.hostNetwork" $ctx) "true" -}}
{{- if and (gt $replicas 1) (not $elect) -}}
{{- fail "replicas > 1 needs leaderElection.enabled: only the elected replica may act" -}}
{{- end -}}
{{- range $ctx.Values.extraVolumes -}}
{{- if has .name (list "tmp" "config-db-tls") -}}
{{- fail (printf "extraVolumes: the name %q is the chart's own volume; give yours another" .name) -}}
{{- end -}}
{{- end -}}
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ include "sdp-helmdeploy-lib.fullname" $ctx }}
  labels:
    {{- include "sdp-helmdeploy-lib.labels" $ctx | nindent 4 }}
spec:
  replicas: {{ $replicas }}
  revisionHistoryLimit: 3
  {{- if $hostNetwork }}
  # On the node's network the new pod's port is taken until the old pod is
  # gone (the scheduler will not place it beside), so a surge would wait
  # for ever on a node of its own: the old pod goes first.
  strategy:
    type: RollingUpdate
    rollingUpdate:
      maxSurge: 0
      maxUnavailable: 1
  {{- end }}
  selector:
    matchLabels:
      {{- include "sdp-helmdeploy-lib.selectorLabels" $ctx | nindent 6 }}
  template:
    metadata:
      labels:
        {{- include "sdp-helmdeploy-lib.labels" $ctx | nindent 8 }}
        {{- with $ctx.Values.podLabels }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
      annotations:
        {{- if $ctx.Values.metrics.annotations }}
        prometheus.io/scrape: "true"
        prometheus.io/port: {{ $ctx.Values.httpPort | int | quote }}
        prometheus.io/path: /metrics
        {{- end }}
        {{- with $ctx.Values.podAnnotations }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
    spec:
      serviceAccountName: {{ include "sdp-helmdeploy-lib.serviceAccountName" $ctx }}
      automountServiceAccountToken: true
      enableServiceLinks: false
      {{- if $hostNetwork }}
      hostNetwork: true
      # With hostNetwork, ClusterFirst falls back to the node's resolv.conf;
      # this keeps cluster names resolving where a cluster DNS runs.
      dnsPolicy: ClusterFirstWithHostNet
      {{- end }}
      terminationGracePeriodSeconds: {{ $ctx.Values.terminationGracePeriodSeconds | default .graceSeconds | default 30 | int }}
      {{- with $ctx.Values.imagePullSecrets }}
      imagePullSecrets:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      securityContext:
        {{- toYaml $ctx.Values.podSecurityContext | nindent 8 }}
      containers:
        - name: {{ $ctx.Chart.Name }}
          image: {{ include "sdp-helmdeploy-lib.image" $ctx | quote }}
          imagePullPolicy: {{ $ctx.Values.image.pullPolicy }}
          args:
            - {{ printf "--leader-elect=%t" $elect | quote }}
            {{- range .args }}
            - {{ . | quote }}
            {{- end }}
            {{- range $ctx.Values.extraArgs }}
            - {{ . | quote }}
            {{- end }}
          env:
            {{- include "sdp-helmdeploy-lib.env" $ctx | nindent 12 }}
            {{- with .env }}
            {{- toYaml . | nindent 12 }}
            {{- end }}
            {{- with $ctx.Values.extraEnv }}
            {{- toYaml . | nindent 12 }}
            {{- end }}
          ports:
            - name: http-metrics
              containerPort: {{ $ctx.Values.httpPort | int }}
              protocol: TCP
          startupProbe:
            httpGet:
              path: /healthz
              port: http-metrics
            periodSeconds: 2
            failureThreshold: 30
          livenessProbe:
            httpGet:
              path: /healthz
              port: http-metrics
            periodSeconds: 10
            timeoutSeconds: 3
            failureThreshold: 3
          readinessProbe:
            httpGet:
              path: /readyz
              port: http-metrics
            periodSeconds: 5
            timeoutSeconds: 3
            failureThreshold: 3
          resources:
            {{- toYaml $ctx.Values.resources | nindent 12 }}
          securityContext:
            {{- toYaml $ctx.Values.securityContext | nindent 12 }}
          volumeMounts:
            - name: tmp
              mountPath: /tmp
            {{- if $tls.secretName }}
            - name: config-db-tls
              mountPath: {{ include "sdp-helmdeploy-lib.tlsDir" $ctx }}
              readOnly: true
            {{- end }}
            {{- with $ctx.Values.extraVolumeMounts }}
            {{- toYaml . | nindent 12 }}
            {{- end }}
      volumes:
        - name: tmp
          emptyDir:
            sizeLimit: {{ $ctx.Values.tmpSizeLimit | default "256Mi" }}
        {{- if $tls.secretName }}
        - name: config-db-tls
          secret:
            secretName: {{ $tls.secretName }}
        {{- end }}
        {{- with $ctx.Values.extraVolumes }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
      {{- with $ctx.Values.nodeSelector }}
      nodeSelector:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with $ctx.Values.affinity }}
      affinity:
        {{- toYaml . | nindent 8 }}
      {{- else }}
      {{- if and (gt $replicas 1) $hostNetwork }}
      # On the node's network two replicas cannot share a node (the same
      # port, in one network namespace): required, so that a replica with
      # no node of its own stays Pending for that plain reason rather than
      # for a port conflict.
      affinity:
        podAntiAffinity:
          requiredDuringSchedulingIgnoredDuringExecution:
            - topologyKey: kubernetes.io/hostname
              labelSelector:
                matchLabels:
                  {{- include "sdp-helmdeploy-lib.selectorLabels" $ctx | nindent 18 }}
      {{- else if gt $replicas 1 }}
      # Replicas on different nodes where possible: a standby on the
      # leader's node goes down with it.
      affinity:
        podAntiAffinity:
          preferredDuringSchedulingIgnoredDuringExecution:
            - weight: 100
              podAffinityTerm:
                topologyKey: kubernetes.io/hostname
                labelSelector:
                  matchLabels:
                    {{- include "sdp-helmdeploy-lib.selectorLabels" $ctx | nindent 20 }}
      {{- end }}
      {{- end }}
      {{- with $ctx.Values.tolerations }}
      tolerations:
        {{- toYaml . | nindent 8 }}
      {{- end }}
{{- end -}}
