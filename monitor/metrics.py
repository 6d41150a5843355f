"""Prometheus metrics (prometheus-client), served on /metrics by monitor.http.

Every labelled counter whose label values are known in advance is created at 0 for each of them on import:
a series that only appears with its first event makes `rate()` and `increase()` show nothing instead of 0,
and an alert on "any failed delivery" cannot tell "none yet" from "not scraped". Code that counts uses the
tuples below, and tests/unit/test_prometheus_metrics.py checks that no other value is counted.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

from alerts.surge import SCOPES

# Values of the labels, all exported from startup.
DELIVERY_OUTCOMES: tuple[str, ...] = ("sent", "retried", "failed")
DETECTION_OUTCOMES: tuple[str, ...] = ("ran", "skipped_locked", "database_unavailable", "error")

CONSUMED = Counter("monitor_articles_consumed", "Messages taken from Kafka or an ingest file")
STORED = Counter("monitor_articles_stored", "New articles stored (redeliveries not counted)")
DEAD_LETTERS = Counter("monitor_dead_letters", "Invalid messages written to dead_letters")
BATCH_SECONDS = Histogram(
    "monitor_batch_seconds", "Decode + classify + store time of one batch",
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
MODEL_SECONDS = Histogram(
    "monitor_model_seconds", "Classifier time of one batch",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
CONSUMER_LAG = Gauge("monitor_consumer_lag", "Messages behind the end of the partition", ["topic", "partition"])
DB_AVAILABLE = Gauge("monitor_database_up", "1 when the last database write succeeded")
KAFKA_UP = Gauge("monitor_kafka_up", "1 while the consumer holds a broker connection")
ALERTS_FIRED = Counter("monitor_alerts_fired", "Surge alerts fired", ["scope"])
ALERT_DELIVERIES = Counter("monitor_alert_deliveries", "Alert outbox delivery attempts", ["outcome"])
DETECTION_RUNS = Counter("monitor_detection_runs", "Surge detection runs", ["outcome"])

for _scope in SCOPES:
    ALERTS_FIRED.labels(_scope)
for _outcome in DELIVERY_OUTCOMES:
    ALERT_DELIVERIES.labels(_outcome)
for _outcome in DETECTION_OUTCOMES:
    DETECTION_RUNS.labels(_outcome)
