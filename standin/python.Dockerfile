# Stand-in for python:3.11-slim-bookworm: Debian's Python 3.11 with `python` and
# `pip` on PATH and pip allowed to install system-wide, as in the official image.
ARG DEBIAN=panel-standin/debian:bookworm
FROM ${DEBIAN}
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 python3-pip python3-venv \
 && rm -rf /var/lib/apt/lists/* \
 && rm -f /usr/lib/python3.11/EXTERNALLY-MANAGED \
 && ln -s /usr/bin/python3 /usr/local/bin/python \
 && printf '#!/bin/sh\nexec python3 -m pip "$@"\n' >/usr/local/bin/pip && chmod +x /usr/local/bin/pip
CMD ["python3"]
