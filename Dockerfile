# syntax=docker/dockerfile:1
# The support agent service, in two stages:
#   build    the locked dependencies, hash-checked, in a layer of their own (rebuilt only when the lock changes),
#            then the project as a wheel (not editable; the seed store is packaged inside it)
#   runtime  that virtualenv on a clean base, run as a non-root user
# The base is pinned by digest, so a rebuild gets the same OS and Python until the pin is moved on purpose:
#   docker buildx imagetools inspect python:3.11-slim   (then update PYTHON_BASE)
ARG PYTHON_BASE=python:3.11-slim@sha256:9c900dea9e8fb7e16277c179b555cc72d29a352dbc33cff48ad5a0412fd5bfc7

FROM ${PYTHON_BASE} AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PYTHONDONTWRITEBYTECODE=1
WORKDIR /src
RUN python -m venv /opt/support
COPY docker/requirements.txt docker/build-requirements.txt docker/
RUN /opt/support/bin/pip install --no-deps --require-hashes -r docker/requirements.txt \
    && pip install --no-deps --require-hashes -r docker/build-requirements.txt
COPY pyproject.toml README.md ./
COPY agent agent
COPY tools tools
COPY policies policies
COPY api api
COPY fixtures fixtures
RUN pip wheel --no-deps --no-build-isolation --wheel-dir /wheels . \
    && /opt/support/bin/pip install --no-deps /wheels/*.whl

FROM ${PYTHON_BASE} AS runtime
ENV PATH=/opt/support/bin:$PATH PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 \
    SUPPORT_ENV=production PORT=8000
RUN useradd --create-home --uid 10001 support \
    && mkdir -p /app/var && chown support:support /app/var
COPY --from=build /opt/support /opt/support
WORKDIR /app
USER 10001:10001
EXPOSE 8000
HEALTHCHECK --interval=15s --timeout=3s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import os, sys, urllib.request; sys.exit(urllib.request.urlopen(f\"http://127.0.0.1:{os.environ.get('PORT', '8000')}/readyz\", timeout=2).status != 200)"]
CMD ["support", "serve", "--host", "0.0.0.0"]
