"""What ``sam build`` puts in the Lambda layer: the runtime package, billing, beside its
third-party dependencies, and nothing else of this repository: no billing_admin (the CLI, the
catalog, the CloudFormation adapter), no billing_devstack, no tests, and no module of billing
that no function can reach.

``make build`` runs this right after ``sam build``: it reads the build's output, so it needs
one (.aws-sam/build/).
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Iterator
from pathlib import Path

import pytest

from tests.support.lambda_runtime import REPO_ROOT

BUILD_DIR = REPO_ROOT / ".aws-sam" / "build"
LAYER_DIR = BUILD_DIR / "SharedLayer" / "python"
RUNTIME_PACKAGE = "billing"
# sam build copies the layer's ContentUri (layers/shared/) whole, its pip requirements included.
COPIED_BY_SAM = "requirements.txt"


@pytest.fixture(scope="module")
def layer() -> Path:
    if not LAYER_DIR.is_dir():
        pytest.fail(f"no sam build output in {LAYER_DIR}: run `make build`, which runs this test")
    return LAYER_DIR


def installed_by_pip(layer: Path) -> set[str]:
    """Top-level names the layer's third-party distributions installed (their RECORD files)."""
    names = set()
    for record in layer.glob("*.dist-info/RECORD"):
        for line in record.read_text().splitlines():
            names.add(line.split(",", 1)[0].split("/", 1)[0])
    return names


def module_name(package_root: Path, path: Path) -> str:
    parts = path.relative_to(package_root).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _runs(node: ast.AST) -> Iterator[ast.AST]:
    """The nodes under ``node`` that can run: an ``if TYPE_CHECKING:`` body never does."""
    for child in ast.iter_child_nodes(node):
        if isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test):
            running: list[ast.AST] = list(child.orelse)
        else:
            running = [child]
        for each in running:
            yield each
            yield from _runs(each)


def imported_by(source: str, module: str, is_package: bool) -> set[str]:
    """Every module name an import statement in ``source`` names, at any depth (imports inside
    functions, which run lazily, count), with the names imported from a module as candidates
    for submodules."""
    names: set[str] = set()
    for node in _runs(ast.parse(source)):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = module.split(".")[: len(module.split(".")) - node.level + is_package]
                base = ".".join([*parts, node.module] if node.module else parts)
            else:
                base = node.module or ""
            names.add(base)
            names.update(f"{base}.{alias.name}" for alias in node.names)
    return names


def reached_from(entry_points: Iterable[Path], modules: dict[str, Path]) -> set[str]:
    """The modules of ``modules`` (name -> file) that the entry points import, directly or
    through each other, with the packages that hold them."""
    reached: set[str] = set()
    pending = [
        name for entry in entry_points for name in imported_by(entry.read_text(), "app", False)
    ]
    while pending:
        name = pending.pop()
        for depth in range(name.count(".") + 1):  # a.b.c, a.b, a: importing a.b.c runs each
            candidate = name.rsplit(".", depth)[0]
            if candidate in modules and candidate not in reached:
                reached.add(candidate)
                path = modules[candidate]
                pending += imported_by(path.read_text(), candidate, path.name == "__init__.py")
    return reached


def test_the_layer_holds_billing_and_third_party_packages_only(layer: Path) -> None:
    ours = {
        entry.name
        for entry in layer.iterdir()
        if entry.name not in installed_by_pip(layer) and entry.name != "__pycache__"
    }

    assert ours == {RUNTIME_PACKAGE, COPIED_BY_SAM}


@pytest.mark.parametrize(
    "shipped",
    [
        "billing_admin",
        "billing_devstack",
        "tests",
        "billing/cli",
        "billing/domain/catalog.py",
        "billing/services/catalog.py",
        "billing/adapters/stripe_catalog.py",
        "billing/adapters/cloudformation.py",
    ],
)
def test_no_admin_devstack_or_test_code_is_in_the_layer(layer: Path, shipped: str) -> None:
    assert not (layer / shipped).exists()


def test_every_module_of_billing_in_the_layer_is_reached_by_a_function(layer: Path) -> None:
    modules = {module_name(layer, path): path for path in (layer / RUNTIME_PACKAGE).rglob("*.py")}
    functions = sorted(BUILD_DIR.glob("*/app.py"))
    assert functions, f"no function's app.py under {BUILD_DIR}"

    unreached = set(modules) - reached_from(functions, modules)

    assert unreached == set(), "in the layer, but no function imports them"
