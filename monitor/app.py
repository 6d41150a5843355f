"""Wiring: settings -> database, classifier, pipeline, Kafka source, the chain of steps, daemon (`build`). The
only place that knows every floor of the house."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from monitor.config import Settings
from monitor.lines import chunks

if TYPE_CHECKING:  # at run time imported where used: monitor.pipeline brings storage and SQLAlchemy (0.6 s), which
    # `monitor classify` (load_classifier alone) never needs
    from monitor.pipeline import BatchResult, Classify, Pipeline

log = logging.getLogger(__name__)


@dataclass
class Database:
    engine: Any  # sqlalchemy Engine (typed loosely: monitor does not import sqlalchemy)
    sessions: Any  # sessionmaker[Session]

    def transaction(self, fn: Callable[[object], None]) -> None:
        """Runs fn(session) in one transaction, committed on success, rolled back on error."""
        with self.sessions.begin() as session:
            fn(session)

    def read(self, fn: Callable[[Any], Any]) -> Any:
        with self.sessions() as session:
            return fn(session)


def database_url(settings: Settings) -> str:
    """MONITOR_DATABASE_URL, or (unset) the URL of the embedded server, started here if it is not running."""
    if settings.database_url is not None:
        return settings.database_url.get_secret_value()
    from storage.embedded import start

    return start(settings.embedded_data_dir)


def open_database(settings: Settings, *, migrate: bool | None = None) -> Database:
    """An engine on the database in use, its schema checked: the embedded database migrates itself (nobody else
    manages it; ``migrate`` says so for another one we made); an external one without the schema is
    SchemaMissing, one line for the user."""
    from storage import db

    engine = db.make_engine(database_url(settings))
    db.ensure_schema(engine, migrate=settings.database_url is None if migrate is None else migrate)
    return Database(engine, db.make_session_factory(engine))


def embedded_database(settings: Settings, name: str) -> Settings:
    """Settings whose database is a new, empty ``name`` on the embedded server (the demo's, a backtest's)."""
    from pydantic import SecretStr

    from storage.embedded import start

    return settings.model_copy(update={"database_url": SecretStr(start(settings.embedded_data_dir, name, fresh=True))})


def load_classifier(settings: Settings, device: str | None = None, precision: str = "auto") -> Any:
    from model.classifier import Classifier

    clf = Classifier.load(settings.model_path, device=device or settings.device, precision=precision,
                          max_tokens=settings.max_tokens, choice=settings.model)
    log.info("model %s on %s (%s)", clf.model_version, clf.device, clf.precision)
    return clf


def classify_fn(classifier: Any, batch_size: int) -> Classify:
    return lambda texts: classifier.predict(texts, batch_size=batch_size)


def start_ops_server(
    settings: Settings, daemon: Any, database: Database, detection: Callable[[], dict[str, Any]] | None = None
) -> Any:
    """/healthz and /metrics; a taken port is a one-line startup error, not a silent gap in monitoring."""
    from monitor.http import OpsServer, daemon_health
    from storage.db import ping

    detection = detection or (lambda: {"state": "not running"})
    health = daemon_health(daemon, lambda: ping(database.engine), detection)
    try:
        return OpsServer(settings.http_host, settings.http_port, health).start()
    except OSError as e:
        raise ValueError(f"cannot listen on {settings.http_host}:{settings.http_port} ({e.strerror}); "
                         "set MONITOR_HTTP_PORT") from None


def kafka_connect(settings: Settings) -> Callable[[], Any]:
    """A function that joins the consumer group (consumers.source.KafkaSource) as the settings say."""
    from consumers.source import KafkaSource

    options = dict(settings.kafka_consumer_options)
    # The fetch must be able to carry any message we accept, or it could stall on a big one.
    options.setdefault("max_partition_fetch_bytes", max(1_048_576, settings.max_message_bytes + 1024))
    # kafka-python's constructor blocks for bootstrap_timeout_ms (default 30 s) when no broker answers,
    # and SIGTERM cannot cut that wait short: keep each attempt short; the daemon retries with backoff.
    options.setdefault("bootstrap_timeout_ms", 5000)
    return lambda: KafkaSource(settings.kafka_bootstrap_servers, settings.kafka_topic, settings.kafka_group_id,
                               options)


class Product:
    """The product built from settings: its database, its classifier (loaded when first needed) and the stream
    of steps around them. `monitor run`, `demo`, `ingest`, `backtest --input`, `deadletters replay` and the
    benchmarks all start here; a test or a benchmark hands in stand-ins (``classify``, ``connect``,
    ``pipeline``) instead of patching."""

    def __init__(self, settings: Settings, database: Database, classify: Classify | None = None) -> None:
        self.settings = settings
        self.database = database
        self._classify = classify
        self._classifier: Any = None
        self._pipeline: Pipeline | None = None

    @property
    def classifier(self) -> Any:
        """The model (model.classifier.Classifier), loaded on first use."""
        if self._classifier is None:
            self._classifier = load_classifier(self.settings)
        return self._classifier

    @property
    def classify(self) -> Classify:
        if self._classify is None:
            self._classify = classify_fn(self.classifier, self.settings.model_batch_size)
        return self._classify

    @property
    def pipeline(self) -> Pipeline:
        if self._pipeline is None:
            from monitor.pipeline import Pipeline

            s = self.settings
            self._pipeline = Pipeline(classify=self.classify, store=self.database.transaction,
                                      max_message_bytes=s.max_message_bytes,
                                      dead_letter_max_bytes=s.dead_letter_max_bytes)
        return self._pipeline

    def daemon(self, *, connect: Callable[[], Any] | None = None, pipeline: Pipeline | None = None) -> Any:
        """`monitor run`'s daemon (monitor.daemon.Daemon): the Kafka consumer group -> the chain of steps."""
        from monitor.breaker import InvalidRatioBreaker
        from monitor.daemon import Daemon
        from monitor.steps.chain import Batching, build_chain
        from storage.db import is_transient

        s = self.settings
        steps_of = pipeline or self.pipeline
        batching = Batching(s.batch_max_size, s.batch_max_wait_ms / 1000, s.batch_max_bytes)
        breaker = InvalidRatioBreaker(s.max_invalid_ratio, s.invalid_window_messages, s.invalid_min_messages)

        def make_chain(source: Any, stats: Any, wait: Callable[[float], object]) -> Any:
            return build_chain(source, steps_of, batching, stats, is_transient=is_transient, breaker=breaker,
                               wait=wait)

        return Daemon(connect or kafka_connect(s), make_chain)

    def ingest(self, path: Path) -> Iterator[BatchResult]:
        """A JSON-lines file through the pipeline in batches bounded like the daemon's (count and bytes), each
        line read with a bound: `monitor ingest` and `monitor backtest --input`."""
        from monitor.pipeline import jsonl_records

        s = self.settings
        # Read a line up to what its dead letter would keep too, so that a line refused as too large but under
        # MONITOR_DEAD_LETTER_MAX_BYTES is kept whole and can be replayed once the limit is raised.
        records = jsonl_records(path, max(s.max_message_bytes, s.dead_letter_max_bytes))
        for chunk in chunks(records, s.batch_max_size, s.batch_max_bytes, lambda r: len(r.value)):
            yield self.pipeline.process(chunk)

    def ops_server(self, daemon: Any, detection: Callable[[], dict[str, Any]] | None = None) -> Any:
        return start_ops_server(self.settings, daemon, self.database, detection)

    def close(self) -> None:
        self.database.engine.dispose()


def build(settings: Settings, *, classify: Classify | None = None, database: Database | None = None,
          migrate: bool | None = None) -> Product:
    """The product from settings: the database opened (and, embedded, migrated; see open_database), the
    classifier loaded when first needed unless ``classify`` stands in for it."""
    return Product(settings, database or open_database(settings, migrate=migrate), classify)
