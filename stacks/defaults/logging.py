"""The logging stack: Elasticsearch, Kibana, Fluentd, and Logstash as the alternative."""

FLUENTD_DOCKERFILE = """\
FROM fluent/fluentd:v1.17-debian-1
USER root
RUN gem install fluent-plugin-elasticsearch --no-document --version '~> 5.4'
USER fluent
"""

STACK = {
    "slug": "logging",
    "stack": {"slug": "logging", "name": "Logging",
              "description": "Central logs: Fluentd into Elasticsearch, viewed in Kibana; Logstash as the alternative."},
    "networks": [{"key": "observability", "name": "observability", "external": True}],
    "volumes": [{"key": "elasticsearch_data"}],
    "services": [
        {
            "name": "elasticsearch", "role": "elasticsearch", "image": "elasticsearch:7.17.24",
            "environment": {"discovery.type": "single-node", "ES_JAVA_OPTS": "-Xms512m -Xmx512m",
                            "xpack.security.enabled": "false"},
            "ports": ["127.0.0.1:9200:9200"],
            "volumes": ["elasticsearch_data:/usr/share/elasticsearch/data"],
            "networks": ["observability"],
            "healthcheck": {"test": ["CMD-SHELL", "curl -fs http://localhost:9200/_cluster/health || exit 1"],
                            "interval": "10s", "timeout": "5s", "retries": 30},
            "ui_port": 9200, "probe_path": "/_cluster/health",
        },
        {
            "name": "kibana", "role": "kibana", "image": "kibana:7.17.24",
            "environment": {"ELASTICSEARCH_HOSTS": "http://elasticsearch:9200"},
            "ports": ["127.0.0.1:5601:5601"],
            "networks": ["observability"],
            "depends_on": {"elasticsearch": "service_healthy"},
            "ui_name": "Kibana", "ui_port": 5601, "ui_path": "/", "probe_path": "/api/status",
        },
        {
            "name": "fluentd", "role": "fluentd", "build_context": "./fluentd",
            "image": "panel/fluentd-elasticsearch:1.17",
            "ports": ["127.0.0.1:24224:24224", "127.0.0.1:24224:24224/udp"],
            "volumes": ["./fluentd/conf:/fluentd/etc:ro"],
            "networks": ["observability"],
            "depends_on": {"elasticsearch": "service_healthy"},
        },
        {
            "name": "logstash", "role": "logstash", "image": "logstash:7.17.24",
            "environment": {"LS_JAVA_OPTS": "-Xms256m -Xmx256m"},
            "ports": ["127.0.0.1:5000:5000", "127.0.0.1:12201:12201/udp"],
            "volumes": ["./logstash/pipeline:/usr/share/logstash/pipeline:ro"],
            "networks": ["observability"],
            "depends_on": {"elasticsearch": "service_healthy"},
        },
    ],
    "files": [{"path": "fluentd/Dockerfile", "content": FLUENTD_DOCKERFILE}],
    "log_routes": [
        {"tag_pattern": "app.**", "index": "app-logs"},
        {"tag_pattern": "db.**", "index": "db-logs"},
        {"tag_pattern": "cache.**", "index": "cache-logs"},
    ],
}
