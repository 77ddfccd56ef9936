# The producer container: `tickpipe produce` (infra/producer.tf sets the command and TICKPIPE_*).
# Build from the repository root, for the task's CPU (var.producer_cpu_architecture):
#   docker buildx build --platform linux/amd64 -f infra/producer.Dockerfile -t tickpipe-producer:1.0 .
FROM python:3.12-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /app

# Only what the package needs (pyproject.toml [tool.setuptools.packages.find]); README.m[d] may be absent.
COPY pyproject.toml README.m[d] ./
COPY market ./market
COPY fyers ./fyers
COPY producer ./producer
COPY consumers ./consumers
COPY tokens ./tokens
COPY local ./local
COPY tickpipe ./tickpipe
COPY bench ./bench
RUN pip install . && rm -rf /root/.cache

# Non-root; the journal volume (TICKPIPE_PRODUCER_JOURNAL_DIR) is the only writable place besides /tmp.
RUN useradd --uid 10001 --no-create-home --shell /usr/sbin/nologin tickpipe \
    && mkdir -p /var/lib/tickpipe && chown tickpipe /var/lib/tickpipe
USER 10001
WORKDIR /var/lib/tickpipe
EXPOSE 8080
CMD ["tickpipe", "produce", "--json-logs"]
