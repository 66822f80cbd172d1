# syntax=docker/dockerfile:1
# The support agent service. Stages:
#   deps     the locked runtime dependencies in a virtualenv, hash-checked (and an extra's, with EXTRAS=evals)
#   build    the project as a wheel (not editable: the data its commands read is packaged inside it), installed
#            into a prefix of its own, so the runtime stage can take the project apart from its dependencies
#   runtime  a clean base, a non-root user, and two layers: the dependencies (they change with the lock), then the
#            project (it changes with the code), so a code change ships only the second one
# The base is pinned by digest, so a rebuild gets the same OS and Python until the pin is moved on purpose:
#   docker buildx imagetools inspect python:3.11-slim   (then update PYTHON_BASE)
# Podman: build with `--format docker`; its default OCI format has no HEALTHCHECK and drops it.
ARG PYTHON_BASE=python:3.11-slim@sha256:9c900dea9e8fb7e16277c179b555cc72d29a352dbc33cff48ad5a0412fd5bfc7

FROM ${PYTHON_BASE} AS deps
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PYTHONDONTWRITEBYTECODE=1
WORKDIR /src
# optional extras of the project, comma-separated; each has its own lock, docker/requirements-<extra>.txt
ARG EXTRAS=""
COPY docker/requirements*.txt docker/
RUN python -m venv /opt/support \
    && /opt/support/bin/pip install --no-deps --require-hashes -r docker/requirements.txt \
    && IFS=',' && for extra in $EXTRAS; do \
        /opt/support/bin/pip install --no-deps --require-hashes -r "docker/requirements-$extra.txt" || exit 1; \
    done

FROM deps AS build
COPY docker/build-requirements.txt docker/
RUN python -m venv /opt/build \
    && /opt/build/bin/pip install --no-deps --require-hashes -r docker/build-requirements.txt
# the whole context (.dockerignore keeps out tests, benchmarks and local state): a package or data folder added to
# pyproject.toml needs no second list here
COPY . .
RUN /opt/build/bin/pip wheel --no-deps --no-build-isolation --wheel-dir /wheels . \
    && /opt/support/bin/pip install --no-deps --prefix /opt/project /wheels/*.whl

FROM ${PYTHON_BASE} AS runtime
ENV PATH=/opt/support/bin:$PATH PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 \
    SUPPORT_ENV=production HOST=0.0.0.0 PORT=8000
RUN useradd --create-home --uid 10001 support \
    && mkdir -p /app/var && chown support:support /app/var
COPY --from=deps /opt/support /opt/support
COPY --from=build /opt/project /opt/support
WORKDIR /app
# the SQLite file when DATABASE_URL is not set: mount a named volume here, or it goes with the container
VOLUME ["/app/var"]
USER 10001:10001
EXPOSE 8000
HEALTHCHECK --interval=15s --timeout=3s --start-period=20s --retries=3 CMD ["python", "-m", "api.ops.healthcheck"]
# HOST and PORT say where to listen: HOST=:: listens on IPv6 and IPv4 alike
CMD ["support", "serve"]
