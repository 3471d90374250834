# The panel's image: web, worker and beat run from it.
FROM python:3.11-slim-bookworm
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
CMD ["gunicorn", "controlpanel.wsgi", "-b", "0.0.0.0:8000", "-w", "3", "--access-logfile", "-"]
