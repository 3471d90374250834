"""The monitoring stack: Prometheus, Alertmanager, Grafana, node-exporter, cAdvisor."""

HOST_GATEWAY = "host.docker.internal:host-gateway"


def _wget_check(url):
    return {"test": ["CMD", "wget", "-q", "-O", "/dev/null", url], "interval": "10s", "timeout": "5s", "retries": 5}


STACK = {
    "slug": "monitoring",
    "stack": {
        "slug": "monitoring", "name": "Monitoring",
        "description": "Metrics and alerts: Prometheus, Alertmanager, Grafana, node-exporter, cAdvisor.",
        "alert_group_by": ["alertname", "job"], "alert_group_wait": "10s",
        "alert_group_interval": "1m", "alert_repeat_interval": "4h",
        "scrape_interval": "15s", "evaluation_interval": "15s",
    },
    # node-exporter and cAdvisor read the host's /, /proc, /sys and the Docker
    # socket's directory: that is their job. Consent is recorded for exactly
    # those options ("defaults"); anything added later needs an admin's.
    "host_consent": True,
    "networks": [{"key": "observability", "name": "observability"}],
    "volumes": [{"key": "prometheus_data"}, {"key": "grafana_data"}, {"key": "alertmanager_data"}],
    "services": [
        {
            "name": "prometheus", "role": "prometheus", "image": "prom/prometheus:v2.53.2",
            "command": [
                "--config.file=/etc/prometheus/prometheus.yml",
                "--storage.tsdb.path=/prometheus",
                # Reloads on rule changes without a restart. No admin API: it lets
                # anyone who reaches the port delete data.
                "--web.enable-lifecycle",
                # Links in alerts open at the URL the panel publishes the UI on.
                "--web.external-url=${public_url}",
            ],
            "ports": ["127.0.0.1:9090:9090"],
            "volumes": [
                "./prometheus/prometheus.yml:/etc/prometheus/prometheus.yml:ro",
                "./prometheus/rules:/etc/prometheus/rules:ro",
                "prometheus_data:/prometheus",
            ],
            "networks": ["observability"],
            "extra_hosts": [HOST_GATEWAY],
            "healthcheck": _wget_check("http://localhost:9090/-/ready"),
            "ui_name": "Prometheus", "ui_port": 9090, "ui_path": "/", "probe_path": "/-/healthy",
        },
        {
            "name": "alertmanager", "role": "alertmanager", "image": "prom/alertmanager:v0.27.0",
            "command": [
                "--config.file=/etc/alertmanager/alertmanager.yml",
                "--storage.path=/alertmanager",
                "--cluster.listen-address=",
                # Links in alerts open at the URL the panel publishes the UI on.
                "--web.external-url=${public_url}",
            ],
            "ports": ["127.0.0.1:9093:9093"],
            "volumes": [
                "./alertmanager/alertmanager.yml:/etc/alertmanager/alertmanager.yml:ro",
                "alertmanager_data:/alertmanager",
            ],
            "networks": ["observability"],
            "extra_hosts": [HOST_GATEWAY],
            "healthcheck": _wget_check("http://localhost:9093/-/ready"),
            "ui_name": "Alertmanager", "ui_port": 9093, "ui_path": "/", "probe_path": "/-/healthy",
        },
        {
            "name": "grafana", "role": "grafana", "image": "grafana/grafana:11.2.0",
            "environment": {
                "GF_SECURITY_ADMIN_PASSWORD": "${secret:grafana_admin_password}",
                "GF_USERS_ALLOW_SIGN_UP": "false",
            },
            "ports": ["127.0.0.1:3000:3000"],
            "volumes": [
                "grafana_data:/var/lib/grafana",
                "./grafana/provisioning:/etc/grafana/provisioning:ro",
                "./grafana/dashboards:/var/lib/grafana/dashboards:ro",
            ],
            "networks": ["observability"],
            "depends_on": {"prometheus": "service_started"},
            "ui_name": "Grafana", "ui_port": 3000, "ui_path": "/", "probe_path": "/api/health",
        },
        {
            "name": "node-exporter", "role": "node-exporter", "image": "prom/node-exporter:v1.8.2",
            "command": [
                "--path.procfs=/host/proc",
                "--path.sysfs=/host/sys",
                "--path.rootfs=/rootfs",
                # The tutorial's --collector.filesystem.ignored-mount-points was removed
                # from node-exporter; this is its replacement.
                "--collector.filesystem.mount-points-exclude=^/(sys|proc|dev|host|etc)($|/)",
            ],
            "volumes": ["/proc:/host/proc:ro", "/sys:/host/sys:ro", "/:/rootfs:ro"],
            "networks": ["observability"],
            "probe_path": "/metrics", "ui_port": 9100,
        },
        {
            "name": "cadvisor", "role": "cadvisor", "image": "gcr.io/cadvisor/cadvisor:v0.49.1",
            "ports": ["127.0.0.1:8088:8080"],
            "volumes": [
                "/:/rootfs:ro", "/var/run:/var/run:ro", "/sys:/sys:ro",
                "/var/lib/docker/:/var/lib/docker:ro", "/dev/disk/:/dev/disk:ro",
            ],
            "networks": ["observability"],
            "ui_name": "cAdvisor", "ui_port": 8080, "ui_path": "/", "probe_path": "/healthz",
        },
    ],
    "scrape_jobs": [
        {"job_name": "prometheus", "targets": ["localhost:9090"]},
        {"job_name": "alertmanager", "targets": ["alertmanager:9093"]},
        {"job_name": "node-exporter", "targets": ["node-exporter:9100"]},
        {"job_name": "cadvisor", "targets": ["cadvisor:8080"]},
        {"job_name": "app-services", "targets": ["web:3000", "api:3000"], "scrape_interval": "10s"},
        {"job_name": "control-panel", "targets": ["host.docker.internal:8000"], "panel_token": True},
    ],
    "alert_rules": [
        {
            "group": "docker-compose-alerts", "name": "HighCPUUsage",
            "expr": 'sum by (name) (rate(container_cpu_usage_seconds_total{name!=""}[5m])) * 100 > 80',
            "for_duration": "2m", "severity": "warning",
            "annotations": {"summary": "High CPU usage detected",
                            "description": "Container {{ $labels.name }} CPU usage is above 80% ({{ $value | printf \"%.0f\" }}%)"},
            "tests": [{"interval": "15s", "input_series": [
                {"series": 'container_cpu_usage_seconds_total{name="app_web_1"}', "values": "0+13.5x60"},
                {"series": 'container_cpu_usage_seconds_total{name="app_api_1"}', "values": "0+1.5x60"}],
                "alert_rule_test": [
                    {"eval_time": "10m", "alertname": "HighCPUUsage", "exp_alerts": [
                        {"exp_labels": {"severity": "warning", "name": "app_web_1"},
                         "exp_annotations": {"summary": "High CPU usage detected",
                                             "description": "Container app_web_1 CPU usage is above 80% (90%)"}}]}]}],
        },
        {
            "group": "docker-compose-alerts", "name": "HighMemoryUsage",
            # Containers without a limit report a limit of 0: leave them out instead of dividing by zero.
            "expr": '(container_memory_usage_bytes{name!=""} / (container_spec_memory_limit_bytes{name!=""} > 0)) * 100 > 80',
            "for_duration": "2m", "severity": "warning",
            "annotations": {"summary": "High memory usage detected",
                            "description": "Container {{ $labels.name }} memory usage is above 80% of its limit"},
            "tests": [{"interval": "15s", "input_series": [
                {"series": 'container_memory_usage_bytes{name="app_postgres_1"}', "values": "900x40"},
                {"series": 'container_spec_memory_limit_bytes{name="app_postgres_1"}', "values": "1000x40"},
                # No limit: reported as 0, left out rather than divided by.
                {"series": 'container_memory_usage_bytes{name="app_web_1"}', "values": "900x40"},
                {"series": 'container_spec_memory_limit_bytes{name="app_web_1"}', "values": "0x40"}],
                "alert_rule_test": [
                    {"eval_time": "1m", "alertname": "HighMemoryUsage", "exp_alerts": []},
                    {"eval_time": "5m", "alertname": "HighMemoryUsage", "exp_alerts": [
                        {"exp_labels": {"severity": "warning", "name": "app_postgres_1"},
                         "exp_annotations": {"summary": "High memory usage detected", "description":
                                             "Container app_postgres_1 memory usage is above 80% of its limit"}}]}]}],
        },
        {
            "group": "docker-compose-alerts", "name": "ServiceDown",
            "expr": "up == 0", "for_duration": "1m", "severity": "critical",
            "annotations": {"summary": "Service is down",
                            "description": "Target {{ $labels.instance }} of job {{ $labels.job }} is down"},
            "tests": [{"interval": "15s", "input_series": [
                {"series": 'up{job="node-exporter", instance="node-exporter:9100", stack="monitoring", '
                           'service="node-exporter"}', "values": "1 1 0x10"}],
                "alert_rule_test": [
                    {"eval_time": "45s", "alertname": "ServiceDown", "exp_alerts": []},
                    {"eval_time": "2m", "alertname": "ServiceDown", "exp_alerts": [
                        {"exp_labels": {"severity": "critical", "job": "node-exporter", "instance": "node-exporter:9100",
                                        "stack": "monitoring", "service": "node-exporter"},
                         "exp_annotations": {"summary": "Service is down",
                                             "description": "Target node-exporter:9100 of job node-exporter is down"}}]}]}],
        },
        {
            "group": "app-alerts", "name": "HighResponseTime",
            "expr": "histogram_quantile(0.95, sum by (le, job, instance) (rate(http_request_duration_seconds_bucket[5m]))) > 2",
            "for_duration": "5m", "severity": "warning",
            "annotations": {"summary": "Slow responses",
                            "description": "95th percentile response time of {{ $labels.instance }} is {{ $value }}s"},
        },
        {
            "group": "app-alerts", "name": "HighErrorRate",
            "expr": 'sum by (job, instance) (rate(http_requests_total{status_code=~"5.."}[5m])) / sum by (job, instance) (rate(http_requests_total[5m])) > 0.05',
            "for_duration": "5m", "severity": "warning",
            "annotations": {"summary": "Many failed requests",
                            "description": "More than 5% of requests to {{ $labels.instance }} fail"},
            "tests": [{"interval": "15s", "input_series": [
                {"series": 'http_requests_total{job="app-services", instance="api:3000", status_code="500"}',
                 "values": "0+10x60"},
                {"series": 'http_requests_total{job="app-services", instance="api:3000", status_code="200"}',
                 "values": "0+90x60"}],
                "alert_rule_test": [
                    {"eval_time": "10m", "alertname": "HighErrorRate", "exp_alerts": [
                        {"exp_labels": {"severity": "warning", "job": "app-services", "instance": "api:3000"},
                         "exp_annotations": {"summary": "Many failed requests",
                                             "description": "More than 5% of requests to api:3000 fail"}}]}]}],
        },
        {
            "group": "host-alerts", "name": "HostDiskSpaceLow",
            "expr": '(node_filesystem_avail_bytes{fstype!~"tmpfs|overlay"} / node_filesystem_size_bytes{fstype!~"tmpfs|overlay"}) * 100 < 10',
            "for_duration": "5m", "severity": "warning",
            "annotations": {"summary": "Disk space low",
                            "description": "{{ $labels.mountpoint }} on {{ $labels.instance }} has less than 10% free"},
            "tests": [{"interval": "1m", "input_series": [
                {"series": 'node_filesystem_avail_bytes{instance="node-exporter:9100", mountpoint="/", fstype="ext4"}',
                 "values": "5x10"},
                {"series": 'node_filesystem_size_bytes{instance="node-exporter:9100", mountpoint="/", fstype="ext4"}',
                 "values": "100x10"}],
                "alert_rule_test": [
                    {"eval_time": "3m", "alertname": "HostDiskSpaceLow", "exp_alerts": []},
                    {"eval_time": "6m", "alertname": "HostDiskSpaceLow", "exp_alerts": [
                        {"exp_labels": {"severity": "warning", "instance": "node-exporter:9100", "mountpoint": "/",
                                        "fstype": "ext4"},
                         "exp_annotations": {"summary": "Disk space low",
                                             "description": "/ on node-exporter:9100 has less than 10% free"}}]}]}],
        },
    ],
    "receivers": [{"name": "control-panel", "kind": "panel", "is_default": True}],
    "routes": [{"receiver": "control-panel", "matchers": ['severity="critical"'], "group_by": ["alertname", "instance"]}],
    "inhibit_rules": [{
        "source_matchers": ['severity="critical"'], "target_matchers": ['severity="warning"'],
        "equal": ["instance"],
    }],
    "datasources": [{"name": "Prometheus", "uid": "prometheus", "type": "prometheus",
                     "url": "http://prometheus:9090", "is_default": True}],
    "dashboards": [{
        "slug": "docker-compose", "title": "Docker Compose Monitoring",
        "model": {
            "tags": ["docker", "compose"], "timezone": "browser",
            "time": {"from": "now-1h", "to": "now"}, "refresh": "10s",
            "panels": [
                {"id": 1, "title": "HTTP requests per second", "type": "timeseries",
                 "datasource": {"type": "prometheus", "uid": "prometheus"},
                 "targets": [{"refId": "A", "expr": "sum by (instance, method) (rate(http_requests_total[5m]))",
                              "legendFormat": "{{instance}} {{method}}"}],
                 "gridPos": {"h": 8, "w": 12, "x": 0, "y": 0}},
                {"id": 2, "title": "Response time (p95)", "type": "timeseries",
                 "datasource": {"type": "prometheus", "uid": "prometheus"},
                 "targets": [{"refId": "A", "expr": "histogram_quantile(0.95, sum by (le) (rate(http_request_duration_seconds_bucket[5m])))",
                              "legendFormat": "p95"}],
                 "gridPos": {"h": 8, "w": 12, "x": 12, "y": 0}},
                {"id": 3, "title": "Container CPU", "type": "timeseries",
                 "datasource": {"type": "prometheus", "uid": "prometheus"},
                 "targets": [{"refId": "A", "expr": 'sum by (name) (rate(container_cpu_usage_seconds_total{name!=""}[5m]))',
                              "legendFormat": "{{name}}"}],
                 "gridPos": {"h": 8, "w": 12, "x": 0, "y": 8}},
                {"id": 4, "title": "Targets up", "type": "stat",
                 "datasource": {"type": "prometheus", "uid": "prometheus"},
                 "targets": [{"refId": "A", "expr": "sum(up)", "legendFormat": "up"}],
                 "gridPos": {"h": 8, "w": 12, "x": 12, "y": 8}},
            ],
        },
    }],
}
