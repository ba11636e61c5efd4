# syntax=docker/dockerfile:1
# The image runs `action-links` (worker, serve, migrate, links, answers): build the wheel in
# one stage, install only the wheel (and its dependencies) into a slim base in the next.

FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md actionlinks_*.py ./
COPY tokenstore tokenstore
COPY worker worker
COPY linkserver linkserver
COPY migrations migrations
RUN pip wheel --no-cache-dir --no-deps --wheel-dir /wheels .

FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
COPY --from=build /wheels /wheels
RUN pip install /wheels/*.whl \
    && rm -rf /wheels \
    && useradd --system --uid 10001 --user-group --no-create-home \
       --shell /usr/sbin/nologin actionlinks
# In a container both daemons listen on all interfaces; publish only the link server's port.
ENV ACTION_LINKS_LISTEN=0.0.0.0:8088 \
    ACTION_LINKS_WORKER_ADMIN_LISTEN=0.0.0.0:9189
EXPOSE 8088 9189
USER 10001:10001
WORKDIR /tmp
# Healthy when the link server (8088) or the worker's admin listener (9189) answers /healthz.
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request as r\nfor port in (8088, 9189):\n    try:\n        r.urlopen(f'http://127.0.0.1:{port}/healthz', timeout=3)\n        sys.exit(0)\n    except OSError:\n        pass\nsys.exit(1)"]
ENTRYPOINT ["action-links"]
CMD ["--help"]
