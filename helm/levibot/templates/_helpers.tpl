{{/*
Chart name, truncated to 63 characters (the DNS label limit).
*/}}
{{- define "levibot.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Fully qualified app name: the release name, prefixed to the chart name unless it
already contains it. Kept at most 45 characters so that "<fullname>-health-aggregator"
(the longest component name) still fits in 63.
*/}}
{{- define "levibot.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 45 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 45 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 45 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{/*
Chart name and version, for the helm.sh/chart label.
*/}}
{{- define "levibot.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Labels common to every object of the release.
*/}}
{{- define "levibot.labels" -}}
helm.sh/chart: {{ include "levibot.chart" . }}
app.kubernetes.io/name: {{ include "levibot.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: levibot
{{- end }}

{{/*
Per-service names and labels. Called with a list: (list $ "backend").
*/}}
{{- define "levibot.componentName" -}}
{{- $root := index . 0 -}}
{{- $name := index . 1 -}}
{{- printf "%s-%s" (include "levibot.fullname" $root) $name | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "levibot.selectorLabels" -}}
{{- $root := index . 0 -}}
{{- $name := index . 1 -}}
app.kubernetes.io/name: {{ include "levibot.name" $root }}
app.kubernetes.io/instance: {{ $root.Release.Name }}
app.kubernetes.io/component: {{ $name }}
{{- end }}

{{- define "levibot.componentLabels" -}}
{{- $root := index . 0 -}}
{{- $name := index . 1 -}}
{{ include "levibot.labels" $root }}
app.kubernetes.io/component: {{ $name }}
{{- end }}

{{/*
Image of one service: <image.repository>-<service>:<image.tag | appVersion>, unless
services.<name>.image overrides the repository and/or the tag.
Called with (list $ "backend" $svc).
*/}}
{{- define "levibot.image" -}}
{{- $root := index . 0 -}}
{{- $name := index . 1 -}}
{{- $svc := index . 2 -}}
{{- $repository := dig "image" "repository" "" $svc | default (printf "%s-%s" $root.Values.image.repository $name) -}}
{{- $tag := dig "image" "tag" "" $svc | default $root.Values.image.tag | default $root.Chart.AppVersion -}}
{{- printf "%s:%s" $repository (toString $tag) }}
{{- end }}

{{/*
Name of the ConfigMap holding levibot.yaml.
*/}}
{{- define "levibot.configMapName" -}}
{{- printf "%s-config" (include "levibot.fullname" .) }}
{{- end }}

{{/*
Whether the chart creates its own Secret: credentials given and no existingSecret.
Renders "true" or nothing.
*/}}
{{- define "levibot.createSecret" -}}
{{- if and (not .Values.existingSecret) (or .Values.exchange.apiKey .Values.exchange.apiSecret) -}}
true
{{- end -}}
{{- end }}

{{/*
Name of the Secret the pods take environment variables from, or nothing when there is
none (paper trading without any secret).
*/}}
{{- define "levibot.secretName" -}}
{{- if .Values.existingSecret -}}
{{- .Values.existingSecret -}}
{{- else if include "levibot.createSecret" . -}}
{{- printf "%s-secrets" (include "levibot.fullname" .) -}}
{{- end -}}
{{- end }}

{{/*
The fleet configuration (levibot.yaml) as YAML: values.config, with the parts the chart
owns filled in and taking precedence:
  services.<snake_name>  grpc_listen / metrics_listen on 0.0.0.0 and the service's ports,
                         grpc_url = http://<Service name>:<grpcPort>
  gateway.listen         0.0.0.0:<services.backend.httpPort>, if set
  store.database_url     postgres.url, if set
  bus.redis_url          redis.url, if set
Every service gets an entry, enabled or not, so grpc_url is right for all of them.
*/}}
{{- define "levibot.config" -}}
{{- $config := deepCopy (.Values.config | default dict) -}}
{{- with $config.exchange -}}
{{- if or .api_key .api_secret -}}
{{- fail "config.exchange.api_key / api_secret would end up in a ConfigMap: use existingSecret (or exchange.apiKey / exchange.apiSecret) instead" -}}
{{- end -}}
{{- end -}}
{{- $services := dict -}}
{{- range $name, $svc := .Values.services -}}
{{- $url := printf "http://%s:%v" (include "levibot.componentName" (list $ $name)) $svc.grpcPort -}}
{{- $endpoint := dict "grpc_listen" (printf "0.0.0.0:%v" $svc.grpcPort) "metrics_listen" (printf "0.0.0.0:%v" $svc.metricsPort) "grpc_url" $url -}}
{{- $_ := set $services ($name | replace "-" "_") $endpoint -}}
{{- end -}}
{{- $owned := dict "services" $services -}}
{{- with (get .Values.services "backend") -}}
{{- if .httpPort -}}
{{- $_ := set $owned "gateway" (dict "listen" (printf "0.0.0.0:%v" .httpPort)) -}}
{{- end -}}
{{- end -}}
{{- if .Values.postgres.url -}}
{{- $_ := set $owned "store" (dict "database_url" .Values.postgres.url) -}}
{{- end -}}
{{- if .Values.redis.url -}}
{{- $_ := set $owned "bus" (dict "redis_url" .Values.redis.url) -}}
{{- end -}}
{{- toYaml (mergeOverwrite $config $owned) }}
{{- end }}
