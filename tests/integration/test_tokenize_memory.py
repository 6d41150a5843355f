"""The tokenizer's memory on hostile sizes, measured in a fresh interpreter (its peak RSS): a batch of
megabyte texts costs the bounded prefix, not the whole text (issue 13, item 2)."""

from __future__ import annotations

import subprocess
import sys

_MEASURE = """
import re, time
from model.tokenize import NewsTokenizer

def peak_mb():
    return int(re.search(r"VmHWM:\\s+(\\d+)", open("/proc/self/status").read()).group(1)) / 1024

tok = NewsTokenizer(128)
tok.ids(["warm up"])
texts = ["Title %d\\n" % i + "shares fell sharply after the guidance cut " * 23_000 for i in range(32)]
open("/proc/self/clear_refs", "w").write("5")  # resets VmHWM (the peak) to the current RSS
before = peak_mb()
started = time.perf_counter()
ids = tok.ids(texts)
took = time.perf_counter() - started
print(f"{took:.3f} {peak_mb() - before:.0f} {min(map(len, ids))}")
"""


def test_batch_of_megabyte_texts_stays_small() -> None:
    """32 texts of ~1 MB (the message size limit): the whole-text encode grew the process by ~140 MB each."""
    out = subprocess.run([sys.executable, "-c", _MEASURE], capture_output=True, text=True, timeout=120, check=True)
    took, grew_mb, shortest = out.stdout.split()
    assert int(shortest) == 128
    assert float(took) < 2.0, out.stdout
    assert float(grew_mb) < 50, out.stdout
