"""Child processes that cannot outlive the stack, and small waits and checks around them.

Every child asks the kernel for SIGTERM when its parent goes (``PR_SET_PDEATHSIG``). The kernel
means the parent *thread*, so children are all forked from one long-lived spawner thread:
forked from a gateway request thread, a worker would be killed when that request ends.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import errno
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

PR_SET_PDEATHSIG = 1
_LIBC = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
_SPAWNER = ThreadPoolExecutor(max_workers=1, thread_name_prefix="local-spawner")


def _child_setup(parent_pid: int) -> Callable[[], None]:
    """The preexec_fn: die with the parent, and leave Ctrl-C to the parent to handle."""

    def setup() -> None:
        _LIBC.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        if os.getppid() != parent_pid:  # the parent died before prctl took effect
            os._exit(1)

    return setup


def spawn(args: Sequence[str], **popen_kwargs: Any) -> subprocess.Popen[bytes]:
    """Start a child tied to this process's lifetime (see the module docstring)."""
    setup = _child_setup(os.getpid())
    future = _SPAWNER.submit(lambda: subprocess.Popen(args, preexec_fn=setup, **popen_kwargs))  # noqa: PLW1509 - prctl needs it
    return future.result()


def stop_processes(processes: Iterable[subprocess.Popen[Any]], grace: float = 5.0) -> None:
    """SIGTERM everyone at once, then SIGKILL whoever is still there after ``grace`` seconds."""
    alive = [process for process in processes if process.poll() is None]
    for process in alive:
        with contextlib.suppress(ProcessLookupError):
            process.terminate()
    deadline = time.monotonic() + grace
    for process in alive:
        try:
            process.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def port_in_use(port: int, host: str = "127.0.0.1") -> bool:
    """True when something listens on host:port (TIME_WAIT leftovers do not count)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            return exc.errno == errno.EADDRINUSE
    return False


def wait_until(check: Callable[[], bool], timeout: float, interval: float = 0.2) -> bool:
    """Poll ``check`` until it is true or ``timeout`` seconds pass."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(interval)
    return check()


def pid_alive(pid: int) -> bool:
    """True when a process with that pid exists (and is not a zombie)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat", encoding="utf-8") as stat:  # noqa: PTH123
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def tail(path: os.PathLike[str] | str, lines: int = 40) -> str:
    """The last lines of a log file, for error messages."""
    try:
        with open(path, encoding="utf-8", errors="replace") as log:  # noqa: PTH123
            return "".join(log.readlines()[-lines:])
    except OSError:
        return ""


def processes_of(state_dir: Path) -> list[int]:
    """Live processes of the stack whose state dir is ``state_dir``: every process it starts
    (java, moto, workers) inherits LOCAL_STATE_DIR, found here in /proc (Linux)."""
    marker = f"LOCAL_STATE_DIR={state_dir}".encode()
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            environ = (proc / "environ").read_bytes().split(b"\0")
            state = (proc / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):
            continue
        if marker in environ and state != "Z":
            found.append(int(proc.name))
    return found
