"""The launcher: children die with their parent, and only with it; a process that does not come
up fails with its log; a stopped group leaves nothing behind."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path
from textwrap import dedent

import pytest

from billing_devstack import launcher

SLEEPER = [sys.executable, "-c", "import time; time.sleep(60)"]


def test_a_child_dies_when_its_parent_is_killed() -> None:
    parent_code = dedent(f"""
        import time
        from billing_devstack import launcher
        child = launcher.spawn({SLEEPER!r})
        print(child.pid, flush=True)
        time.sleep(60)
    """)
    parent = subprocess.Popen([sys.executable, "-c", parent_code], stdout=subprocess.PIPE)
    assert parent.stdout is not None
    child_pid = int(parent.stdout.readline())
    assert launcher.pid_alive(child_pid)

    parent.kill()  # SIGKILL: no chance to clean up, only the kernel's PR_SET_PDEATHSIG
    parent.wait()

    assert launcher.wait_until(lambda: not launcher.pid_alive(child_pid), 5.0)


def test_a_child_spawned_from_a_short_lived_thread_outlives_the_thread() -> None:
    children: list[subprocess.Popen[bytes]] = []
    thread = threading.Thread(target=lambda: children.append(launcher.spawn(SLEEPER)))
    thread.start()
    thread.join()
    time.sleep(0.5)
    (child,) = children
    try:
        assert child.poll() is None  # a gateway request thread ends; its worker must not
    finally:
        launcher.stop_processes([child], grace=1.0)
    assert child.returncode is not None


def test_stop_processes_kills_what_ignores_sigterm() -> None:
    code = (
        "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); print(1, flush=True)"
    )
    stubborn = launcher.spawn(
        [sys.executable, "-c", code + "; time.sleep(60)"], stdout=subprocess.PIPE
    )
    assert stubborn.stdout is not None
    stubborn.stdout.readline()
    launcher.stop_processes([stubborn], grace=0.5)
    assert stubborn.returncode == -9  # killed: waiting out its sleep would have exited 0


def test_a_process_that_exits_before_it_answers_fails_with_the_end_of_its_log(
    tmp_path: Path,
) -> None:
    crash = [sys.executable, "-c", "print('no java here', flush=True); raise SystemExit(3)"]

    with pytest.raises(launcher.LaunchError) as failed:
        launcher.launch_ready("the probe", crash, tmp_path / "probe.log", lambda: False, 30)

    assert "the probe exited (3)" in str(failed.value)
    assert "no java here" in str(failed.value)


def test_a_process_that_never_answers_is_stopped_and_named(tmp_path: Path) -> None:
    log = tmp_path / "sleeper.log"
    sleeper = [
        sys.executable,
        "-c",
        "import os, time; print(os.getpid(), flush=True); time.sleep(60)",
    ]

    with pytest.raises(launcher.LaunchError, match="the sleeper did not answer within 2 s"):
        launcher.launch_ready("the sleeper", sleeper, log, lambda: False, 2.0)

    assert not launcher.pid_alive(int(log.read_text().split()[0]))


def test_stopping_a_group_reaches_what_its_leader_left_behind(tmp_path: Path) -> None:
    """The leader exits on SIGTERM without stopping its child, as a stack that failed to stop
    a backend would: the group's SIGTERM takes the child."""
    leader_code = dedent(f"""
        import signal, subprocess, sys, time
        child = subprocess.Popen({SLEEPER!r})
        print(child.pid, flush=True)
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
        time.sleep(60)
    """)
    leader = launcher.launch(
        "leader", [sys.executable, "-c", leader_code], tmp_path / "leader.log", new_session=True
    )
    assert launcher.wait_until(lambda: leader.log_text().strip() != "", 10)
    child_pid = int(leader.log_text().split()[0])
    assert set(launcher.group_members(leader.process.pid)) == {leader.process.pid, child_pid}

    assert launcher.stop_group(leader.process.pid, grace=0.5)

    assert leader.process.wait(5) == 0  # the leader stopped on its SIGTERM
    assert not launcher.pid_alive(child_pid)
    assert launcher.group_members(leader.process.pid) == []
