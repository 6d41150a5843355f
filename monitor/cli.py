"""`monitor ...`: the command line. Bad arguments and known failures get one line on stderr and exit 2;
anything unexpected one line with its exception type and exit 1 (the traceback goes to the DEBUG log)."""

from __future__ import annotations

import argparse
import errno
import json
import logging
import os
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, NoReturn, TextIO

from monitor import labelled_data
from monitor.argtypes import block_list, positive_float, positive_int, unit_interval
from monitor.backtest_cmd import add_backtest_parser
from monitor.breaker import CircuitOpen
from monitor.config import ConfigError, Settings, load_settings
from monitor.deadletters_cmd import add_deadletters_parser
from monitor.history_cmd import add_history_parsers
from monitor.labelled_data import DataNotFound, data_dir
from monitor.lines import bounded_lines, chunks
from monitor.logs import setup_logging
from monitor.sql_cmd import add_sql_parser

log = logging.getLogger("monitor")


class UserError(Exception):
    """Something the user can fix; printed as one line."""


def _settings(args: argparse.Namespace) -> Settings:
    overrides: dict[str, Any] = {}
    if getattr(args, "database_url", None):
        overrides["database_url"] = args.database_url
    if getattr(args, "device", None):
        overrides["device"] = args.device
    if getattr(args, "model", None):
        overrides["model_path"] = args.model
    settings = load_settings(**overrides)
    setup_logging(settings.log_level, settings.log_format)
    return settings


# ---------------------------------------------------------------- run / ingest / produce / db


def cmd_run(args: argparse.Namespace) -> int:
    from consumers.source import StreamError
    from monitor import app
    from monitor.scheduler import detection_state, start_detection

    settings = _settings(args)
    product = app.build(settings)
    daemon = product.daemon()
    scheduler = start_detection(settings, product.database)
    ops = product.ops_server(daemon, detection=lambda: detection_state(scheduler))
    daemon.handle_signals()
    log.info("consuming %s from %s as group %s", settings.kafka_topic, settings.kafka_bootstrap_servers,
             settings.kafka_group_id)
    try:
        daemon.run()
    except CircuitOpen:  # the daemon logged why; a distinct exit code tells supervisors it is the data
        return 3
    except StreamError as e:  # records or a setting the consumer cannot get past: a restart meets them again
        log.error("kafka consumer stopped: %s. Offsets stay committed up to the last stored batch, so until "
                  "this is fixed a restart stops here again (exit 4)", e)
        return 4
    finally:
        scheduler.shutdown(wait=False)
        ops.stop()
    return 0


def _existing_file(path: Path) -> Path:
    if not path.is_file():
        raise UserError(f"no such file: {path}")
    return path


def cmd_ingest(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from monitor import app

    path = _existing_file(args.file)
    settings = _settings(args)
    product = app.build(settings)
    product.pipeline  # noqa: B018 - loads the model now: a bad checkpoint fails before the progress bar shows
    stored = dead = total = 0
    with tqdm(desc="ingest", unit="msg", disable=args.quiet) as bar:
        for result in product.ingest(path):
            total, stored, dead = total + result.consumed, stored + result.stored, dead + result.dead_letters
            bar.update(result.consumed)
    print(json.dumps({"read": total, "stored": stored, "duplicates": total - stored - dead, "dead_letters": dead}))
    return 0


def cmd_produce(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from consumers.source import KafkaSink

    path = _existing_file(args.file)
    settings = _settings(args)
    sink = KafkaSink(settings.kafka_bootstrap_servers, settings.kafka_topic)
    sent = 0
    try:
        with path.open("rb") as f, tqdm(desc=f"produce -> {settings.kafka_topic}", unit="msg",
                                        disable=args.quiet) as bar:
            for line in f:
                if line.strip():
                    sink.send(line.rstrip(b"\r\n"))
                    sent += 1
                    bar.update(1)
        sink.flush()
    finally:
        sink.close()
    print(json.dumps({"sent": sent, "topic": settings.kafka_topic}))
    return 0


def cmd_db(args: argparse.Namespace) -> int:
    from monitor import app
    from storage import db

    settings = _settings(args)
    if args.db_command == "stop":
        from storage.embedded import stop

        if settings.database_url is not None:
            raise UserError("MONITOR_DATABASE_URL is set: only the embedded server is stopped by `monitor db stop`")
        where = settings.embedded_data_dir
        print(f"embedded PostgreSQL on {where} " + ("stopped" if stop(where) else "was not running"))
        return 0
    url = app.database_url(settings)
    if args.db_command == "url":
        print(db.display_url(url))
        return 0
    engine = db.make_engine(url)
    if args.db_command == "upgrade":
        db.upgrade(engine)
        print(f"database schema at revision {db.current_revision(engine)}")
    elif args.db_command == "rebuild-rollups":
        from storage.rollups import rebuild

        db.ensure_schema(engine, migrate=settings.database_url is None)
        with db.make_session_factory(engine).begin() as session:
            rebuild(session)
        print("hourly rollups rebuilt from the stored articles")
    else:
        print(f"database schema at revision {db.current_revision(engine)} (head {db.head_revision()})")
    return 0


# ---------------------------------------------------------------- model commands


def _classify_lines(lines: Iterable[tuple[int, bytes, int]],
                    max_bytes: int) -> Iterator[tuple[str | None, str | None]]:
    """(text, None) for a usable line, (None, error) for a bad one; one per input line (``bounded_lines``).
    Each line is decoded and checked on its own, so one bad line (too long, not UTF-8, a lone surrogate,
    nesting deep enough to exhaust the parser) costs only its own answer."""
    for _, raw, size in lines:
        if size > max_bytes:
            yield None, f"line too long: more than {max_bytes} bytes (MONITOR_MAX_MESSAGE_BYTES)"
            continue
        try:
            obj = json.loads(raw.decode("utf-8"))
        except UnicodeDecodeError:
            yield None, "not UTF-8"
            continue
        except json.JSONDecodeError as e:
            yield None, f"not JSON: {e.msg}"
            continue
        except (ValueError, RecursionError) as e:  # a 5,000-digit number, nesting beyond the parser's stack
            yield None, f"not JSON: {type(e).__name__}"
            continue
        if not isinstance(obj, dict):
            yield None, "expected a JSON object with title/body or text"
            continue
        if "text" in obj:
            text = obj["text"]
            if not isinstance(text, str):
                yield None, "text: expected a string"
                continue
        else:
            title, body = obj.get("title"), obj.get("body")
            if not isinstance(title, str) or (body is not None and not isinstance(body, str)):
                yield None, "title/body: expected strings (or give text)"
                continue
            text = f"{title}\n{body}" if body else title
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:  # JSON may spell a lone surrogate (\ud800); the tokenizer cannot take it
            yield None, "text is not valid Unicode (a lone surrogate escape)"
            continue
        if not text.strip():
            yield None, "empty text"
            continue
        yield text, None


def _predict_each(classifier: Any, texts: list[str], batch_size: int) -> list[Any]:
    """Predictions for texts, or an error string per text that cannot be classified: a chunk the model
    rejects is retried line by line, so one poisonous line never costs the others their answers."""
    try:
        return list(classifier.predict(texts, batch_size=batch_size))
    except MemoryError:
        raise
    except Exception:  # noqa: BLE001 - narrowed down below, line by line
        log.debug("a chunk failed; classifying its lines one by one", exc_info=True)
    out: list[Any] = []
    for text in texts:
        try:
            out.extend(classifier.predict([text], batch_size=1))
        except MemoryError:
            raise
        except Exception as e:  # noqa: BLE001 - this line's own error, reported in its own answer
            out.append(f"cannot classify: {type(e).__name__}")
    return out


def cmd_classify(args: argparse.Namespace) -> int:
    from monitor import app

    settings = _settings(args)
    classifier = app.load_classifier(settings, device=args.device, precision=args.precision)
    out: TextIO = sys.stdout
    # Bytes, not text: a line that is not UTF-8 must be that line's error, not a decode error for the stream.
    lines = _classify_lines(bounded_lines(sys.stdin.buffer, settings.max_message_bytes), settings.max_message_bytes)
    for chunk in chunks(lines, max(args.batch_size * 8, 256)):
        texts = [t for t, _ in chunk if t is not None]
        predictions = iter(_predict_each(classifier, texts, args.batch_size))
        for text, error in chunk:
            p: Any = next(predictions) if text is not None else error
            if p is None or isinstance(p, str):
                out.write(json.dumps({"error": p or "cannot classify"}) + "\n")
                continue
            out.write(json.dumps({
                "topic": p.topic, "topic_score": round(p.topic_score, 5),
                "sentiment": p.sentiment, "sentiment_score": round(p.sentiment_score, 5),
                "probabilities": {"topic": p.topic_probs, "sentiment": p.sentiment_probs},
                "highlights": list(p.highlights), "model_version": p.model_version,
            }) + "\n")
        out.flush()
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    from model.train import TrainConfig, train

    setup_logging()
    if None in (args.topic_csv, args.sentiment_csv, args.sentfin_csv, args.classes):
        try:
            data = data_dir(args.data)
        except DataNotFound as e:
            raise UserError(str(e)) from None
        args.topic_csv = args.topic_csv or data / labelled_data.TOPIC_TRAIN
        args.sentiment_csv = args.sentiment_csv or data / labelled_data.SENTIMENT_TRAIN
        args.sentfin_csv = args.sentfin_csv or data / labelled_data.SENTFIN
        args.classes = args.classes or data / labelled_data.TOPIC_CLASSES
    for p in (args.topic_csv, args.sentiment_csv, args.sentfin_csv, args.classes):
        _existing_file(p)
    if args.init_blocks and not args.init_from:
        raise UserError("--init-blocks names blocks of --init-from: give both")
    for teacher in [*args.teacher, *([args.init_from] if args.init_from else [])]:
        _existing_file(teacher)
    cfg = TrainConfig(
        topic_csv=args.topic_csv, sentiment_csv=args.sentiment_csv, sentfin_csv=args.sentfin_csv,
        classes_txt=args.classes, out=args.out, epochs=args.epochs, batch_size=args.batch_size,
        lr=args.lr, seed=args.seed, device=args.device or "auto", tiny=args.tiny, limit=args.limit,
        sentfin_own_head=args.sentfin_own_head, split_seed=args.split_seed,
        teachers=tuple(args.teacher), distill_weight=args.distill_weight,
        distill_temperature=args.distill_temperature, distill_all_rows=args.distill_all_rows,
        layers=args.layers, init_from=args.init_from, init_blocks=args.init_blocks,
        max_steps=args.max_steps, **({"model_version": args.model_version} if args.model_version else {}),
    )
    result = train(cfg)
    print(json.dumps({"checkpoint": str(result.checkpoint), "dev": {
        s: {"accuracy": m["accuracy"], "macro_f1": m["macro_f1"]} for s, m in result.dev_metrics.items()}}))
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    from model.evaluate import evaluate_files, print_table

    settings = _settings(args)
    if not (args.topic_csv or args.sentiment_csv or args.sentfin_csv):
        raise UserError("give at least one of --topic-csv, --sentiment-csv, --sentfin-csv")
    for p in (args.topic_csv, args.sentiment_csv, args.sentfin_csv):
        if p:
            _existing_file(p)
    report = evaluate_files(
        model_path=settings.model_path, choice=settings.model, device=settings.device, topic_csv=args.topic_csv,
        sentiment_csv=args.sentiment_csv, sentfin_csv=args.sentfin_csv, limit=args.limit,
    )
    print_table(report)
    args.report.write_text(json.dumps(report, indent=1))
    print(f"report written to {args.report}")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from monitor.demo import run_demo

    settings = _settings(args)
    return run_demo(settings, n=args.messages)


# ---------------------------------------------------------------- parser


class _Parser(argparse.ArgumentParser):
    """argparse with a one-line error: `monitor CMD: error: ... (see monitor CMD --help)` instead of a usage
    block. Subcommand parsers are made of the same class, so every level of `monitor ...` answers the same."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {_one_line(message)} (see {self.prog} --help)\n")

    def _print_message(self, message: str, file: Any = None) -> None:
        # argparse swallows write errors here: --help into a full disk would exit 0 having written nothing.
        if message:
            (file or sys.stderr).write(message)


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="monitor", description="Financial news sentiment monitor")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = sub.add_parser("run", help="the daemon: Kafka -> classifier -> database")
    run.set_defaults(fn=cmd_run)

    demo = sub.add_parser("demo", help="embedded demo: bundled broker, embedded PostgreSQL, generated news")
    demo.add_argument("--messages", type=positive_int, default=2000, help="generated headlines (default 2000)")
    demo.set_defaults(fn=cmd_demo)

    classify = sub.add_parser("classify", help="JSON lines on stdin -> JSON lines on stdout")
    classify.add_argument("--batch-size", type=positive_int, default=64)
    classify.add_argument("--device", choices=["auto", "cpu", "cuda"])
    classify.add_argument("--model", type=Path, help="checkpoint (default: the shipped one MONITOR_MODEL picks)")
    classify.add_argument("--precision", choices=["auto", "bf16", "fp32"], default="auto",
                          help="auto: bf16 on a GPU or a CPU with bf16 units, else fp32")
    classify.set_defaults(fn=cmd_classify)

    train = sub.add_parser("train", help="fine-tune the classifier on labelled CSVs")
    train.add_argument("--data", type=Path, help="folder of the labelled CSVs (default: the repository's data/, "
                       "or $MONITOR_SHARED_DATA)")
    train.add_argument("--topic-csv", type=Path, help="default: DATA/tfn_topic/topic_train.csv")
    train.add_argument("--sentiment-csv", type=Path, help="default: DATA/tfn_sentiment/sent_train.csv")
    train.add_argument("--sentfin-csv", type=Path, help="default: DATA/sentfin/SEntFiN.csv")
    train.add_argument("--classes", type=Path, help="default: DATA/tfn_topic/classes.txt")
    train.add_argument("--out", type=Path, required=True, help="checkpoint file to write (.safetensors)")
    train.add_argument("--epochs", type=positive_int, default=5)
    train.add_argument("--batch-size", type=positive_int, default=32)
    train.add_argument("--lr", type=positive_float, default=1e-4)
    train.add_argument("--seed", type=int, default=13, help="initialisation and batch order")
    train.add_argument("--split-seed", type=int, default=13, help="the dev split: keep it across an ensemble")
    train.add_argument("--teacher", type=Path, action="append", default=[],
                       help="distil from this trained checkpoint (repeat for an ensemble; same files and split)")
    train.add_argument("--distill-weight", type=unit_interval, default=0.5,
                       help="share of the loss that matches the teachers (default 0.5)")
    train.add_argument("--distill-temperature", type=positive_float, default=2.0)
    train.add_argument("--distill-all-rows", action="store_true",
                       help="each head also matches the teachers on the other task's rows (cross-task distillation)")
    train.add_argument("--layers", type=positive_int, help="encoder blocks of the student (default: all 6)")
    train.add_argument("--init-from", type=Path,
                       help="trained checkpoint whose blocks, embedding norm and heads start the student")
    train.add_argument("--init-blocks", type=block_list,
                       help="which blocks of --init-from, e.g. 0,3,5 (default: the subset that agrees most with it)")
    train.add_argument("--device", choices=["auto", "cpu", "cuda"])
    train.add_argument("--model-version")
    train.add_argument("--sentfin-own-head", action="store_true", help="train SEntFiN on its own sentiment head")
    train.add_argument("--tiny", action="store_true", help="tiny random-init config (tests)")
    train.add_argument("--limit", type=positive_int, help="examples per file (tests)")
    train.add_argument("--max-steps", type=positive_int)
    train.set_defaults(fn=cmd_train)

    ev = sub.add_parser("evaluate", help="metrics of the classifier on labelled CSVs")
    ev.add_argument("--topic-csv", type=Path)
    ev.add_argument("--sentiment-csv", type=Path)
    ev.add_argument("--sentfin-csv", type=Path)
    ev.add_argument("--model", type=Path)
    ev.add_argument("--device", choices=["auto", "cpu", "cuda"])
    ev.add_argument("--limit", type=positive_int)
    ev.add_argument("--report", type=Path, default=Path("evaluation.json"))
    ev.set_defaults(fn=cmd_evaluate)

    ingest = sub.add_parser("ingest", help="a JSON-lines file through decode -> classify -> store")
    ingest.add_argument("--file", type=Path, required=True)
    ingest.add_argument("--quiet", action="store_true")
    ingest.set_defaults(fn=cmd_ingest)

    produce = sub.add_parser("produce", help="publish a JSON-lines file to the Kafka topic")
    produce.add_argument("--file", type=Path, required=True)
    produce.add_argument("--quiet", action="store_true")
    produce.set_defaults(fn=cmd_produce)

    add_backtest_parser(sub, _settings)
    add_sql_parser(sub)
    add_history_parsers(sub, _settings)
    add_deadletters_parser(sub, _settings)

    database = sub.add_parser("db", help="database schema and maintenance")
    database.add_argument(
        "db_command", choices=["upgrade", "current", "rebuild-rollups", "url", "stop"],
        help="rebuild-rollups: recompute the hourly rollups, e.g. after loading rows with plain SQL; url: the URL "
             "of the database in use (password hidden), for psql and BI tools; stop: stop the embedded server",
    )
    database.set_defaults(fn=cmd_db)
    return p


def main(argv: list[str] | None = None) -> int:
    """Every failure is one line on stderr: `monitor CMD: error: ...`. Known failures (bad input, settings,
    an unreachable database or broker) exit 2, anything else 1 with its exception type (its traceback goes to
    the log at DEBUG: MONITOR_LOG_LEVEL=DEBUG shows it). Startup logs nothing at INFO before a command has
    done something, so a command that fails at the start prints exactly that one line."""
    try:
        try:
            args = build_parser().parse_args(argv)
        except SystemExit:  # --help, or a usage error (already one line): --help's output must reach stdout
            sys.stdout.flush()
            raise
    except OSError as e:
        _discard_stdout()
        if isinstance(e, BrokenPipeError):  # `monitor --help | head`
            return 0
        return _fail("", f"cannot write output: {e.strerror}", 1)
    command = args.command
    try:
        code = _run(args)
        sys.stdout.flush()  # here, not at interpreter exit, where a full disk would only print a warning
        return code
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # `monitor classify | head`: the reader has all it wants; not an error
        _discard_stdout()
        return 0
    except Exception as e:
        if isinstance(e, OSError) and e.errno in _OUTPUT_ERRNOS:  # stdout to /dev/full, a full or quota'd disk
            _discard_stdout()
            where = f" {e.filename}" if e.filename else " output"
            return _fail(command, f"cannot write{where}: {e.strerror}", 1)
        log.debug("monitor %s failed", command, exc_info=True)
        _discard_stdout_if_broken()
        return _fail(command, f"unexpected {type(e).__name__}: {_one_line(str(e))} "
                              "(MONITOR_LOG_LEVEL=DEBUG shows the traceback)", 1)


# Write errors that mean "the output cannot take more": no space, file too big, quota, I/O error.
_OUTPUT_ERRNOS = {errno.ENOSPC, errno.EFBIG, errno.EDQUOT, errno.EIO}


def _run(args: argparse.Namespace) -> int:
    """The command, with its known failures turned into one line and exit 2."""
    command = args.command
    try:
        return int(args.fn(args))
    except (UserError, ConfigError, FileNotFoundError, ValueError) as e:
        return _fail(command, str(e), 2)
    except (BrokenPipeError, KeyboardInterrupt):
        raise
    except Exception as e:
        if isinstance(e, _loaded_known_failures()):
            return _fail(command, str(e), 2)
        if isinstance(e, OSError) and e.errno in _OUTPUT_ERRNOS:
            raise
        if _database_transient(e):  # database down, unreachable or hung at start: say so, no traceback
            first = _one_line(str(e)).removeprefix("database unavailable: ")  # DatabaseUnavailable already says so
            return _fail(command, f"database unavailable: {first[:200]}", 2)
        raise


# Known failures of the floors below, by the module that defines them. They are looked up only in modules already
# imported: an exception of a module never imported cannot have been raised, and importing storage (SQLAlchemy,
# Alembic, psycopg) and kafka-python just to ask would cost every command, `monitor classify` included, a second.
_KNOWN_FAILURES = (
    ("consumers.source", "BrokerUnavailable"),
    ("storage.db", "SchemaMissing"),
    ("storage.embedded", "EmbeddedServerError"),
)


def _loaded_known_failures() -> tuple[type[BaseException], ...]:
    return tuple(getattr(sys.modules[m], name) for m, name in _KNOWN_FAILURES if m in sys.modules)


def _database_transient(e: Exception) -> bool:
    """storage.db.is_transient, asked only where a database driver was loaded (else no database call ran)."""
    if "sqlalchemy" not in sys.modules and "psycopg" not in sys.modules:
        return False
    from storage.db import is_transient

    return is_transient(e)


def _one_line(text: str) -> str:
    """The first non-empty line, control characters escaped, at most 500 characters: error text may quote
    hostile input (a file name, a value) and must not break the line or drive the terminal."""
    first = next((line for line in text.strip().splitlines() if line.strip()), "")
    clean = "".join(ch if ch.isprintable() else repr(ch)[1:-1] for ch in first.strip())
    return clean if len(clean) <= 500 else clean[:497] + "..."


def _fail(command: str, message: str, code: int) -> int:
    prog = f"monitor {command}" if command else "monitor"
    print(f"{prog}: error: {_one_line(message) or 'failed'}", file=sys.stderr, flush=True)
    return code


def _discard_stdout() -> None:
    """Point stdout at /dev/null, so the interpreter's final flush of what is still buffered cannot fail
    again and print a second error (Python's documented recipe for EPIPE)."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):  # stdout closed or not a real file (tests): nothing will be flushed there
        pass


def _discard_stdout_if_broken() -> None:
    try:
        sys.stdout.flush()
    except (OSError, ValueError):
        _discard_stdout()


if __name__ == "__main__":
    sys.exit(main())
