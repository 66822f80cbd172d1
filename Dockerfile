# The support agent service: slim, non-root, with a health check. SQLite in /app/var unless DATABASE_URL is set.
FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /app
COPY requirements.lock pyproject.toml README.md ./
COPY agent agent
COPY tools tools
COPY policies policies
COPY api api
COPY fixtures fixtures
# Runtime dependencies only, at the locked versions; installed in place so the seed data in /app/fixtures is
# found next to the packages.
RUN pip install -c requirements.lock -e . \
    && useradd --create-home --uid 10001 support \
    && mkdir var && chown support:support var
USER support
EXPOSE 8000
HEALTHCHECK --interval=15s --timeout=3s --start-period=20s --retries=3 \
    CMD python -c "import sys, urllib.request; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=2).status != 200)"
CMD ["support", "serve", "--host", "0.0.0.0", "--port", "8000"]
