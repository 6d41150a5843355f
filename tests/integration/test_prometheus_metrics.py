"""Labelled counters exist at 0 from startup (issue 13, item 8): a dashboard's rate() shows 0, not nothing.

Each check runs in a fresh interpreter, so the registry has seen no event. The started daemon's /metrics is
checked in tests/e2e/test_alert_startup.py.
"""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

from alerts.surge import SCOPES
from monitor import metrics

REPO = Path(__file__).resolve().parents[2]
LABELLED = {
    "monitor_alerts_fired_total": ("scope", SCOPES),
    "monitor_alert_deliveries_total": ("outcome", ("sent", "retried", "failed")),
    "monitor_detection_runs_total": ("outcome", ("ran", "skipped_locked", "database_unavailable", "error")),
}
COUNTERS = {"ALERTS_FIRED": SCOPES, "ALERT_DELIVERIES": metrics.DELIVERY_OUTCOMES,
            "DETECTION_RUNS": metrics.DETECTION_OUTCOMES}


def fresh(code: str) -> str:
    proc = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout


def assert_all_at_zero(exposition: str) -> None:
    for name, (label, values) in LABELLED.items():
        for value in values:
            line = re.search(rf'^{name}{{{label}="{value}"}} (\S+)$', exposition, re.M)
            assert line, f"{name}{{{label}={value!r}}} missing from:\n{exposition[-3000:]}"
            assert float(line.group(1)) == 0.0


def test_a_fresh_registry_exports_every_label_value_at_zero() -> None:
    assert_all_at_zero(fresh("import monitor.metrics\nfrom prometheus_client import generate_latest\n"
                             "print(generate_latest().decode())"))


def test_the_ops_server_shows_them_before_any_event() -> None:
    # monitor.http alone, as a process that imported nothing else of ours would serve it
    out = fresh(
        "import urllib.request\n"
        "from monitor.http import OpsServer\n"
        "ops = OpsServer('127.0.0.1', 0, lambda: (True, {})).start()\n"
        "print(urllib.request.urlopen(f'http://127.0.0.1:{ops.port}/metrics', timeout=10).read().decode())\n"
        "ops.stop()\n"
    )
    assert_all_at_zero(out)


def test_the_known_values_are_the_label_sets_the_code_counts() -> None:
    """Every literal label value the code counts is one of the pre-created ones (a new outcome, e.g. a new
    kind of skip, must be added to monitor.metrics, or it would again appear only with its first event)."""
    seen: dict[str, set[str]] = {name: set() for name in COUNTERS}
    for path in [*REPO.glob("monitor/**/*.py"), *REPO.glob("alerts/*.py")]:
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "labels"
                    and isinstance(node.func.value, ast.Attribute) and node.func.value.attr in COUNTERS):
                counter = node.func.value.attr
                for arg in node.args:
                    for c in ast.walk(arg):
                        if isinstance(c, ast.Constant) and isinstance(c.value, str):
                            assert c.value in COUNTERS[counter], f"{path.name}: {counter}.labels({c.value!r})"
                            seen[counter].add(c.value)
    assert seen["DETECTION_RUNS"] >= {"ran", "skipped_locked", "database_unavailable", "error"}
    assert tuple(LABELLED["monitor_detection_runs_total"][1]) == metrics.DETECTION_OUTCOMES
    assert tuple(LABELLED["monitor_alert_deliveries_total"][1]) == metrics.DELIVERY_OUTCOMES
