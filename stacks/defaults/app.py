"""The application stack: instrumented web/api services, Postgres and Redis."""

PACKAGE_JSON = """\
{
  "name": "monitored-app",
  "private": true,
  "dependencies": {
    "express": "^4.19.2",
    "prom-client": "^15.1.3",
    "winston": "^3.13.0"
  }
}
"""

SERVER_JS = """\
const express = require('express');
const promClient = require('prom-client');
const winston = require('winston');

const app = express();
const register = promClient.register;
promClient.collectDefaultMetrics();

// Logs go to stdout, where the fluentd logging driver collects them.
const logger = winston.createLogger({
  level: 'info',
  format: winston.format.combine(winston.format.timestamp(), winston.format.json()),
  transports: [new winston.transports.Console()],
});

const httpRequestDuration = new promClient.Histogram({
  name: 'http_request_duration_seconds',
  help: 'Duration of HTTP requests in seconds',
  labelNames: ['method', 'route', 'status_code'],
});
const httpRequestTotal = new promClient.Counter({
  name: 'http_requests_total',
  help: 'Total number of HTTP requests',
  labelNames: ['method', 'route', 'status_code'],
});

app.use((req, res, next) => {
  const start = Date.now();
  res.on('finish', () => {
    const labels = { method: req.method, route: req.route?.path || req.path, status_code: res.statusCode };
    httpRequestDuration.observe(labels, (Date.now() - start) / 1000);
    httpRequestTotal.inc(labels);
    logger.info('HTTP Request', { method: req.method, url: req.url, status: res.statusCode });
  });
  next();
});

app.get('/', (req, res) => res.json({
  message: 'Monitored Application', service: process.env.SERVICE_NAME,
  timestamp: new Date().toISOString(), instance: process.env.HOSTNAME || 'unknown',
}));
app.get('/health', (req, res) => res.json({ status: 'healthy' }));
// register.metrics() returns a promise since prom-client 13.
app.get('/metrics', async (req, res) => {
  res.set('Content-Type', register.contentType);
  res.end(await register.metrics());
});
app.get('/slow', (req, res) => setTimeout(() => res.json({ message: 'Slow response' }), Math.random() * 2000));
app.get('/error', (req, res) => {
  if (Math.random() > 0.5) {
    logger.error('Simulated error occurred');
    res.status(500).json({ error: 'Internal Server Error' });
  } else {
    res.json({ message: 'Success' });
  }
});

app.listen(3000, '0.0.0.0', () => logger.info('Monitored application started on port 3000'));
"""

DOCKERFILE = """\
FROM node:20-alpine
WORKDIR /app
COPY package.json ./
RUN npm install --omit=dev
COPY server.js ./
USER node
EXPOSE 3000
CMD ["node", "server.js"]
"""


def _fluentd_logging(tag):
    return {
        "logging_driver": "fluentd",
        "logging_options": {
            # The logging driver runs in the Docker daemon, on the host: Fluentd's
            # published port. Async, so the app starts while Fluentd is down.
            "fluentd-address": "localhost:24224",
            "fluentd-async": "true",
            "tag": tag,
        },
    }


def _app_service(name, ports, replicas=1):
    return {
        "name": name, "role": "app", "build_context": "./app-with-metrics",
        "image": "panel/monitored-app:latest",
        "environment": {"SERVICE_NAME": name},
        "ports": ports, "replicas": replicas,
        "networks": ["default", "observability"],
        "depends_on": {"postgres": "service_healthy", "redis": "service_healthy"},
        "healthcheck": {"test": ["CMD", "wget", "-q", "-O", "/dev/null", "http://localhost:3000/health"],
                        "interval": "10s", "timeout": "5s", "retries": 3},
        "ui_name": f"App ({name})", "ui_port": 3000, "ui_path": "/", "probe_path": "/health",
        **_fluentd_logging(f"app.{name}"),
    }


STACK = {
    "slug": "app",
    "stack": {"slug": "app", "name": "Application",
              "description": "The team's instrumented web and api services with Postgres and Redis."},
    "networks": [{"key": "default"}, {"key": "observability", "name": "observability", "external": True}],
    "volumes": [{"key": "postgres_data"}],
    "services": [
        # Two replicas share a range of host ports: one port cannot be published twice.
        _app_service("web", ["127.0.0.1:8080-8081:3000"], replicas=2),
        _app_service("api", ["127.0.0.1:8082:3000"]),
        {
            "name": "postgres", "role": "database", "image": "postgres:16",
            "environment": {"POSTGRES_DB": "appdb", "POSTGRES_USER": "app",
                            "POSTGRES_PASSWORD": "${secret:app_postgres_password}"},
            "volumes": ["postgres_data:/var/lib/postgresql/data"],
            "networks": ["default"],
            "healthcheck": {"test": ["CMD-SHELL", "pg_isready -U app -d appdb"],
                            "interval": "5s", "timeout": "5s", "retries": 10},
            **_fluentd_logging("db.postgres"),
        },
        {
            "name": "redis", "role": "cache", "image": "redis:7-alpine",
            "networks": ["default"],
            "healthcheck": {"test": ["CMD", "redis-cli", "ping"], "interval": "5s", "timeout": "3s", "retries": 10},
            **_fluentd_logging("cache.redis"),
        },
    ],
    "files": [
        {"path": "app-with-metrics/package.json", "content": PACKAGE_JSON},
        {"path": "app-with-metrics/server.js", "content": SERVER_JS},
        {"path": "app-with-metrics/Dockerfile", "content": DOCKERFILE},
    ],
}
