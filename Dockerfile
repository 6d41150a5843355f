# The monitor daemon. Build: docker build -t finnews-monitor .
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
WORKDIR /app
COPY pyproject.toml README.md ./
COPY monitor ./monitor
COPY consumers ./consumers
COPY model ./model
COPY storage ./storage
COPY alerts ./alerts
COPY newsgen ./newsgen
# monitor-data/: where the embedded PostgreSQL server lives when MONITOR_DATABASE_URL is unset (docker-compose
# sets it to its own PostgreSQL service); the non-root user must own it.
RUN pip install . \
    && useradd --system --uid 10001 --home-dir /app monitor \
    && mkdir /app/monitor-data && chown monitor /app/monitor-data
# Never run as root (issue 5): the daemon needs no privileges.
USER monitor
EXPOSE 8000
ENTRYPOINT ["monitor"]
CMD ["run"]
