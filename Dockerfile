# syntax=docker/dockerfile:1
# twinspace-live service image. Build: docker build -t twinspace-live .
# Run several behind a sticky proxy on one Redis: see docker-compose.yml.
#
# Two stages. `build` makes the sdist and the wheel with scripts/build-dist, as CI does: Node.js
# builds the widget, setup.py puts it and the pages into the wheel. The service stage installs
# that wheel and the locked runtime dependencies (requirements/runtime.txt, hash-checked), and
# nothing else: no source tree, no editable install, no Node.js.

# ---- build: dist/*.whl, with the built widget and the pages inside
FROM node:20-bookworm-slim AS build
# Debian bookworm's python3 is 3.11, as in the service stage (the wheel is pure Python).
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends python3 python3-venv \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
# The npm packages first, in a layer of their own that only package*.json invalidate; setup.py
# then finds node_modules newer than package-lock.json and only runs `npm run build`.
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY . .
RUN PYTHON=python3 bash scripts/build-dist

# ---- the service
FROM python:3.11-slim-bookworm
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
RUN useradd --system --uid 10001 --user-group --home-dir /app --no-create-home live
WORKDIR /app
# The wheel and the lock are mounted for this step only, so neither stays in a layer. pip
# compiles the installed modules (the service cannot write __pycache__ at run time).
RUN --mount=type=bind,from=build,source=/src/dist,target=/tmp/dist \
    --mount=type=bind,from=build,source=/src/requirements,target=/tmp/requirements \
    pip install --require-hashes -r /tmp/requirements/runtime.txt \
    && pip install --no-deps /tmp/dist/twinspace_live-*.whl \
    && pip check
USER 10001:10001
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=3s --start-period=15s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8080/healthz', timeout=2)"]
CMD ["twinspace-live", "serve", "--host", "0.0.0.0", "--port", "8080"]
