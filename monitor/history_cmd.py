"""Commands over the stored history: `monitor reclassify`, `monitor prune`, `monitor model list|use`.

- reclassify: classify stored articles again with another model version, beside the old rows (nothing is
  overwritten), in chunks of one transaction each, with a progress bar; an interrupted run resumes where it
  stopped because it only picks articles the new version has not classified yet.
- prune: retention. A dry run unless --yes; deletes articles with their classifications and tickers, never
  alerts, and keeps the hourly rollups.
- model use: which version the analyst views show (stored in the database, see storage/history.py).
"""

from __future__ import annotations

import argparse
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from monitor.argtypes import EARLIEST, duration, instant, positive_int
from monitor.config import Settings


def add_history_parsers(subparsers: Any, settings_of: Any) -> None:
    """Register the commands; ``settings_of(args)`` is cli's settings loader (overrides + logging)."""
    re_ = subparsers.add_parser(
        "reclassify", help="classify stored articles again with another model version (resumable)",
        description="Writes the new version's results beside the old ones; nothing is overwritten.",
    )
    re_.add_argument("--since", type=instant, required=True, help="published at or after (ISO 8601, UTC default)")
    re_.add_argument("--until", type=instant, help="published before (default: no end)")
    re_.add_argument("--model", type=Path, required=True, help="checkpoint of the model version to apply")
    re_.add_argument("--batch-size", type=positive_int, default=256, help="articles per transaction (default 256)")
    re_.add_argument("--device", choices=["auto", "cpu", "cuda"])
    re_.add_argument("--quiet", action="store_true", help="no progress bar")
    re_.set_defaults(fn=lambda args: cmd_reclassify(args, settings_of(args)))

    prune = subparsers.add_parser(
        "prune", help="delete articles older than a duration (dry run unless --yes)",
        description="Deletes articles with their classifications and tickers. Alerts and rollups are kept.",
    )
    prune.add_argument("--older-than", type=duration, required=True, help="e.g. 365d, 26w, 12h")
    prune.add_argument("--yes", action="store_true", help="really delete (default: only count)")
    prune.add_argument("--chunk", type=positive_int, default=5000, help="articles per transaction (default 5000)")
    prune.set_defaults(fn=lambda args: cmd_prune(args, settings_of(args)))

    model = subparsers.add_parser("model", help="stored model versions and which one the views show")
    model_sub = model.add_subparsers(dest="model_command", required=True, metavar="SUBCOMMAND")
    model_sub.add_parser("list", help="stored versions, article counts, the preferred one")
    use = model_sub.add_parser("use", help="make the views show VERSION (or --newest) and rebuild the rollups")
    target = use.add_mutually_exclusive_group(required=True)
    target.add_argument("version", nargs="?", help="a stored model version")
    target.add_argument("--newest", action="store_true", help="each article's newest classification (default)")
    model.set_defaults(fn=lambda args: cmd_model(args, settings_of(args)))


def cmd_reclassify(args: argparse.Namespace, settings: Settings) -> int:
    from tqdm import tqdm

    from monitor import app
    from storage.history import count_unclassified, next_unclassified
    from storage.repository import store_classifications

    if args.until is not None and args.until <= args.since:
        raise ValueError(f"--until ({args.until.isoformat()}) must be after --since ({args.since.isoformat()})")
    if not args.model.is_file():
        raise ValueError(f"no such model checkpoint: {args.model}")
    database = app.open_database(settings)
    classifier = app.load_classifier(settings.model_copy(update={"model_path": args.model}), device=args.device)
    version = classifier.model_version
    todo = database.read(lambda s: count_unclassified(s, version, args.since, args.until))
    done, after_id = 0, 0
    with tqdm(total=todo, unit="article", disable=args.quiet, desc=f"reclassify {version}") as bar:
        while True:
            with database.sessions() as session:
                chunk = next_unclassified(session, version, args.since, args.until, after_id=after_id,
                                          limit=args.batch_size)
            if not chunk:
                break
            predictions = classifier.predict([item.text for item in chunk], batch_size=settings.model_batch_size)
            results = [(item.article_id, p) for item, p in zip(chunk, predictions, strict=True)]
            with database.sessions.begin() as session:
                store_classifications(session, results)
            after_id = chunk[-1].article_id
            done += len(chunk)
            bar.update(len(chunk))
    print(f"reclassified {done} article(s) published {_span(args.since, args.until)} with model {version}")
    print("the views show each article's newest classification unless a version is preferred (`monitor model list`,"
          " `monitor model use VERSION`)")
    return 0


def _span(since: datetime, until: datetime | None) -> str:
    return f"from {since.isoformat()}" + (f" until {until.isoformat()}" if until else "")


def cmd_prune(args: argparse.Namespace, settings: Settings) -> int:
    from monitor import app
    from storage.history import PruneCounts, count_older, prune_chunk

    # On an hour boundary: every hour that keeps articles keeps all of them, so rebuilding the rollups from
    # the remaining articles (monitor model use / db rebuild-rollups) never truncates an hour.
    cutoff = (max(datetime.now(UTC) - args.older_than, EARLIEST)).replace(minute=0, second=0, microsecond=0)
    database = app.open_database(settings)
    plan: PruneCounts = database.read(lambda s: count_older(s, cutoff))
    what = (f"{plan.articles} article(s), {plan.classifications} classification(s), {plan.tickers} ticker row(s) "
            f"published before {cutoff.isoformat()}")
    if not args.yes:
        print(f"dry run: would delete {what}; alerts and hourly rollups are kept. Add --yes to delete.")
        return 0
    deleted = [0, 0, 0]
    while True:
        with database.sessions.begin() as session:
            chunk = prune_chunk(session, cutoff, args.chunk)
        if not chunk.articles:
            break
        deleted = [deleted[0] + chunk.articles, deleted[1] + chunk.classifications, deleted[2] + chunk.tickers]
    print(f"deleted {deleted[0]} article(s), {deleted[1]} classification(s), {deleted[2]} ticker row(s) "
          f"published before {cutoff.isoformat()}; alerts and hourly rollups kept")
    return 0


def cmd_model(args: argparse.Namespace, settings: Settings) -> int:
    from monitor import app
    from storage.history import model_versions, prefer_version, preferred_version

    database = app.open_database(settings)
    if args.model_command == "use":
        version = None if args.newest else args.version
        with database.sessions.begin() as session:
            prefer_version(session, version)
        shown = f"model version {version}" if version else "each article's newest classification"
        print(f"views now show {shown}; hourly rollups rebuilt")
        return 0
    preferred = database.read(preferred_version)
    for v in database.read(model_versions):
        mark = "*" if v.model_version == preferred else " "
        print(f"{mark} {v.model_version:<32} {v.articles:>10} article(s)  "
              f"{v.first_classified_at:%Y-%m-%d %H:%M} .. {v.last_classified_at:%Y-%m-%d %H:%M} UTC")
    print(f"views show: {preferred or 'each article newest classification (no version preferred)'}")
    return 0
