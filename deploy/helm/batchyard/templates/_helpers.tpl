{{/* The name of one service's objects: <release>-<service>. */}}
{{- define "batchyard.name" -}}
{{- printf "%s-%s" .root.Release.Name .service | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Labels every object carries. */}}
{{- define "batchyard.labels" -}}
app.kubernetes.io/name: batchyard
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/version: {{ .root.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .root.Chart.Name .root.Chart.Version }}
{{- if .service }}
app.kubernetes.io/component: {{ .service }}
{{- end }}
{{- end -}}

{{/* The labels that select one service's pods. */}}
{{- define "batchyard.selector" -}}
app.kubernetes.io/name: batchyard
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .service }}
{{- end -}}

{{/* Every service the chart knows, in a fixed order (`batchyard run <service>`). */}}
{{- define "batchyard.all" -}}
["admission", "quota", "scheduler", "node-repair", "cost-reporting", "kube-connector", "sim-fleet"]
{{- end -}}

{{/* The services switched on, as a YAML list (fromYamlArray); fails on a service the chart does not know. */}}
{{- define "batchyard.enabled" -}}
{{- $all := include "batchyard.all" . | fromYamlArray }}
{{- range $name, $_ := .Values.services }}
{{- if not (has $name $all) }}
{{- fail (printf "services.%s: no such service (known: %s)" $name (join ", " $all)) }}
{{- end }}
{{- end }}
{{- $on := list }}
{{- range $name := $all }}
{{- if (index $.Values.services $name | default dict).enabled }}
{{- $on = append $on $name }}
{{- end }}
{{- end }}
{{- toYaml $on }}
{{- end -}}

{{/* An egress rule: on .ports over TCP, to .cidrs (none: to any address). */}}
{{- define "batchyard.egress" -}}
- ports:
  {{- range .ports }}
    - {protocol: TCP, port: {{ . }}}
  {{- end }}
  {{- with .cidrs }}
  to:
    {{- range . }}
    - ipBlock: {cidr: {{ . | quote }}}
    {{- end }}
  {{- end }}
{{- end -}}
