# syntax=docker/dockerfile:1
# twinspace-live service image. Build: docker build -t twinspace-live .
# Run several behind a sticky proxy on one Redis: see docker-compose.yml.

# ---- the JS widget (static/dist)
FROM node:20-bookworm-slim AS widget
WORKDIR /src
COPY package*.json ./
RUN if [ -f package-lock.json ]; then npm ci --no-audit --no-fund; \
    else npm install --no-audit --no-fund; fi
COPY . .
RUN npm run build

# ---- the service
FROM python:3.11-slim-bookworm
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
RUN useradd --system --uid 10001 --user-group --home-dir /app --no-create-home live
WORKDIR /app
# The source stays in /app (editable install) so the service finds static/ beside its packages.
COPY . .
COPY --from=widget /src/static/dist ./static/dist
RUN pip install --no-compile -e . && python -m compileall -q live rooms signaling
USER 10001:10001
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=3s --start-period=15s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8080/healthz', timeout=2)"]
CMD ["twinspace-live", "serve", "--host", "0.0.0.0", "--port", "8080"]
