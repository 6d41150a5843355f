"""bench/cpu.py reads /proc: the CPU it attributes to this process must be the CPU this process burned."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

from bench import cpu


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_this_process_cpu_is_counted_as_the_monitor() -> None:
    before = cpu.cpu_seconds(broker_pid=None)
    started = time.process_time()
    while time.process_time() - started < 0.3:  # burn 0.3 s of CPU
        sum(i * i for i in range(1000))
    used = cpu.delta(before, cpu.cpu_seconds(broker_pid=None))
    assert 0.25 <= used["monitor"] <= 1.0, used
    assert used["machine"] >= 0.2, used  # every CPU's busy time includes ours (one tick is 10 ms)
    assert used["broker"] == 0.0 and used["postgresql"] >= 0.0


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_the_broker_is_attributed_by_its_pid() -> None:
    # The child burns 0.4 s of CPU between "go" and "done", then waits (alive, so still counted).
    burn = (
        "import sys, time\n"
        "sys.stdin.readline()\n"
        "t = time.process_time()\n"
        "while time.process_time() - t < 0.4: pass\n"
        "print('done', flush=True)\n"
        "sys.stdin.read()\n"
    )
    child = subprocess.Popen([sys.executable, "-c", burn], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert child.stdin is not None and child.stdout is not None
    try:
        before = cpu.cpu_seconds(broker_pid=child.pid)
        child.stdin.write("go\n")
        child.stdin.flush()
        assert child.stdout.readline().strip() == "done"
        used = cpu.delta(before, cpu.cpu_seconds(broker_pid=child.pid))
    finally:
        child.communicate("")
    assert 0.35 <= used["broker"] <= 0.6, used
    assert used["monitor"] < 0.2, used  # this process only waited
