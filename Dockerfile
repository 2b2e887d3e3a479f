# One image for every batchyard service: `batchyard run <service>` (docs/deploy.md, ADR 0015).
# Not built by the project's tests (no Docker engine where they run); tests/unit/test_dockerfile.py checks
# what can be checked without one: the base, uv.lock, a non-root user, the entrypoint and every COPY source.

# -- build: the locked dependencies, then the project, into /app/.venv ------------------------------------
FROM python:3.11-slim AS build
# uv: the version ./task pins
RUN pip install --no-cache-dir uv==0.13.8
ENV UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=never \
    UV_PROJECT_ENVIRONMENT=/app/.venv
WORKDIR /app
# Dependencies first (from the lock, exactly): this layer is reused until uv.lock changes.
COPY pyproject.toml uv.lock README.md ./
RUN uv sync --frozen --no-dev --no-install-project
COPY libs ./libs
COPY services ./services
COPY cli ./cli
RUN uv sync --frozen --no-dev --no-editable

# -- run: the environment and the default config files, as an unprivileged user ----------------------------
FROM python:3.11-slim
RUN groupadd --system --gid 10001 batchyard \
 && useradd --system --uid 10001 --gid 10001 --home-dir /app --no-create-home --shell /usr/sbin/nologin batchyard
WORKDIR /app
COPY --from=build /app/.venv /app/.venv
# The settings' default paths are relative to /app (deploy/quota/demo.yaml, ...): the demo's files, which the
# chart replaces with its own (values: configFiles). No private key is copied.
COPY deploy/admission ./deploy/admission
COPY deploy/fleet ./deploy/fleet
COPY deploy/quota ./deploy/quota
COPY deploy/scheduler ./deploy/scheduler
ENV PATH=/app/.venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
USER 10001:10001
ENTRYPOINT ["batchyard"]
CMD ["--help"]
