{{/* Labels on every object; the cdk8s install has the first two (Helm's own are extra). */}}
{{- define "tandem.labels" -}}
app.kubernetes.io/name: tandem-operator
app.kubernetes.io/part-of: tandem
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}
