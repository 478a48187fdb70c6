# The intmax-pipeline code location: a Dagster gRPC server for intmax_assets.definitions:defs. The
# same image runs the runs and steps the K8sRunLauncher / DockerRunLauncher start, and can run
# `intmax api`, `intmax worker` or `intmax db upgrade` by overriding the command.
# Build: docker build -t intmax-pipeline:<tag> .
# Settings come from the environment at run time (INTMAX_*, see .env.example); no secret is baked in.
FROM python:3.11-slim

# uv at the version that wrote uv.lock; from PyPI, like scripts/setup.sh installs it.
RUN pip install --no-cache-dir uv==0.13.9

ENV UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=never \
    PYTHONUNBUFFERED=1 \
    PATH="/app/.venv/bin:$PATH"

WORKDIR /app

# The locked dependencies first, from pyproject.toml and uv.lock only: this layer is rebuilt when the
# lock changes, not on every code change. --frozen installs exactly the lock (and fails if it is out
# of date with pyproject.toml); --no-dev leaves out pytest, ruff, playwright and the other dev tools.
COPY pyproject.toml uv.lock ./
RUN uv sync --frozen --no-dev --no-install-project

# Then the project itself (hatchling reads README.md for the package metadata).
COPY README.md alembic.ini workspace.yaml ./
COPY intmax_core ./intmax_core
COPY intmax_assets ./intmax_assets
COPY intmax_api ./intmax_api
COPY intmax_cli ./intmax_cli
COPY intmax_devnet ./intmax_devnet
RUN uv sync --frozen --no-dev

# An unprivileged user owns only what the processes write: DAGSTER_HOME (the launchers mount or pass
# the instance) and the data directory (the embedded SQLite fallback, logs).
RUN useradd --create-home --uid 10001 --user-group intmax \
    && mkdir -p /opt/dagster/dagster_home /var/lib/intmax \
    && chown intmax:intmax /opt/dagster/dagster_home /var/lib/intmax
ENV DAGSTER_HOME=/opt/dagster/dagster_home \
    INTMAX_DATA_DIR=/var/lib/intmax
USER intmax

EXPOSE 3030

CMD ["dagster", "api", "grpc", "-h", "0.0.0.0", "-p", "3030", "-m", "intmax_assets.definitions", "-a", "defs"]
