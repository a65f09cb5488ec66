"""What each function's code can reach, found statically with mypy's types.

Starting from a function's ``app.py`` (its module-level code and everything defined in it),
every reference to a function, method or class of the service's own code is followed; a call
on a Protocol goes to every class of the reachable code that implements it. Following stops at
the modules that call AWS (:data:`AWS_MODULES`): what is reached there is reported, as the
entry points whose AWS calls tests/support/aws_calls.py declares. Along the way the settings
fields read, the ``os.environ`` names read and the observability objects used are collected.

Over-approximates on purpose (a referenced function counts as called), never under: mypy
--strict types every receiver, so a call the code can make is a call this finds.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

from mypy import build
from mypy.config_parser import parse_config_file
from mypy.find_sources import create_source_list
from mypy.nodes import (
    Decorator,
    Expression,
    FuncDef,
    MemberExpr,
    MypyFile,
    Node,
    OverloadedFuncDef,
    RefExpr,
    SymbolNode,
    TypeInfo,
    Var,
)
from mypy.options import Options
from mypy.subtypes import is_subtype
from mypy.types import Instance, Type, TypeType, UnionType, get_proper_type

from tests.support.lambda_runtime import FUNCTIONS_DIR, REPO_ROOT

# The only modules that call AWS APIs (ruff bans boto3/pynamodb elsewhere; billing.secrets reads
# SSM through Powertools parameters). What the service reaches in them is an entry point.
AWS_MODULES = (
    "billing.adapters.dynamo.",
    "billing.adapters.sqs_queue",
    "billing.adapters.kms_signer",
    "billing.secrets",
)
OWN_CODE = ("billing.", "functions.")
SETTINGS_CLASS = "billing.config.Settings"
# Reads os.environ whole, for the variables Settings' fields name: what a function needs of
# them is the fields it reads (Reach.settings), not this loop.
SETTINGS_LOADER = "billing.config._environment"


@dataclass
class Reach:
    """What one function's code can reach."""

    functions: set[str] = field(default_factory=set)
    aws_entry_points: set[str] = field(default_factory=set)
    settings: set[str] = field(default_factory=set)
    environ: set[str] = field(default_factory=set)
    names: set[str] = field(default_factory=set)  # module-level objects referenced (fullnames)


def _is_aws_module(fullname: str) -> bool:
    return fullname.startswith(AWS_MODULES) or fullname in {m.rstrip(".") for m in AWS_MODULES}


def _own(fullname: str) -> bool:
    return fullname.startswith(OWN_CODE)


class _Program:
    """The service's code, type-checked once."""

    def __init__(self) -> None:
        options = Options()
        parse_config_file(
            options, lambda: None, str(REPO_ROOT / "pyproject.toml"), sys.stdout, sys.stderr
        )
        options.export_types = True
        options.preserve_asts = True
        options.incremental = False
        options.cache_dir = "/dev/null"
        options.follow_imports = "skip"  # third-party code is not followed: types suffice
        options.ignore_missing_imports = True
        options.plugins = []
        paths = [str(p) for p in sorted(FUNCTIONS_DIR.glob("*/app.py"))]
        paths.append(str(REPO_ROOT / "layers" / "shared" / "billing"))
        result = build.build(sources=create_source_list(paths, options), options=options)
        self.files: dict[str, MypyFile] = result.files
        self.types: dict[Expression, Type] = result.types

    def module_of(self, fullname: str) -> str:
        """The module defining ``fullname`` (the longest known module prefix)."""
        parts = fullname.split(".")
        for end in range(len(parts), 0, -1):
            candidate = ".".join(parts[:end])
            if candidate in self.files:
                return candidate
        return ""


# Attributes of mypy's nodes that point elsewhere (definitions, types), not to code inside.
_NOT_CHILDREN = frozenset(
    {"node", "info", "original_def", "def_var", "var", "expanded", "local_nodes", "alias_node"}
)


def _children(node: Node) -> Iterator[Node]:
    for name in getattr(type(node), "__mypyc_attrs__", ()):
        if name in _NOT_CHILDREN:
            continue
        value = getattr(node, name, None)
        for item in value if isinstance(value, (list, tuple)) else (value,):
            # a dict display's items are (key, value) pairs
            for part in item if isinstance(item, tuple) else (item,):
                if isinstance(part, Node) and not isinstance(part, (TypeInfo, Var)):
                    yield part


def _references(node: Node) -> list[RefExpr]:
    """Every name and attribute reference inside ``node`` (nested definitions included)."""
    found: list[RefExpr] = []
    seen: set[int] = set()
    stack = [node]
    while stack:
        current = stack.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, RefExpr):
            found.append(current)
        stack.extend(_children(current))
    return found


_ENVIRON_READ = re.compile(r"os\.(?:environ\.get\(|environ\[|getenv\()\s*(['\"])(\w+)\1")


class _Walker:
    def __init__(self, program: _Program, reach: Reach) -> None:
        self.program = program
        self.reach = reach
        self.pending: list[FuncDef] = []
        self.classes: set[TypeInfo] = set()
        self.protocol_calls: set[tuple[TypeInfo, str]] = set()

    # ---------------------------------------------------------------- what is referenced
    def reach_node(self, node: SymbolNode | None) -> None:
        if isinstance(node, Decorator):
            self.reach_node(node.func)
        elif isinstance(node, OverloadedFuncDef):
            for item in node.items:
                self.reach_node(item)
        elif isinstance(node, FuncDef):
            self.reach_function(node)
        elif isinstance(node, TypeInfo):
            self.reach_class(node)
        elif isinstance(node, Var) and _own(node.fullname):
            self.reach.names.add(node.fullname)

    def reach_function(self, func: FuncDef) -> None:
        name = func.fullname
        if not _own(name) or name in self.reach.functions:
            return
        self.reach.functions.add(name)
        if _is_aws_module(self.program.module_of(name)):
            self.reach.aws_entry_points.add(name)
            return
        self.pending.append(func)

    def reach_class(self, info: TypeInfo) -> None:
        if not _own(info.fullname) or info in self.classes:
            return
        self.classes.add(info)
        for special in ("__init__", "__post_init__", "__call__", "__enter__", "__exit__"):
            symbol = info.names.get(special)
            if symbol is not None:
                self.reach_node(symbol.node)
        # A call already seen on a Protocol this class implements now reaches it too.
        for protocol, method in list(self.protocol_calls):
            self.dispatch(protocol, method)

    def member(self, receiver: Type | None, name: str) -> None:
        typ = get_proper_type(receiver) if receiver is not None else None
        if isinstance(typ, UnionType):
            for item in typ.items:
                self.member(item, name)
            return
        if isinstance(typ, TypeType):
            typ = get_proper_type(typ.item)
        if not isinstance(typ, Instance):
            return
        info = typ.type
        if info.fullname == SETTINGS_CLASS:
            self.reach.settings.add(name)
            return
        if info.is_protocol and _own(info.fullname):
            self.protocol_calls.add((info, name))
            self.dispatch(info, name)
            return
        symbol = info.get(name)
        if symbol is not None:
            self.reach_node(symbol.node)

    def dispatch(self, protocol: TypeInfo, method: str) -> None:
        """A Protocol's method reaches that method of every reachable class implementing it."""
        for info in list(self.classes):
            if info.is_protocol or not is_subtype(Instance(info, []), Instance(protocol, [])):
                continue
            symbol = info.get(method)
            if symbol is not None:
                self.reach_node(symbol.node)

    # ---------------------------------------------------------------- walking code
    def visit(self, node: Node) -> None:
        for expr in _references(node):
            if isinstance(expr, MemberExpr) and expr.node is None:
                self.member(self.program.types.get(expr.expr), expr.name)
            else:  # a name, or a module's or class's attribute that mypy resolved
                self.reach_node(expr.node)

    def environ_reads(self, path: str, first: int, last: int | None) -> None:
        lines = Path(path).read_text().splitlines()[first - 1 : last]
        text = "\n".join(lines)
        self.reach.environ.update(match[2] for match in _ENVIRON_READ.finditer(text))
        assert text.count("os.environ") + text.count("os.getenv") == len(
            _ENVIRON_READ.findall(text)
        ), f"{path}:{first}: os.environ read with a name that is not a literal"

    def run(self, tree: MypyFile) -> None:
        self.visit(tree)  # module-level code, and every definition in it
        self.environ_reads(tree.path, 1, None)
        while self.pending:
            func = self.pending.pop()
            self.visit(func.body)
            for argument in func.arguments:  # defaults are evaluated too
                if argument.initializer is not None:
                    self.visit(argument.initializer)
            path = self.program.files[self.program.module_of(func.fullname)].path
            if func.fullname != SETTINGS_LOADER:
                self.environ_reads(path, func.line, func.end_line)


@cache
def program() -> _Program:
    return _Program()


@cache
def reach_of(directory: str) -> Reach:
    """What ``functions/<directory>/app.py`` can reach."""
    prog = program()
    reach = Reach()
    walker = _Walker(prog, reach)
    walker.run(prog.files[f"functions.{directory}.app"])
    return reach


def function_directories() -> Iterator[str]:
    for path in sorted(FUNCTIONS_DIR.glob("*/app.py")):
        yield path.parent.name


def source_path(module: str) -> Path:
    return Path(program().files[module].path)
