"""The demo stack, also the tests' and benches' stack: Prometheus, Alertmanager and
node-exporter on the images built from Debian's binaries, deployable offline:
Prometheus scraping node-exporter, Alertmanager posting to the panel."""
from stacks.models import AlertRule, Network, Receiver, ScrapeJob, Service, Stack, Volume

PROM = "panel-local/prometheus:latest"
AM = "panel-local/alertmanager:latest"
NODE = "panel-local/node-exporter:latest"


def mini_monitoring(slug="mini", prom_port=19090, am_port=19093, panel_url_host="host.docker.internal",
                    replicated_exporter=False):
    stack = Stack.objects.create(slug=slug, name=slug, scrape_interval="2s", evaluation_interval="2s",
                                 alert_group_wait="1s", alert_group_interval="2s", alert_repeat_interval="1m")
    Network.objects.create(stack=stack, key="default")
    Volume.objects.create(stack=stack, key="prom_data")
    Service.objects.create(
        stack=stack, name="prometheus", role="prometheus", image=PROM, order=0,
        command=["--config.file=/etc/prometheus/prometheus.yml", "--storage.tsdb.path=/prometheus",
                 "--web.enable-lifecycle", "--web.external-url=${public_url}"],
        ports=[f"127.0.0.1:{prom_port}:9090"],
        volumes=["./prometheus/prometheus.yml:/etc/prometheus/prometheus.yml:ro",
                 "./prometheus/rules:/etc/prometheus/rules:ro", "prom_data:/prometheus"],
        extra_hosts=["host.docker.internal:host-gateway"],
        healthcheck={"test": ["CMD", "wget", "-q", "-O", "/dev/null", "http://localhost:9090/-/ready"],
                     "interval": "1s", "timeout": "2s", "retries": 30},
        depends_on={"node-exporter": "service_started"},
        ui_name="Prometheus", ui_port=9090, probe_path="/-/healthy", restart="no",
    )
    Service.objects.create(
        stack=stack, name="alertmanager", role="alertmanager", image=AM, order=1,
        command=["--config.file=/etc/alertmanager/alertmanager.yml", "--storage.path=/alertmanager",
                 "--cluster.listen-address=", "--web.external-url=${public_url}"],
        ports=[f"127.0.0.1:{am_port}:9093"],
        volumes=["./alertmanager/alertmanager.yml:/etc/alertmanager/alertmanager.yml:ro"],
        extra_hosts=["host.docker.internal:host-gateway"],
        ui_name="Alertmanager", ui_port=9093, probe_path="/-/healthy", restart="no",
    )
    Service.objects.create(stack=stack, name="node-exporter", role="node-exporter", image=NODE, order=2,
                           restart="no", ui_port=9100, probe_path="/metrics")
    ScrapeJob.objects.create(stack=stack, job_name="prometheus", targets=["localhost:9090"])
    ScrapeJob.objects.create(stack=stack, job_name="node", targets=["node-exporter:9100"])
    if replicated_exporter:  # scraped once per replica, through Compose's DNS
        Service.objects.create(stack=stack, name="exporter-pair", role="node-exporter", image=NODE, order=3,
                               restart="no", replicas=2)
        ScrapeJob.objects.create(stack=stack, job_name="pair", targets=["exporter-pair:9100"])
    AlertRule.objects.create(stack=stack, group="test", name="TargetDown", expr="up == 0", for_duration="2s",
                             severity="critical", annotations={"summary": "{{ $labels.job }} is down"},
                             # Fires by 1m whether the stack evaluates every 2s or every 15s (`load-demo`).
                             tests=[{"interval": "15s", "input_series": [
                                 {"series": 'up{job="node", instance="node-exporter:9100"}', "values": "1 0x6"}],
                                 "alert_rule_test": [{"eval_time": "1m", "alertname": "TargetDown", "exp_alerts": [
                                     {"exp_labels": {"severity": "critical", "job": "node",
                                                     "instance": "node-exporter:9100"},
                                      "exp_annotations": {"summary": "node is down"}}]}]}])
    Receiver.objects.create(stack=stack, name="control-panel", kind="panel", is_default=True)
    return stack
