"""End-to-end throughput and latency of the real daemon: Kafka -> decode -> classify -> store -> commit.

    python -m bench.e2e                        # model + no-op classifier, system PostgreSQL (+ embedded for no-op)
    python -m bench.e2e --modes noop --profile # cProfile the daemon thread, print where the time goes
    python -m bench.e2e --modes noop --databases postgresql --batch-sizes 1024 --paced-seconds 0 \
        --processes 1,2 --partitions 4           # one daemon vs two daemon processes in one group, alternating

For each run: a fresh consumer group on a topic (3 partitions, embedded Tansu broker) that already holds
--messages generated headlines (the backlog), a fresh database (PostgreSQL: `CREATE DATABASE bench_<hex>`
on 127.0.0.1:5432, schema by `storage.db.upgrade`, dropped at the end; embedded: a database on an embedded
server (storage/embedded.py) started in a temporary directory, stopped and deleted at the end), and the
daemon wired exactly as `monitor run` wires it, in a thread.

- throughput: articles stored / (last committed batch - first poll that returned records), on the backlog.
- latency: once the backlog is drained, --paced-seconds of messages produced at a steady rate below the
  measured throughput; latency = the moment the batch's database transaction committed - the send time
  carried in the message (an unknown field, so it is kept in `articles.extra`). The PostgreSQL
  `ingested_at - sent` (ingested_at is the transaction's start) is printed as a cross-check.
- stages: wall time inside poll / decode / classify / write (SQL transaction) / commit (Kafka offsets).
- CPU: seconds the daemon, the broker and PostgreSQL spent per article (bench/cpu.py), and the ceiling
  that puts on articles/s: cores / their sum.
- --processes K > 1 (no-op, PostgreSQL): K daemon processes in one consumer group instead of the thread
  (bench/scaleout.py), the README's way to use more than one core.

Modes: `model` (the trained classifier, on CPU unless --device) and `noop` (a classify function that returns
a fixed Prediction: consume + decode + store only; a benchmark device, never a product feature).
"""

from __future__ import annotations

import argparse
import json
import logging
import statistics
import tempfile
import threading
import time
import uuid
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench import cpu
from bench.common import default_checkpoint, machine, median, print_machine, summary_line
from bench.standins import Stages, TimedPipeline, WatchedSource

PG_ADMIN_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
CONSUMER_OPTIONS = {"max_poll_interval_ms": 5000, "session_timeout_ms": 6000, "heartbeat_interval_ms": 1000}
GOAL_MODEL_APS = 500.0
GOAL_NOOP_APS = 10_000.0
SENT_AT = "bench_sent_at"  # unknown message field: kept verbatim in Article.extra / articles.extra


def _ints(text: str) -> list[int]:
    return [int(x) for x in text.split(",") if x.strip()]


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m bench.e2e", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--messages", type=int, default=20_000, help="backlog per run")
    p.add_argument("--batch-sizes", type=_ints, default=[256, 1024], help="batch_max_size values")
    p.add_argument("--modes", default="model,noop", help="comma list of model,noop")
    p.add_argument(
        "--databases",
        default="postgresql,embedded",
        help="comma list; embedded runs only in noop mode (the comparison asked for)",
    )
    p.add_argument("--repeats", type=int, default=3, help="runs per configuration (median)")
    p.add_argument("--paced-seconds", type=float, default=5.0, help="latency phase length (0: skip)")
    p.add_argument("--paced-share", type=float, default=0.5, help="paced rate as a share of measured throughput")
    p.add_argument("--paced-max-rate", type=float, default=2000.0, help="cap on the paced rate (msgs/s)")
    p.add_argument("--model", type=Path, default=None, help="checkpoint (default: shipped, else runs/v1/...)")
    p.add_argument("--device", choices=["cpu", "cuda", "auto"], default="cpu")
    p.add_argument("--model-batch-size", type=int, default=128, help="Settings.model_batch_size")
    p.add_argument("--partitions", type=int, default=3)
    p.add_argument(
        "--processes",
        type=_ints,
        default=[1],
        help="comma list: daemon processes in one group (noop + postgresql only; >1 runs bench.scaleout), "
        "alternated within each repeat, e.g. 1,2 with --partitions 4",
    )
    p.add_argument(
        "--consumer-options",
        type=json.loads,
        default={},
        help="extra kafka-python consumer options as JSON, merged over the defaults, e.g. '{\"check_crcs\": false}'",
    )
    p.add_argument("--timeout", type=float, default=600.0, help="give up on a run after this many seconds")
    p.add_argument("--profile", action="store_true", help="cProfile the daemon thread of each run")
    p.add_argument("--profile-top", type=int, default=25)
    args = p.parse_args(argv)
    args.modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    args.databases = [d.strip() for d in args.databases.split(",") if d.strip()]
    return args


# ------------------------------------------------------------------------------------------ infrastructure


def produce(bootstrap: str, topic: str, n: int, seed: int, rate: float | None = None) -> float:
    """Send n generated messages (sent time inside each); paced at `rate`/s if given. Returns seconds."""
    from consumers.source import KafkaSink
    from newsgen.headlines import generate

    sink = KafkaSink(bootstrap, topic)
    started = time.perf_counter()
    try:
        for i, msg in enumerate(generate(n, seed=seed)):
            if rate:
                due = started + i / rate
                delay = due - time.perf_counter()
                if delay > 0:
                    time.sleep(delay)
            msg[SENT_AT] = time.time()
            sink.send(json.dumps(msg).encode())
        sink.flush(timeout_s=120)
    finally:
        sink.close()
    return time.perf_counter() - started


@dataclass
class Db:
    kind: str
    url: str
    name: str | None = None  # PostgreSQL database to drop
    tmpdir: tempfile.TemporaryDirectory[str] | None = None  # the embedded server's, stopped and deleted


def create_db(kind: str) -> Db:
    from sqlalchemy import create_engine, text

    from storage import db as storage_db
    from storage import embedded

    name = f"bench_{uuid.uuid4().hex[:12]}"
    tmp = None
    if kind == "embedded":
        tmp = tempfile.TemporaryDirectory(prefix="bench-e2e-")
        url = embedded.start(Path(tmp.name) / "pgdata", name)
    else:
        admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        admin.dispose()
        url = f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
    engine = storage_db.make_engine(url)
    storage_db.upgrade(engine)
    engine.dispose()
    return Db(kind, url, name=None if tmp else name, tmpdir=tmp)


def drop_db(d: Db) -> None:
    from sqlalchemy import create_engine, text

    if d.tmpdir is not None:
        from storage import embedded

        embedded.stop(Path(d.tmpdir.name) / "pgdata")
        d.tmpdir.cleanup()
    if d.name:
        admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{d.name}" WITH (FORCE)'))
        admin.dispose()


def noop_classify() -> Callable[[Sequence[str]], list[Any]]:
    from model.prediction import Prediction

    topics = [f"Topic {i:02d}" for i in range(20)]
    fixed = Prediction(
        topic="Topic 00",
        topic_score=0.91,
        sentiment="neutral",
        sentiment_score=0.88,
        model_version="bench-noop",
        topic_probs={t: round(0.91 if i == 0 else 0.09 / 19, 5) for i, t in enumerate(topics)},
        sentiment_probs={"negative": 0.05, "neutral": 0.88, "positive": 0.07},
        highlights=("shares", "profit", "warning", "after", "plunge"),
    )
    return lambda texts: [fixed] * len(texts)


# ------------------------------------------------------------------------------------------ one run


@dataclass
class RunResult:
    mode: str
    db: str
    batch: int
    backlog: int
    stored: int
    seconds: float
    aps: float
    batches: int
    stages: dict[str, float]
    produce_aps: float = 0.0
    paced_rate: float = 0.0
    paced_n: int = 0
    latency_ms: dict[str, float] = field(default_factory=dict)
    latency_db_ms: dict[str, float] = field(default_factory=dict)
    profile: str | None = None
    cpu: dict[str, float] = field(default_factory=dict)  # CPU seconds during the backlog, by process
    processes: int = 1  # daemon processes in the group (bench.scaleout); 1 = the daemon in a thread here


def _pct(xs: list[float], q: float) -> float:
    if not xs:
        return float("nan")
    xs = sorted(xs)
    return xs[min(len(xs) - 1, max(0, round(q * (len(xs) - 1))))]


def run_once(
    args: argparse.Namespace,
    bootstrap: str,
    mode: str,
    dbkind: str,
    batch: int,
    classify: Callable[[Sequence[str]], list[Any]],
    run_no: int,
    broker_pid: int | None = None,
) -> RunResult:
    from consumers.source import ensure_topic
    from monitor import app
    from monitor.config import load_settings

    # A topic of its own per run: the backlog, then the paced messages, and nothing from earlier runs.
    topic = f"bench-{run_no}-{uuid.uuid4().hex[:8]}"
    ensure_topic(bootstrap, topic, args.partitions)
    produce_s = produce(bootstrap, topic, args.messages, seed=7)
    d = create_db(dbkind)
    group = f"bench-{uuid.uuid4().hex[:8]}"
    settings = load_settings(
        database_url=d.url,
        kafka_bootstrap_servers=bootstrap,
        kafka_topic=topic,
        kafka_group_id=group,
        kafka_consumer_options={**CONSUMER_OPTIONS, **args.consumer_options},
        batch_max_size=batch,
        model_batch_size=args.model_batch_size,
        device=args.device if args.device != "auto" else "auto",
    )
    product = app.build(settings, classify=classify)
    database = product.database
    stages = Stages()
    first_records: list[float] = []
    cpu_at_start: list[dict[str, float]] = []
    latencies: list[float] = []  # seconds, paced phase only
    paced_ids: set[str] = set()
    lock = threading.Lock()
    daemon: Any = None
    thread: threading.Thread | None = None
    try:
        backlog_seen = [0]
        profiler = None
        if args.profile:
            import cProfile

            profiler = cProfile.Profile()

        def on_stored(decoded: Any, done: float) -> None:  # done: the batch's transaction has committed
            backlog_seen[0] += len(decoded.items) + len(decoded.dead)
            if profiler is not None and backlog_seen[0] >= args.messages:
                profiler.disable()
            with lock:
                for item in decoded.items:
                    sent = item.article.extra.get(SENT_AT)
                    if sent is not None and item.article.id in paced_ids:
                        latencies.append(done - float(sent))

        def started() -> None:  # the clock starts at the first records
            first_records.append(time.time())
            cpu_at_start.append(cpu.cpu_seconds(broker_pid))
            stages.reset()
            if profiler is not None:
                profiler.enable()  # this (the daemon) thread only, until the backlog is stored

        connect = app.kafka_connect(settings)
        daemon = product.daemon(connect=lambda: WatchedSource(connect(), started, stages),
                                pipeline=TimedPipeline(product.pipeline, stages, on_stored))
        errors: list[BaseException] = []

        def target() -> None:
            try:
                daemon.run()
            except BaseException as e:  # surfaced in the main thread
                errors.append(e)

        thread = threading.Thread(target=target, name="daemon", daemon=True)
        thread.start()
        deadline = time.monotonic() + args.timeout

        def wait_for(n: int) -> None:
            while daemon.stats.stored + daemon.stats.dead_letters < n:
                if errors:
                    raise RuntimeError(f"daemon failed: {errors[0]!r}") from errors[0]
                if not thread.is_alive():
                    raise RuntimeError("daemon thread exited early")
                if time.monotonic() > deadline:
                    raise TimeoutError(f"stored {daemon.stats.stored} of {n} in {args.timeout:.0f}s")
                time.sleep(0.02)

        wait_for(args.messages)
        end = daemon.stats.last_batch_at or time.time()
        cpu_used = cpu.delta(cpu_at_start[0], cpu.cpu_seconds(broker_pid))
        stored, batches = daemon.stats.stored, daemon.stats.batches
        snapshot = dict(stages.seconds)
        seconds = end - first_records[0]
        aps = stored / seconds
        result = RunResult(
            mode,
            dbkind,
            batch,
            args.messages,
            stored,
            seconds,
            aps,
            batches,
            snapshot,
            produce_aps=args.messages / produce_s,
            cpu=cpu_used,
        )

        if args.paced_seconds > 0:  # latency: a steady stream below capacity into the idle daemon
            rate = min(args.paced_max_rate, max(10.0, args.paced_share * aps))
            n = max(20, int(rate * args.paced_seconds))
            seed = 10_000 + run_no
            from newsgen.headlines import generate

            paced_ids.update(m["id"] for m in generate(n, seed=seed))
            produce(bootstrap, topic, n, seed=seed, rate=rate)
            wait_for(args.messages + n)
            result.paced_rate, result.paced_n = rate, n
            with lock:
                lat = list(latencies)
            result.latency_ms = {
                "p50": 1000 * _pct(lat, 0.5),
                "p95": 1000 * _pct(lat, 0.95),
                "max": 1000 * max(lat),
                "n": len(lat),
            }
            result.latency_db_ms = db_latency(database, paced_ids) if dbkind == "postgresql" else {}
        daemon.stop()
        thread.join(timeout=30)
        if profiler is not None:
            result.profile = profile_text(profiler, args.profile_top)
        return result
    finally:
        if daemon is not None and thread is not None and thread.is_alive():  # a failed run: stop it first
            daemon.stop()
            thread.join(timeout=30)
        product.close()
        drop_db(d)
        delete_topic(bootstrap, topic)


def delete_topic(bootstrap: str, topic: str) -> None:
    """Free the broker's memory (best effort: the broker is thrown away at the end anyway)."""
    from kafka import KafkaAdminClient

    try:
        admin = KafkaAdminClient(bootstrap_servers=bootstrap)
        try:
            admin.delete_topics([topic], timeout_ms=10_000, raise_errors=False)
        finally:
            admin.close()
    except Exception as e:
        logging.getLogger(__name__).warning("could not delete topic %s: %s", topic, e)


def db_latency(database: Any, ids: set[str]) -> dict[str, float]:
    """ingested_at (the storing transaction's start, PostgreSQL now()) - sent time, from the table itself."""
    from sqlalchemy import text

    def q(session: Any) -> list[float]:
        rows = session.execute(
            text(
                f"SELECT external_id, extract(epoch from ingested_at) - (extra->>'{SENT_AT}')::float8 "
                f"FROM articles WHERE extra ? '{SENT_AT}'"
            )
        )
        return [float(lag) for ext, lag in rows if ext in ids]

    lat = database.read(q)
    return {"p50": 1000 * _pct(lat, 0.5), "p95": 1000 * _pct(lat, 0.95), "n": len(lat)} if lat else {}


REPO_ROOT = str(Path(__file__).resolve().parents[1]) + "/"  # our own modules in the profile


def _package(filename: str) -> str:
    for marker in ("site-packages/", REPO_ROOT, "/lib/python3"):
        if marker in filename:
            rest = filename.split(marker, 1)[1].lstrip("/")
            if marker == "/lib/python3":
                rest = "stdlib/" + rest.split("/", 1)[1] if "/" in rest else rest
            parts = rest.split("/")
            return "/".join(parts[:2]) if parts[0] == "stdlib" else parts[0].removesuffix(".py")
    return filename


def profile_by_package(st: Any) -> dict[str, float]:
    """Own time per package; a C builtin's time goes to the package of the Python code that called it."""
    out: dict[str, float] = defaultdict(float)
    for (filename, _line, func), (_cc, _nc, tt, _ct, callers) in st.stats.items():
        if filename == "~":  # a builtin: split its time over its callers
            if not callers:
                out[f"builtin {func}"] += tt
            for (cfile, _cl, _cf), edge in callers.items():
                out[_package(cfile)] += edge[2]
        else:
            out[_package(filename)] += tt
    return dict(sorted(out.items(), key=lambda kv: -kv[1]))


def profile_text(profiler: Any, top: int) -> str:
    import io
    import pstats

    buf = io.StringIO()
    st = pstats.Stats(profiler, stream=buf)
    by_pkg = profile_by_package(st)
    total = sum(by_pkg.values()) or 1.0
    buf.write("cProfile of the daemon thread over the backlog (profiling slows Python code ~1.5-2x):\n")
    buf.write(
        "  own time by package: "
        + ", ".join(f"{k} {v:.2f}s ({100 * v / total:.0f}%)" for k, v in list(by_pkg.items())[:12])
        + "\n"
    )
    st.strip_dirs()
    st.sort_stats("tottime").print_stats(top)
    st.sort_stats("cumulative").print_stats(top)
    return buf.getvalue()


# ------------------------------------------------------------------------------------------ main


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("kafka").setLevel(logging.ERROR)  # "task ran for 0.1s" notes when 2 cores are busy
    from consumers.broker import EmbeddedBroker

    info = machine()
    print_machine(info)
    classifier = None
    model_path = args.model or default_checkpoint()
    if "model" in args.modes:
        from monitor import app
        from monitor.config import load_settings

        classifier = app.load_classifier(load_settings(model_path=model_path), device=args.device)
        print(
            f"model: {model_path or '(package default)'} on {classifier.device}, dtype {classifier.precision}, "
            f"model batch {args.model_batch_size}"
        )
    print(
        f"messages per run: {args.messages} (backlog), partitions {args.partitions}, batch_max_size "
        f"{args.batch_sizes}, repeats {args.repeats} (median), consumer options "
        f"{ {**CONSUMER_OPTIONS, **args.consumer_options} }"
    )

    results: list[RunResult] = []
    with EmbeddedBroker() as broker:
        print(f"broker: embedded Tansu on {broker.bootstrap_servers}\n")
        run_no = 0
        for mode in args.modes:
            if mode == "model":
                assert classifier is not None
                from monitor.app import classify_fn

                classify = classify_fn(classifier, args.model_batch_size)
            elif mode == "noop":
                classify = noop_classify()
            else:
                raise SystemExit(f"unknown mode {mode!r}")
            for dbkind in args.databases:
                if dbkind == "embedded" and mode != "noop":
                    continue
                for batch in args.batch_sizes:
                    by_processes: dict[int, list[RunResult]] = defaultdict(list)
                    for _ in range(args.repeats):
                        for processes in args.processes:  # alternating: one process is the baseline
                            if processes > 1 and (mode, dbkind) != ("noop", "postgresql"):
                                continue
                            run_no += 1
                            if processes == 1:
                                r = run_once(args, broker.bootstrap_servers, mode, dbkind, batch, classify, run_no,
                                             broker.pid)
                            else:
                                from bench.scaleout import run_processes

                                r = run_processes(args, broker.bootstrap_servers, batch, processes, run_no, broker.pid)
                            by_processes[processes].append(r)
                            lat = r.latency_ms
                            print(
                                f"  run {mode:5s} {dbkind:10s} batch {batch:5d} x{processes}: {r.aps:8.0f} articles/s "
                                f"({r.stored} in {r.seconds:.2f}s, {r.batches} batches; backlog produced at "
                                f"{r.produce_aps:.0f}/s)"
                                + (
                                    f"; paced {r.paced_rate:.0f}/s x {r.paced_n}: p50 {lat['p50']:.0f} ms, "
                                    f"p95 {lat['p95']:.0f} ms"
                                    if lat
                                    else ""
                                )
                            )
                            if r.profile:
                                print(r.profile)
                    for runs in by_processes.values():
                        results.extend(runs)
                        report(runs)

    # ---- summary
    out: dict[str, Any] = {
        "machine": info,
        "messages": args.messages,
        "partitions": args.partitions,
        "repeats": args.repeats,
        "checkpoint": str(model_path) if model_path else None,
        "device": args.device,
        "runs": {},
    }
    groups: dict[tuple[str, str, int, int], list[RunResult]] = defaultdict(list)
    for r in results:
        groups[(r.mode, r.db, r.batch, r.processes)].append(r)
    for (mode, dbkind, batch, processes), runs in groups.items():
        key = f"{mode}/{dbkind}/{batch}" + (f"/x{processes}" if processes > 1 else "")
        out["runs"][key] = {
            "aps": round(median([r.aps for r in runs]), 1),
            "latency_p50_ms": _med_lat(runs, "p50"),
            "latency_p95_ms": _med_lat(runs, "p95"),
            "stages_share": _stage_shares(runs),
            "cpu_us_per_article": {
                k: round(1e6 * median([r.cpu.get(k, 0.0) / max(1, r.stored) for r in runs])) for k in runs[0].cpu
            },
        }
    goals: dict[str, bool] = {}
    best: dict[str, float] = {}
    for m in args.modes:
        pg = [v["aps"] for k, v in out["runs"].items() if k.startswith(f"{m}/postgresql/")]
        if pg:
            best[m] = max(pg)
    if "model" in best:
        goals[f"model_postgresql_>=_{GOAL_MODEL_APS:.0f}_aps"] = best["model"] >= GOAL_MODEL_APS
    if "noop" in best:
        goals[f"noop_postgresql_>=_{GOAL_NOOP_APS:.0f}_aps"] = best["noop"] >= GOAL_NOOP_APS
    out["best_postgresql_aps"] = best
    out["goals"] = goals
    print()
    for name, ok in goals.items():
        print(f"goal {name}: {'PASS' if ok else 'FAIL'}")
    print(summary_line("e2e", out))
    return 0


def _med_lat(runs: list[RunResult], q: str) -> float | None:
    xs = [r.latency_ms[q] for r in runs if r.latency_ms]
    return round(median(xs), 1) if xs else None


def _stage_shares(runs: list[RunResult]) -> dict[str, float]:
    """Median share of the backlog phase's wall time per stage ('other': loop, batching, waiting)."""
    shares: dict[str, list[float]] = defaultdict(list)
    for r in runs:
        total = r.seconds
        accounted = 0.0
        for k in ("decode", "classify", "write", "commit"):
            shares[k].append(r.stages.get(k, 0.0) / total)
            accounted += r.stages.get(k, 0.0)
        poll = r.stages.get("poll", 0.0)
        shares["poll"].append(poll / total)
        shares["other"].append(max(0.0, total - accounted - poll) / total)
    return {k: round(median(v), 3) for k, v in shares.items()}


def report(runs: list[RunResult]) -> None:
    r0 = runs[0]
    aps = median([r.aps for r in runs])
    sh = _stage_shares(runs)
    lat50, lat95 = _med_lat(runs, "p50"), _med_lat(runs, "p95")
    dbl = [r.latency_db_ms for r in runs if r.latency_db_ms]
    cpu_us = {k: 1e6 * median([r.cpu.get(k, 0.0) / max(1, r.stored) for r in runs]) for k in r0.cpu}
    per_article_us = {
        k: 1e6 * median([r.stages.get(k, 0.0) / max(1, r.stored) for r in runs])
        for k in ("poll", "decode", "classify", "write", "commit")
    }
    print(
        f"{r0.mode:5s} {r0.db:10s} batch {r0.batch:5d} x{r0.processes}: median {aps:8.0f} articles/s "
        f"(runs {[round(r.aps) for r in runs]})"
        + (f"; latency p50 {lat50:.0f} ms, p95 {lat95:.0f} ms" if lat50 is not None else "")
        + (f" (PG ingested_at-sent p50 {statistics.median([d['p50'] for d in dbl]):.0f} ms)" if dbl else "")
    )
    if r0.stages:  # worker processes (bench.scaleout) time no stages
        print(
            "      time share: "
            + ", ".join(f"{k} {100 * v:.0f}%" for k, v in sh.items())
            + "   per article: "
            + ", ".join(f"{k} {v:.0f} us" for k, v in per_article_us.items())
        )
    ours = sum(v for k, v in cpu_us.items() if k != "machine")
    if ours > 0:
        print(
            "      CPU per article: "
            + ", ".join(f"{k} {v:.0f} us" for k, v in cpu_us.items())
            + f"; {cpu.cores()} cores / ({ours:.0f} us of monitor + broker + PostgreSQL) = ceiling"
            f" {1e6 * cpu.cores() / ours:,.0f} articles/s"
        )


if __name__ == "__main__":
    raise SystemExit(main())
