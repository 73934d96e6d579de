{{/* Names, labels and the rendered config. */}}

{{- define "attestd.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "attestd.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else if contains (include "attestd.name" .) .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name (include "attestd.name" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "attestd.selectorLabels" -}}
app.kubernetes.io/name: {{ include "attestd.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "attestd.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{ include "attestd.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/component: node-attestation
{{- end -}}

{{- define "attestd.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "attestd.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "attestd.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}

{{/* Paths inside the containers: fixed, the config follows them. */}}
{{- define "attestd.socketDir" -}}/run/attestd{{- end -}}
{{- define "attestd.socketPath" -}}/run/attestd/attestd.sock{{- end -}}
{{- define "attestd.eventlogDir" -}}/run/attestd-eventlog{{- end -}}
{{- define "attestd.auditDir" -}}/var/lib/attestd{{- end -}}
{{- define "attestd.eventlogHost" -}}/sys/kernel/security/tpm0/binary_bios_measurements{{- end -}}

{{/* attestd.json: values.config deep-merged with what the chart owns. */}}
{{- define "attestd.config" -}}
{{- $cfg := deepCopy .Values.config -}}
{{- $tpm := get $cfg "tpm" | default dict -}}
{{- $_ := set $tpm "event_log" (printf "%s/binary_bios_measurements" (include "attestd.eventlogDir" .)) -}}
{{- $_ = set $cfg "tpm" $tpm -}}
{{- $api := get $cfg "api" | default dict -}}
{{- $_ = set $api "socket" (include "attestd.socketPath" .) -}}
{{- if .Values.metrics.enabled -}}
{{- $_ = set $api "metrics_listen" (printf "0.0.0.0:%d" (int .Values.metrics.port)) -}}
{{- else -}}
{{- $_ = unset $api "metrics_listen" -}}
{{- end -}}
{{- $_ = set $cfg "api" $api -}}
{{- $_ = set $cfg "policy" (dict "file" "/etc/attestd/policy.json") -}}
{{- $audit := get $cfg "audit" | default dict -}}
{{- $_ = set $audit "file" (printf "%s/audit.jsonl" (include "attestd.auditDir" .)) -}}
{{- $_ = set $cfg "audit" $audit -}}
{{- toPrettyJson $cfg -}}
{{- end -}}

{{- define "attestd.policy" -}}
{{- if .Values.policy.document -}}
{{- toPrettyJson .Values.policy.document -}}
{{- else -}}
{{- .Files.Get "files/policy-guest.json" -}}
{{- end -}}
{{- end -}}

{{/* Refuse combinations that cannot work, before anything is applied. */}}
{{- define "attestd.validate" -}}
{{- if and .Values.metrics.serviceMonitor.enabled (not .Values.metrics.enabled) -}}
{{- fail "metrics.serviceMonitor.enabled needs metrics.enabled=true (the daemon only listens for Prometheus when api.metrics_listen is set)" -}}
{{- end -}}
{{- if and (eq .Values.tpm.access "devicePlugin") (not .Values.tpm.devicePlugin.resource) -}}
{{- fail "tpm.access=devicePlugin needs tpm.devicePlugin.resource (the extended resource that maps to /dev/tpmrm0)" -}}
{{- end -}}
{{- end -}}

{{/* securityContext of every unprivileged attestd container. */}}
{{- define "attestd.containerSecurityContext" -}}
runAsUser: {{ int .Values.securityContext.runAsUser }}
runAsGroup: {{ int .Values.securityContext.runAsGroup }}
runAsNonRoot: true
privileged: false
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
capabilities:
  drop: ["ALL"]
seccompProfile:
  type: RuntimeDefault
{{- end -}}
