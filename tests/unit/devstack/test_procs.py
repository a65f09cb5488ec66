"""Children of the stack die with it, and only with it."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from textwrap import dedent

from billing_devstack import procs
from billing_devstack.config import REPO_ROOT

SLEEPER = [sys.executable, "-c", "import time; time.sleep(60)"]


def test_a_child_dies_when_its_parent_is_killed() -> None:
    parent_code = dedent(f"""
        import sys, time
        sys.path.insert(0, {str(REPO_ROOT)!r})
        from billing_devstack import procs
        child = procs.spawn({SLEEPER!r})
        print(child.pid, flush=True)
        time.sleep(60)
    """)
    parent = subprocess.Popen([sys.executable, "-c", parent_code], stdout=subprocess.PIPE)
    assert parent.stdout is not None
    child_pid = int(parent.stdout.readline())
    assert procs.pid_alive(child_pid)

    parent.kill()  # SIGKILL: no chance to clean up, only the kernel's PR_SET_PDEATHSIG
    parent.wait()

    assert procs.wait_until(lambda: not procs.pid_alive(child_pid), 5.0)


def test_a_child_spawned_from_a_short_lived_thread_outlives_the_thread() -> None:
    children: list[subprocess.Popen[bytes]] = []
    thread = threading.Thread(target=lambda: children.append(procs.spawn(SLEEPER)))
    thread.start()
    thread.join()
    time.sleep(0.5)
    (child,) = children
    try:
        assert child.poll() is None  # a gateway request thread ends; its worker must not
    finally:
        procs.stop_processes([child], grace=1.0)
    assert child.returncode is not None


def test_stop_processes_kills_what_ignores_sigterm() -> None:
    code = (
        "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); print(1, flush=True)"
    )
    stubborn = procs.spawn(
        [sys.executable, "-c", code + "; time.sleep(60)"], stdout=subprocess.PIPE
    )
    assert stubborn.stdout is not None
    stubborn.stdout.readline()
    procs.stop_processes([stubborn], grace=0.5)
    assert stubborn.returncode == -9  # killed: waiting out its sleep would have exited 0
