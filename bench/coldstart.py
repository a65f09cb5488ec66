"""Cold-start import cost of each function, beside the floor, in fresh interpreters.

For every function of template.yaml, a fresh interpreter imports the handler module (as
Lambda's init phase does) and reports how long the import took; the *floor* is a module that
only creates the boto3 clients the function's policy statements say it needs, imported the
same way. Runs alternate (handler, floor, handler...), so drift in a shared machine hits both
alike. Each figure is the median of several runs, with min and max; the ratio to the floor is
given for the medians and for the minima (the least disturbed runs), and a function meets its
goal (issue #20) only when both are within it. Each run also reports its CPU time: on a
machine shared with other work, the ratio of CPU medians is the steadiest of the three, and
is printed beside them (the goal is judged on wall time, which is what a cold start costs).
Interpreter start-up itself is not counted (it is the same for both).

Beside it, the size of each function's built package (`make build`, .aws-sam/build): its own
code, unzipped and zipped as Lambda receives it, and the shared layer every function carries.
Both tables print as markdown, ready for docs.

    python -m bench.coldstart            # BENCH_RUNS=7 by default
"""

from __future__ import annotations

import io
import json
import os
import platform
import statistics
import subprocess
import sys
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from billing_devstack.cfn import load_yaml
from billing_devstack.template import FunctionSpec, load_template

REPO_ROOT = Path(__file__).resolve().parents[1]
OUTPUT = REPO_ROOT / "artifacts" / "bench" / "coldstart.json"
BUILD_DIR = REPO_ROOT / ".aws-sam" / "build"
LAYER_ID = "SharedLayer"

# Issue #20's goals: a handler's import at most this many times its floor. The hot paths (the
# authorizer before every request, the entitlement reads) get the tightest.
HOT_PATH_GOAL = 1.15
GOAL = 1.3
HOT_PATHS = frozenset(
    {"ApiKeyAuthorizerFunction", "EntitlementCheckFunction", "EntitlementsFunction"}
)


HANDLER_PROBE = """
import sys, time
sys.path[:0] = {paths!r}
started, cpu = time.perf_counter(), time.process_time()
import app
print(time.perf_counter() - started, time.process_time() - cpu)
"""

FLOOR_PROBE = """
import time
started, cpu = time.perf_counter(), time.process_time()
{imports}
print(time.perf_counter() - started, time.process_time() - cpu)
"""


@dataclass(frozen=True)
class Spread:
    median_s: float
    min_s: float
    max_s: float

    @classmethod
    def of(cls, samples: Sequence[float]) -> Spread:
        return cls(statistics.median(samples), min(samples), max(samples))


@dataclass(frozen=True)
class ColdStart:
    function: str
    floor_clients: list[str]
    handler: Spread
    floor: Spread
    handler_cpu: Spread
    floor_cpu: Spread

    @property
    def ratio(self) -> float | None:
        """Handler over floor, medians; None where the floor is a bare interpreter (nothing
        to divide)."""
        if not self.floor_clients:
            return None
        return self.handler.median_s / self.floor.median_s

    @property
    def ratio_of_minima(self) -> float | None:
        """Handler over floor, the fastest run of each."""
        if not self.floor_clients:
            return None
        return self.handler.min_s / self.floor.min_s

    @property
    def cpu_ratio(self) -> float | None:
        """Handler over floor, CPU time, medians: what the import does, whatever else runs."""
        if not self.floor_clients:
            return None
        return self.handler_cpu.median_s / self.floor_cpu.median_s

    @property
    def goal(self) -> float | None:
        """The most ``ratio`` may be; None where there is no ratio."""
        if not self.floor_clients:
            return None
        return HOT_PATH_GOAL if self.function in HOT_PATHS else GOAL

    @property
    def meets_goal(self) -> bool | None:
        if self.ratio is None or self.ratio_of_minima is None or self.goal is None:
            return None
        return max(self.ratio, self.ratio_of_minima) <= self.goal

    @property
    def extra_s(self) -> float:
        return self.handler.median_s - self.floor.median_s


@dataclass(frozen=True)
class PackageSize:
    """A built artifact: bytes on disk, and bytes zipped (what is uploaded to Lambda)."""

    files: int
    unzipped_bytes: int
    zipped_bytes: int

    @classmethod
    def of(cls, directory: Path) -> PackageSize:
        files = sorted(path for path in directory.rglob("*") if path.is_file())
        archive = io.BytesIO()
        with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zipped:
            for path in files:
                zipped.write(path, path.relative_to(directory))
        unzipped = sum(path.stat().st_size for path in files)
        return cls(len(files), unzipped, len(archive.getvalue()))


def _kib(size: int) -> str:
    return f"{size / 1024:,.0f} KiB" if size < 1024 * 1024 else f"{size / 1024 / 1024:,.1f} MiB"


def floor_clients(raw_template: Mapping[str, Any], function_id: str) -> list[str]:
    """The boto3 clients a function needs: one per AWS service its policy statements name
    (``dynamodb:GetItem`` -> ``dynamodb``). template.yaml grants each function exactly the
    calls its code makes (tests/unit/test_least_privilege.py), so these are its clients."""
    policies = raw_template["Resources"][function_id]["Properties"].get("Policies", [])
    services = set()
    for policy in policies:
        if not isinstance(policy, Mapping) or set(policy) != {"Statement"}:
            raise ValueError(f"{function_id}: a policy that is no inline Statement: {policy!r}")
        for statement in policy["Statement"]:
            actions = statement["Action"]
            for action in [actions] if isinstance(actions, str) else actions:
                services.add(action.split(":", 1)[0])
    return sorted(services)


def floor_code(clients: Sequence[str]) -> str:
    if not clients:
        return FLOOR_PROBE.format(imports="pass")
    lines = ["import boto3"] + [f"boto3.client({name!r})" for name in clients]
    return FLOOR_PROBE.format(imports="\n".join(lines))


def run_probe(code: str, env: Mapping[str, str]) -> tuple[float, float]:
    """Wall and CPU seconds of one probe, in a fresh interpreter."""
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env=dict(env),
        check=True,
        cwd=REPO_ROOT,
    )
    wall, cpu = result.stdout.strip().splitlines()[-1].split()
    return float(wall), float(cpu)


def lambda_like_env(spec: FunctionSpec) -> dict[str, str]:
    env = {
        "PATH": os.environ.get("PATH", ""),
        "AWS_REGION": "us-east-1",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "bench",
        "AWS_SECRET_ACCESS_KEY": "bench",
        "AWS_LAMBDA_FUNCTION_NAME": spec.logical_id,
    }
    env.update(spec.environment)
    return env


def measure(spec: FunctionSpec, clients: list[str], runs: int) -> ColdStart:
    env = lambda_like_env(spec)
    paths = [str(spec.code_dir)] + [str(d) for d in spec.layer_dirs]
    handler_code = HANDLER_PROBE.format(paths=paths)
    # One discarded run each, so bytecode is cached as in the built package.
    run_probe(handler_code, env)
    run_probe(floor_code(clients), env)
    handler, floor = [], []
    for _ in range(runs):  # interleaved, so drift in the machine hits both alike
        handler.append(run_probe(handler_code, env))
        floor.append(run_probe(floor_code(clients), env))
    return ColdStart(
        spec.logical_id,
        clients,
        handler=Spread.of([wall for wall, _ in handler]),
        floor=Spread.of([wall for wall, _ in floor]),
        handler_cpu=Spread.of([cpu for _, cpu in handler]),
        floor_cpu=Spread.of([cpu for _, cpu in floor]),
    )


def _ms(spread: Spread) -> str:
    return f"{spread.median_s * 1000:.0f} ({spread.min_s * 1000:.0f}-{spread.max_s * 1000:.0f})"


def _x(ratio: float | None) -> str:
    return "-" if ratio is None else f"{ratio:.2f}x"


def _layer_line(layer: PackageSize) -> str:
    return (
        f"{LAYER_ID}, which every function carries: {layer.files:,} files, "
        f"{_kib(layer.unzipped_bytes)} unzipped, {_kib(layer.zipped_bytes)} zipped."
    )


def size_table(packages: Mapping[str, PackageSize], layer: PackageSize) -> str:
    rows = ["| built package | files | unzipped | zipped |", "|---|--:|--:|--:|"]
    for name, size in [*packages.items(), (f"{LAYER_ID} (every function)", layer)]:
        rows.append(
            f"| {name} | {size.files:,} | {_kib(size.unzipped_bytes)} | {_kib(size.zipped_bytes)} |"
        )
    return "\n".join(rows)


def table(results: Sequence[ColdStart], layer: PackageSize) -> str:
    rows = [
        "| function | handler import, ms (min-max) | floor, ms (min-max) | ratio (medians) "
        "| ratio (minima) | ratio (CPU) | goal | met | floor creates |",
        "|---|--:|--:|--:|--:|--:|--:|:-:|---|",
    ]
    for r in results:
        goal = f"<= {r.goal:.2f}x" if r.goal is not None else "-"
        met = "-" if r.meets_goal is None else ("yes" if r.meets_goal else "**no**")
        rows.append(
            f"| {r.function} | {_ms(r.handler)} | {_ms(r.floor)} | {_x(r.ratio)} "
            f"| {_x(r.ratio_of_minima)} | {_x(r.cpu_ratio)} | {goal} | {met} "
            f"| {', '.join(r.floor_clients) or '(nothing)'} |"
        )
    rows.append(
        f"\nGoal: at most {HOT_PATH_GOAL}x the floor for {', '.join(sorted(HOT_PATHS))},"
        f" {GOAL}x for the others, for both wall-time ratios (medians, minima); none where the"
        " floor creates nothing. Handlers build their AWS clients on first use, not at import:"
        " the first request of a container pays that part. " + _layer_line(layer)
    )
    return "\n".join(rows)


def main() -> int:
    runs = int(os.environ.get("BENCH_RUNS", "7"))
    if not (BUILD_DIR / LAYER_ID).is_dir():
        print("no built packages in .aws-sam/build: run `make build` first", file=sys.stderr)
        return 2
    template_path = REPO_ROOT / "template.yaml"
    raw = load_yaml(template_path.read_text())
    template = load_template(template_path, "http://127.0.0.1:8101")
    results = []
    for index, spec in enumerate(template.functions.values(), start=1):
        print(f"[{index}/{len(template.functions)}] {spec.logical_id} ({runs} runs)", flush=True)
        results.append(measure(spec, floor_clients(raw, spec.logical_id), runs))
    packages = {spec_id: PackageSize.of(BUILD_DIR / spec_id) for spec_id in template.functions}
    layer = PackageSize.of(BUILD_DIR / LAYER_ID)
    OUTPUT.parent.mkdir(parents=True, exist_ok=True)
    report = {
        "benchmark": "coldstart",
        "unit": "seconds",
        "runs": runs,
        "python": platform.python_version(),
        "machine": platform.machine(),
        "functions": [
            {
                **asdict(r),
                "ratio": r.ratio and round(r.ratio, 3),
                "ratio_of_minima": r.ratio_of_minima and round(r.ratio_of_minima, 3),
                "cpu_ratio": r.cpu_ratio and round(r.cpu_ratio, 3),
                "goal": r.goal,
                "meets_goal": r.meets_goal,
                "extra_s": round(r.extra_s, 4),
                "package": asdict(packages[r.function]),
            }
            for r in results
        ],
        "layer": {"name": LAYER_ID, **asdict(layer)},
    }
    OUTPUT.write_text(json.dumps(report, indent=2) + "\n")
    print()
    print(table(results, layer))
    print()
    print(size_table(packages, layer))
    print(f"\nwritten to {OUTPUT.relative_to(REPO_ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
