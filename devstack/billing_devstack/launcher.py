"""The one module that starts and stops processes: a whole local stack, and what runs beside it.

``make run``/``up``/``down`` (through :mod:`billing_devstack.control`), ``make invoke``, the
integration and acceptance tests and the benchmarks all start their processes here: each with a
log file of its own, on free ports, awaited until it answers (or failed with the end of its
log), and stopped with SIGTERM, then SIGKILL after a grace period.

A stack (``python -m billing_devstack run``) runs in a process group of its own: stopping it
sends SIGTERM to the stack alone, so it stops its children in order (a persisting stack saves
its queues while the moto server still runs), then SIGTERM and SIGKILL to whatever of the group
is left, so nothing it started outlives it.

Every child of this process asks the kernel for SIGTERM when its parent goes
(``PR_SET_PDEATHSIG``). The kernel means the parent *thread*, so children are all forked from
one long-lived spawner thread: forked from a gateway request thread, a worker would be killed
when that request ends.

Only the standard library is imported at module level: the stack's runtime imports this module
on every start, and boto3 only where a check needs it.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import errno
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from billing_devstack.config import REPO_ROOT, LocalConfig

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_sqs import SQSClient

PR_SET_PDEATHSIG = 1
_LIBC = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
_SPAWNER = ThreadPoolExecutor(max_workers=1, thread_name_prefix="local-spawner")

HTTP_OK = 200
STACK_START_TIMEOUT = 90.0
# The stack's own stop: a drain of up to 20 s (persisting), then its backends.
STACK_STOP_GRACE = 40.0
GROUP_STOP_GRACE = 5.0
BACKEND_START_TIMEOUT = 60.0


class LaunchError(Exception):
    """A process did not come up; the message says which, why, and ends with its log."""


class AdminCommandError(Exception):
    """billing-admin, run against a stack, exited non-zero; the message holds its stderr."""


# ---------------------------------------------------------------------- processes
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


def free_port() -> int:
    """A TCP port nothing listens on now, on loopback (the kernel's choice)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def port_in_use(port: int, host: str = "127.0.0.1") -> bool:
    """True when something listens on host:port (TIME_WAIT leftovers do not count)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            return exc.errno == errno.EADDRINUSE
    return False


def wait_until(check: Callable[[], object], timeout: float, interval: float = 0.2) -> bool:
    """Poll ``check`` until its answer is true(thy) or ``timeout`` seconds pass."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(interval)
    return bool(check())


def succeeds(call: Callable[[], object], *errors: type[BaseException]) -> Callable[[], bool]:
    """A readiness check: true once ``call()`` returns without raising one of ``errors``."""

    def check() -> bool:
        try:
            call()
        except errors:
            return False
        return True

    return check


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


def group_members(pgid: int) -> list[int]:
    """Live (non-zombie) processes of a process group, from /proc."""
    members = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        state, group = fields[0], int(fields[2])
        if group == pgid and state != "Z":
            members.append(int(stat.parent.name))
    return members


def stop_group(pgid: int, grace: float = STACK_STOP_GRACE) -> bool:
    """SIGTERM the group's leader alone (a stack: it stops its children in order), then
    SIGTERM and SIGKILL whatever of the group remains. True once the group is gone."""
    steps = (
        (os.kill, signal.SIGTERM, grace),
        (os.killpg, signal.SIGTERM, GROUP_STOP_GRACE),
        (os.killpg, signal.SIGKILL, GROUP_STOP_GRACE),
    )
    for send, sig, wait in steps:
        try:
            send(pgid, sig)
        except ProcessLookupError:
            if not group_members(pgid):
                return True
            continue  # the leader is gone, some of its group is not
        if wait_until(lambda: not group_members(pgid), wait, 0.2):
            return True
    return not group_members(pgid)


@dataclass
class Launched:
    """One started process, its name (for messages) and the file its output goes to."""

    name: str
    process: subprocess.Popen[bytes]
    log: Path

    def log_text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def wait_ready(self, ready: Callable[[], bool], timeout: float, interval: float = 0.25) -> None:
        """Return once ``ready()`` is true; LaunchError (with the log's end) if the process
        exits first or ``timeout`` seconds pass."""
        came_up = wait_until(lambda: self.process.poll() is not None or ready(), timeout, interval)
        if self.process.poll() is not None or not came_up:
            why = (
                f"exited ({self.process.returncode})"
                if self.process.poll() is not None
                else "did not answer"
            )
            log = tail(self.log)
            raise LaunchError(f"{self.name} {why} within {timeout:.0f} s; its log:\n{log}")

    def stop(self, grace: float = 5.0) -> int | None:
        """SIGTERM, then SIGKILL after ``grace`` seconds; the exit status."""
        stop_processes([self.process], grace)
        return self.process.returncode


def launch(
    name: str,
    args: Sequence[str],
    log: Path,
    *,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    tied: bool = True,
    new_session: bool = False,
) -> Launched:
    """Start ``args`` with its output (stdout and stderr) in ``log`` and no stdin. ``tied``: it
    gets SIGTERM when this process dies; ``new_session``: its own process group, which a
    terminal's Ctrl-C does not reach (this process stops it)."""
    log.parent.mkdir(parents=True, exist_ok=True)
    options: dict[str, Any] = {
        "stdout": None,
        "stderr": subprocess.STDOUT,
        "stdin": subprocess.DEVNULL,
        "cwd": cwd,
        "env": None if env is None else dict(env),
        "start_new_session": new_session,
    }
    with log.open("ab") as output:  # append: a stack's workers write to the same file
        options["stdout"] = output
        process = spawn(args, **options) if tied else subprocess.Popen(args, **options)
    return Launched(name, process, log)


def launch_ready(
    name: str,
    args: Sequence[str],
    log: Path,
    ready: Callable[[], bool],
    timeout: float,
    **options: Any,
) -> Launched:
    """:func:`launch`, then wait until ``ready()``; stopped again, and LaunchError, if not."""
    launched = launch(name, args, log, **options)
    try:
        launched.wait_ready(ready, timeout)
    except LaunchError:
        launched.stop()
        raise
    return launched


# ---------------------------------------------------------------------- DynamoDB Local alone
@contextlib.contextmanager
def dynamodb_local(root: Path = REPO_ROOT) -> Iterator[str]:
    """DynamoDB Local alone (the stack's own jar and command), in memory, on a free port, for
    as long as the block runs; its URL."""
    from botocore.exceptions import BotoCoreError, ClientError

    from billing_devstack.resources import dynamodb_client
    from billing_devstack.stack import dynamodb_command, find_dynamodb_jar

    jar = find_dynamodb_jar(root)
    if jar is None:
        raise LaunchError("DynamoDB Local not found under node_modules: run `make setup` first")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    client = dynamodb_client(url)
    with tempfile.TemporaryDirectory(prefix="dynamodb-local-") as logs:
        launched = launch_ready(
            "DynamoDB Local",
            dynamodb_command(jar, port),
            Path(logs) / "dynamodb.log",
            succeeds(client.list_tables, BotoCoreError, ClientError),
            BACKEND_START_TIMEOUT,
        )
        try:
            yield url
        finally:
            launched.stop()


# ---------------------------------------------------------------------- a whole stack
def run_admin(
    argv: Sequence[str], env: Mapping[str, str], timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """``billing-admin ARGV`` (as ``python -m billing_admin``) with ``env``: what the tests, the
    benchmarks and the demo seed drive a stack with, as a person would."""
    return subprocess.run(
        [sys.executable, "-m", "billing_admin", *argv],
        env=dict(env),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def stack_environment(
    state_dir: Path, base: Mapping[str, str] | None = None, /, **extra: str
) -> dict[str, str]:
    """``base`` (this process's environment by default) without its LOCAL_* and STRIPE_*
    settings (so the Stripe stand-in runs), with free ports, ``state_dir``, and ``extra``."""
    environ = os.environ if base is None else base
    env = {k: v for k, v in environ.items() if not k.startswith(("LOCAL_", "STRIPE_"))}
    env.update(
        LOCAL_GATEWAY_PORT=str(free_port()),
        LOCAL_DYNAMODB_PORT=str(free_port()),
        LOCAL_MOTO_PORT=str(free_port()),
        LOCAL_STRIPE_PORT=str(free_port()),
        LOCAL_STATE_DIR=str(state_dir),
        **extra,
    )
    return env


def gateway_status(url: str, timeout: float = 2.0) -> int | None:
    """The HTTP status of a GET of ``url``, or None when nothing answers."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 - our own URL
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return exc.code
    except (OSError, urllib.error.URLError):
        return None


@dataclass
class StackProcess:
    """One ``python -m billing_devstack run`` started by :func:`start_stack`: how to reach it,
    drive it (billing-admin, AWS clients on its backends) and stop it."""

    launched: Launched
    env: dict[str, str]
    config: LocalConfig

    @property
    def process(self) -> subprocess.Popen[bytes]:
        return self.launched.process

    @property
    def log(self) -> Path:
        return self.launched.log

    @property
    def state_dir(self) -> Path:
        return self.config.state_dir

    @property
    def url(self) -> str:
        """The gateway's URL."""
        return self.config.gateway_url

    @property
    def dynamodb_url(self) -> str:
        return self.config.dynamodb_endpoint

    def log_text(self) -> str:
        return self.launched.log_text()

    def pid_of(self, child: str) -> int:
        """The pid of a child (dynamodb, moto) from its pid file."""
        return int((self.state_dir / f"{child}.pid").read_text())

    def dynamodb(self) -> DynamoDBClient:
        """A DynamoDB client on the stack's DynamoDB Local."""
        from billing_devstack.resources import dynamodb_client

        return dynamodb_client(self.config.dynamodb_endpoint, self.config.region)

    def sqs(self) -> SQSClient:
        """An SQS client on the stack's moto server."""
        from billing_devstack.resources import sqs_client

        return sqs_client(self.config.moto_endpoint, self.config.region)

    def admin(self, *argv: str, without: Sequence[str] = ()) -> Any:
        """Run the installed billing-admin against this stack (with the stack's environment
        less the variables in ``without``); its ``--json`` output."""
        env = {key: value for key, value in self.env.items() if key not in without}
        result = run_admin(["--json", *argv], env)
        if result.returncode != 0:
            raise AdminCommandError(f"billing-admin {' '.join(argv)}: {result.stderr.strip()}")
        return json.loads(result.stdout)

    def answers(self, path: str = "/health") -> bool:
        """True when the gateway answers 200 at ``path``."""
        return gateway_status(self.url + path) == HTTP_OK

    def wait_ready(self, timeout: float = STACK_START_TIMEOUT, path: str = "/health") -> None:
        """Wait until the gateway answers 200 at ``path``; stopped, and LaunchError, if not."""
        try:
            self.launched.wait_ready(lambda: self.answers(path), timeout)
        except LaunchError:
            self.stop()
            raise

    def stop(self, grace: float = STACK_STOP_GRACE) -> bool:
        """Stop the stack and everything it started (see the module docstring); True once all
        of it is gone."""
        if self.process.poll() is not None and not group_members(self.process.pid):
            return True  # stopped before: its pid may belong to another process by now
        gone = stop_group(self.process.pid, grace)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=GROUP_STOP_GRACE)  # reap it: gone means a zombie at most
        return gone


def start_stack(
    env: Mapping[str, str],
    *,
    log: Path | None = None,
    detached: bool = False,
    wait: bool = True,
    timeout: float = STACK_START_TIMEOUT,
    ready_path: str = "/health",
) -> StackProcess:
    """Start ``python -m billing_devstack run`` with ``env`` (its LOCAL_* settings: ports, state
    dir), output to ``log`` (default: the state dir's stack.log), in a process group of its own.

    ``detached`` (``make up``): it outlives this process; else it gets SIGTERM when this process
    dies. ``wait``: return once the gateway answers 200 at ``ready_path``, else LaunchError with
    the end of its log (the stack stopped).
    """
    config = LocalConfig.from_env(env)
    launched = launch(
        "the local stack",
        [sys.executable, "-m", "billing_devstack", "run"],
        log or config.log_file,
        env=env,
        cwd=config.root,
        tied=not detached,
        new_session=True,
    )
    stack = StackProcess(launched, dict(env), config)
    if wait:
        stack.wait_ready(timeout, ready_path)
    return stack


@contextlib.contextmanager
def running_stack(env: Mapping[str, str], **options: Any) -> Iterator[StackProcess]:
    """:func:`start_stack` for the length of a block; stopped however the block ends."""
    stack = start_stack(env, **options)
    try:
        yield stack
    finally:
        stack.stop()
