{{- define "faultline.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 50 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 50 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "faultline.labels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{- end -}}

{{/* faultline.selector: the labels that pick one role's pods; call with (dict "root" $ "role" $name). */}}
{{- define "faultline.selector" -}}
app.kubernetes.io/name: {{ .root.Chart.Name }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .role }}
{{- end -}}

{{- define "faultline.secretName" -}}
{{- .Values.secrets.existingSecret | default (printf "%s-secrets" (include "faultline.fullname" .)) -}}
{{- end -}}

{{/* faultline.roleEnabled: "true" when the role runs (analytics needs ClickHouse). */}}
{{- define "faultline.roleEnabled" -}}
{{- if and .cfg.enabled (or (ne .role "analytics") .root.Values.clickhouseURL) -}}true{{- end -}}
{{- end -}}
