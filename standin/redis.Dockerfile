# Stand-in for redis:7-alpine: Debian's redis-server, listening on all addresses
# without persistence, in the foreground (as the official image's default).
ARG DEBIAN=panel-standin/debian:bookworm
FROM ${DEBIAN}
RUN apt-get update \
 && apt-get install -y --no-install-recommends redis-server \
 && rm -rf /var/lib/apt/lists/*
EXPOSE 6379
CMD ["redis-server", "--bind", "0.0.0.0", "--protected-mode", "no", "--save", "", "--appendonly", "no", "--dir", "/tmp"]
