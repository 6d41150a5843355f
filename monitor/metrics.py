"""Prometheus metrics (prometheus-client), served on /metrics by monitor.http."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

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
