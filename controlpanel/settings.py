"""Settings, read from the environment with defaults that work on a laptop."""
import importlib.util
import os
from datetime import timedelta
from pathlib import Path

import dj_database_url

BASE_DIR = Path(__file__).resolve().parent.parent


def env(name, default=""):
    return os.environ.get(name, default)


def env_bool(name, default=False):
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in ("1", "true", "yes", "on")


def env_list(name, default=""):
    return [item.strip() for item in env(name, default).split(",") if item.strip()]


def _local_secret_key():
    # A per-install key kept next to the database, so a fresh clone never runs
    # with a key published in the repository.
    path = BASE_DIR / "var" / "secret_key"
    if not path.exists():
        import secrets

        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_urlsafe(50))
    return path.read_text().strip()


def _private_dir(path):
    # The panel's own directories (var/, the stacks) hold secrets: owner only.
    # Containers still read their bind-mounted files, which they reach without
    # traversing these directories.
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    if path.stat().st_mode & 0o077:
        path.chmod(0o700)
    return path


_private_dir(BASE_DIR / "var")


SECRET_KEY = env("SECRET_KEY") or _local_secret_key()
DEBUG = env_bool("DEBUG", False)
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "localhost,127.0.0.1,[::1],testserver,host.docker.internal")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")

# django-ninja's Swagger UI (templates and static files, no CDN) for /api/v1/docs,
# found without importing the package: as an installed app it would load
# pydantic at every start-up, a tenth of a second of each `manage.py` command.
NINJA_DIR = Path(importlib.util.find_spec("ninja").origin).parent

INSTALLED_APPS = [
    # Admin modules are loaded with the URLs (controlpanel/urls.py), not at start-up:
    # management commands never use them.
    "django.contrib.admin.apps.SimpleAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django_htmx",
    "template_partials",
    "axes",
    "stacks",
]

MIDDLEWARE = [
    # First: X-Forwarded-* headers are dropped unless a trusted proxy sent them.
    "stacks.accounts.proxies.ProxyHeadersMiddleware",
    "django.middleware.security.SecurityMiddleware",
    # Before WhiteNoise, so that every response (static files too) carries the policy.
    "csp.middleware.CSPMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # Before anything reads the body (CSRF, uploads, views): 413 on its declared
    # size, and anonymous requests get only what a login form needs.
    "stacks.views.guards.RequestSizeMiddleware",
    "django.contrib.auth.middleware.LoginRequiredMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "stacks.accounts.audit.RequestMiddleware",
    # Last, as django-axes asks: it turns a locked-out login into its answer.
    "axes.middleware.AxesMiddleware",
]

# Login attempts are limited per user name and address together (django-axes):
# after AXES_FAILURE_LIMIT failures within the cool-off time, that user name from
# that address is told "try again later"; other users behind the same address
# (one office, one proxy) still log in.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_ENABLED = env_bool("AXES_ENABLED", True)
AXES_FAILURE_LIMIT = int(env("LOGIN_FAILURE_LIMIT", "5"))
AXES_COOLOFF_TIME = timedelta(minutes=int(env("LOGIN_COOLOFF_MINUTES", "15")))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
AXES_VERBOSE = False
# The same address the audit log records (stacks/accounts/proxies.py).
AXES_CLIENT_IP_CALLABLE = "stacks.accounts.proxies.client_address"

ROOT_URLCONF = env("ROOT_URLCONF", "controlpanel.urls")

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates", NINJA_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "stacks.views.context.panel",
            ],
        },
    },
]

WSGI_APPLICATION = "controlpanel.wsgi.application"

DATABASES = {
    "default": dj_database_url.parse(
        env("DATABASE_URL", f"sqlite:///{BASE_DIR / 'var' / 'db.sqlite3'}"),
        conn_max_age=int(env("DB_CONN_MAX_AGE", "60")),
    )
}
if DATABASES["default"]["ENGINE"].endswith("sqlite3"):
    # Celery workers and the web process share the file: wait for locks.
    DATABASES["default"].setdefault("OPTIONS", {})["timeout"] = 20
    DATABASES["default"]["CONN_MAX_AGE"] = 0

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "overview"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "var" / "static"
STATICFILES_DIRS = [BASE_DIR / "static", NINJA_DIR / "static"]
STATIC_ROOT.mkdir(parents=True, exist_ok=True)

# Proxies whose X-Forwarded-For / X-Forwarded-Proto are believed: addresses or
# CIDRs, comma-separated. Empty: the client is the TCP peer, whatever it claims.
PANEL_TRUSTED_PROXIES = env_list("PANEL_TRUSTED_PROXIES")

# Password reset needs mail: offered only when there is a mail server (EMAIL_HOST)
# or PANEL_PASSWORD_RESET=1 says the default one (localhost:25) delivers.
EMAIL_HOST = env("EMAIL_HOST", "localhost")
EMAIL_PORT = int(env("EMAIL_PORT", "25"))
EMAIL_HOST_USER = env("EMAIL_HOST_USER")
EMAIL_HOST_PASSWORD = env("EMAIL_HOST_PASSWORD")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
DEFAULT_FROM_EMAIL = env("DEFAULT_FROM_EMAIL", "webmaster@localhost")
PANEL_PASSWORD_RESET = env_bool("PANEL_PASSWORD_RESET", bool(env("EMAIL_HOST")))

# Content-Security-Policy on every response (django-csp; Django 6.0 has it built
# in as SECURE_CSP with the same directives). No inline script or style: scripts
# and styles come from static/ only; htmx's own indicator <style> is turned off
# in base.html (htmx-config) and its rules live in panel.css.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'"],
        "connect-src": ["'self'"],
        "font-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'none'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    },
}
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"

SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_HTTPONLY = False  # htmx reads the token from the page, not the cookie
X_FRAME_OPTIONS = "DENY"

# Behind a TLS-terminating proxy (which sets X-Forwarded-Proto, believed only
# from PANEL_TRUSTED_PROXIES): Secure cookies, HSTS, redirect to https. Alertmanager and Prometheus reach the webhook and
# /metrics directly over the Docker bridge, so those two are not redirected.
PANEL_HTTPS = env_bool("PANEL_HTTPS", False)
if PANEL_HTTPS:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = True
    SECURE_REDIRECT_EXEMPT = [r"^webhooks/", r"^metrics$"]
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = int(env("PANEL_HSTS_SECONDS", "31536000"))
    SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("PANEL_HSTS_SUBDOMAINS", True)
    SECURE_HSTS_PRELOAD = env_bool("PANEL_HSTS_PRELOAD", False)
    if not SECURE_HSTS_PRELOAD:
        # Asking browsers to preload the domain is its owner's decision, not ours.
        SILENCED_SYSTEM_CHECKS = ["security.W021"]

# Celery: Redis broker; progress and outcomes live in our own rows.
CELERY_BROKER_URL = env("REDIS_URL", "redis://127.0.0.1:6379/0")
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", False)
CELERY_TASK_DEFAULT_QUEUE = env("CELERY_TASK_DEFAULT_QUEUE", "celery")
CELERY_TASK_ROUTES = ("stacks.queues.route",)
# Imported by workers only (not by the web process): engine queues, control commands.
CELERY_IMPORTS = ("stacks.worker",)
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BEAT_SCHEDULE = {
    "poll-health": {"task": "stacks.tasks.poll_health", "schedule": float(env("HEALTH_POLL_SECONDS", "15"))},
    "end-acknowledgements": {"task": "stacks.tasks.end_resolved_acknowledgements",
                             "schedule": float(env("ACK_POLL_SECONDS", "5"))},
    # Git stacks: which are due is each one's own poll interval (GitSource.poll_seconds).
    "poll-git": {"task": "stacks.tasks.poll_git", "schedule": float(env("GIT_POLL_TICK_SECONDS", "15")),
                 "options": {"expires": 15}},
    "prune-alerts": {"task": "stacks.tasks.prune_alerts", "schedule": float(env("ALERT_PRUNE_SECONDS", "3600"))},
    # Which engine queues have a worker, for the overview; and new engines taken up
    # by the workers started without -Q. Stale ticks are dropped, not piled up.
    "served-queues": {"task": "stacks.tasks.refresh_served_queues",
                      "schedule": float(env("PANEL_WORKER_QUEUES_SECONDS", "5")), "options": {"expires": 10}},
    # Image updates: every image in use asked of its registry (a HEAD per tag).
    "image-updates": {"task": "stacks.tasks.check_image_updates",
                      "schedule": float(env("PANEL_UPDATE_CHECK_SECONDS", "3600")), "options": {"expires": 600}},
    "announce-engines": {"task": "stacks.tasks.announce_engines",
                         "schedule": float(env("PANEL_ENGINE_ANNOUNCE_SECONDS", "60")), "options": {"expires": 60}},
    # The panel's own events: the alert path, drift, unhealthy services, held
    # alerts (stacks.notifications), and the deliveries that are due.
    "watch-stacks": {"task": "stacks.tasks.watch_stacks", "options": {"expires": 60},
                     "schedule": float(env("PANEL_WATCH_SECONDS", "60"))},
    "deliver-events": {"task": "stacks.tasks.deliver_events", "options": {"expires": 30},
                       "schedule": float(env("PANEL_DELIVERY_SECONDS", "5"))},
}
# The panel's address as the team's forge reaches it: `stack git` prints the webhook URL under it.
PANEL_URL_FOR_FORGES = env("PANEL_URL_FOR_FORGES", "http://127.0.0.1:8000")
# A Git push webhook's body is refused (413) past this size.
GIT_WEBHOOK_MAX_BYTES = int(env("GIT_WEBHOOK_MAX_BYTES", str(1024 * 1024)))
# Resolved alerts older than this are pruned (stacks.alerting.retention).
ALERT_RETENTION_DAYS = int(env("ALERT_RETENTION_DAYS", "90"))

# Where rendered bundles are written. When the worker runs in a container this
# path must be mounted at the same absolute path inside and out (see README).
STACKS_DIR = _private_dir(Path(env("STACKS_DIR", str(BASE_DIR / "var" / "stacks"))))
# How containers of the stacks reach the panel (Alertmanager's webhook, the
# panel's own /metrics). host-gateway makes host.docker.internal work on Linux.
PANEL_URL_FOR_STACKS = env("PANEL_URL_FOR_STACKS", "http://host.docker.internal:8000")
# Host address that stack ports are published on unless a row says otherwise.
DEFAULT_PUBLISH_ADDRESS = env("DEFAULT_PUBLISH_ADDRESS", "127.0.0.1")
# Where the web process and the health poller reach ports the stacks publish.
STACKS_HOST = env("STACKS_HOST", "127.0.0.1")
# The host name browsers reach published stack ports on: Prometheus' and
# Alertmanager's --web.external-url (their generatorURL and silence links).
STACKS_PUBLIC_HOST = env("STACKS_PUBLIC_HOST", "localhost")
# The panel's own events (stacks.notifications). Beat watches every stack each
# PANEL_WATCH_SECONDS: the alert path (Prometheus' and Alertmanager's error
# counters, the heartbeat's age), drift per engine, unhealthy services, held alerts.
PANEL_WATCH_SECONDS = float(env("PANEL_WATCH_SECONDS", "60"))
# The heartbeat's route in each alertmanager.yml the panel renders; it counts as
# missing after PANEL_HEARTBEAT_STALE_SECONDS without one.
PANEL_HEARTBEAT_GROUP_INTERVAL = env("PANEL_HEARTBEAT_GROUP_INTERVAL", "30s")
PANEL_HEARTBEAT_REPEAT = env("PANEL_HEARTBEAT_REPEAT", "1m")
PANEL_HEARTBEAT_STALE_SECONDS = float(env("PANEL_HEARTBEAT_STALE_SECONDS", "180"))
# A service unhealthy longer than this is an event.
PANEL_UNHEALTHY_GRACE_SECONDS = float(env("PANEL_UNHEALTHY_GRACE_SECONDS", "120"))
# Alerts held during a deploy: released once the services have been healthy this
# long after the deploy, or at the latest after the grace.
PANEL_HOLD_SETTLE_SECONDS = float(env("PANEL_HOLD_SETTLE_SECONDS", "30"))
PANEL_HOLD_GRACE_SECONDS = float(env("PANEL_HOLD_GRACE_SECONDS", "900"))
# Deliveries that fail are retried with backoff (10 s, doubling, at most an
# hour apart), this many times before they are failed for good.
PANEL_DELIVERY_ATTEMPTS = int(env("PANEL_DELIVERY_ATTEMPTS", "8"))
# An acknowledgement silences its alert until it resolves, at most this long.
ACK_SILENCE_HOURS = int(env("ACK_SILENCE_HOURS", "168"))
# Request bodies: anonymous requests (the login form) get a few kilobytes, logged-in
# ones the import page's archive (20 MB) and its form; the webhook WEBHOOK_MAX_BYTES.
# Checked on Content-Length before the body is read (stacks.views.guards).
PANEL_ANONYMOUS_MAX_REQUEST_BYTES = int(env("PANEL_ANONYMOUS_MAX_REQUEST_BYTES", str(64 * 1024)))
PANEL_MAX_REQUEST_BYTES = int(env("PANEL_MAX_REQUEST_BYTES", str(21 * 1024 * 1024)))
# Form fields (a pasted Compose file: 1 MB at most) held in memory; uploads past
# 2.5 MB go to a temporary file, only for a logged-in user within the limit above.
DATA_UPLOAD_MAX_MEMORY_SIZE = 3 * 1024 * 1024
FILE_UPLOAD_MAX_MEMORY_SIZE = int(2.5 * 1024 * 1024)
WEBHOOK_MAX_BYTES = int(env("WEBHOOK_MAX_BYTES", str(5 * 1024 * 1024)))
WEBHOOK_MAX_ALERTS = int(env("WEBHOOK_MAX_ALERTS", "100000"))
DOCKER_TIMEOUT = int(env("DOCKER_TIMEOUT", "120"))
# Engine queues are `engine.NAME`; a prefix keeps separate runs (tests) apart on one broker.
PANEL_ENGINE_QUEUE_PREFIX = env("PANEL_ENGINE_QUEUE_PREFIX", "")
# Which engines have a worker: beat asks the workers every PANEL_WORKER_QUEUES_SECONDS;
# without beat, a page asks and trusts the answer PANEL_WORKER_QUEUES_TTL seconds.
PANEL_WORKER_QUEUES_SECONDS = float(env("PANEL_WORKER_QUEUES_SECONDS", "5"))
PANEL_WORKER_QUEUES_TTL = int(env("PANEL_WORKER_QUEUES_TTL", "10"))
# How Swarm stacks publish short-syntax ports: "ingress" (the routing mesh, as
# `docker stack deploy`) or "host" (on the node running the task).
PANEL_SWARM_PUBLISH_MODE = env("PANEL_SWARM_PUBLISH_MODE", "ingress")
# Graphs: how long CPU/memory samples are kept, and the Prometheus query timeout.
RESOURCE_SAMPLE_HOURS = float(env("RESOURCE_SAMPLE_HOURS", "6"))
PROMETHEUS_QUERY_TIMEOUT = float(env("PROMETHEUS_QUERY_TIMEOUT", "5"))

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    # No query string or password-reset token in the log (controlpanel/logredact.py).
    # A 403 in one line, without Django's traceback.
    "filters": {"redact_tokens": {"()": "controlpanel.logredact.RedactTokens"},
                "refusals_in_one_line": {"()": "controlpanel.logredact.RefusalsInOneLine"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "filters": ["redact_tokens"]}},
    "loggers": {"django.request": {"filters": ["refusals_in_one_line"]}},
    "root": {"handlers": ["console"], "level": env("LOG_LEVEL", "INFO")},
}

# Single sign-on (OpenID Connect, mozilla-django-oidc): on when PANEL_OIDC_ISSUER
# is set; the endpoints come from its discovery document. The local login stays
# (the break-glass admin). See stacks/accounts/oidc.py for the role map.
PANEL_OIDC_ISSUER = env("PANEL_OIDC_ISSUER")
OIDC_RP_CLIENT_ID = env("PANEL_OIDC_CLIENT_ID")
OIDC_RP_CLIENT_SECRET = env("PANEL_OIDC_CLIENT_SECRET")
OIDC_RP_SIGN_ALGO = env("PANEL_OIDC_SIGN_ALGO", "RS256")
OIDC_RP_SCOPES = env("PANEL_OIDC_SCOPES", "openid email profile")
OIDC_USE_PKCE = True
OIDC_VERIFY_SSL = env_bool("PANEL_OIDC_VERIFY_SSL", True)
PANEL_OIDC_GROUPS_CLAIM = env("PANEL_OIDC_GROUPS_CLAIM", "groups")
PANEL_OIDC_USERNAME_CLAIM = env("PANEL_OIDC_USERNAME_CLAIM", "preferred_username")
PANEL_OIDC_ROLE_MAP = env("PANEL_OIDC_ROLE_MAP")
LOGIN_REDIRECT_URL_FAILURE = "/accounts/login/?sso=failed"
if PANEL_OIDC_ISSUER:
    AUTHENTICATION_BACKENDS.append("stacks.accounts.oidc.PanelOIDCBackend")
