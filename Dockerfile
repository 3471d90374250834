# The panel's image: web, worker and beat run from it (and a worker for another
# engine: the same image with `celery -A controlpanel worker -Q engine.NAME`).
# BASE: any Debian bookworm image with python3 and pip as `python` and `pip`
# (a stand-in built with debootstrap where no registry is reachable).
ARG BASE=python:3.11-slim-bookworm
FROM ${BASE}
# promtool and amtool validate rendered files; docker-compose ships the Compose
# schema the validator reads.
RUN apt-get update \
 && apt-get install -y --no-install-recommends prometheus prometheus-alertmanager docker-compose \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY requirements.txt .
RUN pip install --no-cache-dir -r requirements.txt
COPY . .
RUN SECRET_KEY=build python manage.py collectstatic --noinput -v0
ENV PYTHONUNBUFFERED=1
EXPOSE 8000
# Threaded workers and the access log without query strings, as bin/serve: an open page holds one thread for its push stream.
CMD ["gunicorn", "controlpanel.wsgi", "-c", "controlpanel/gunicorn.conf.py", "-b", "0.0.0.0:8000", "-k", "gthread", "-w", "2", "--threads", "100", "--graceful-timeout", "5"]
