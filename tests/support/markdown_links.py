"""Every link in the repository's Markdown resolves inside the repository (docs/testing.md).

``python -m tests.support.markdown_links`` prints each broken link and exits 1; the unit test
``tests/unit/test_markdown_links.py`` runs the same check in ``make test``. The rules:

1. A relative link or image names a file or folder of the repository: tracked, or new and not
   ignored, so a clone has it (an ignored file such as ``artifacts/...`` does not count). It
   never climbs out of the repository (``..`` past its root) and never starts with ``/``.
2. A ``#fragment`` names a heading of the Markdown file it points to (GitHub's anchors: lower
   case, punctuation dropped, spaces to ``-``, ``-1``, ``-2``... for repeats), or an explicit
   ``<a id=...>``. Other files take no fragment: line numbers move.
3. An absolute link is for what the repository cannot hold: it is ``https`` to a host of
   :data:`EXTERNAL_HOSTS` (a third party's console or manual), or any scheme-``http(s)`` link to
   a reader's own machine or an example host (``localhost``, ``example.com``...). The
   repository's own documentation is never linked by URL.
4. The files of :data:`SELF_CONTAINED` (the API contract) hold no absolute link at all.
5. No file, code and comments included, names the ``shared/`` folder that sits beside a
   development checkout (by a path climbing up to it): a user's clone has no such folder.
"""

from __future__ import annotations

import posixpath
import re
import subprocess
import sys
import unicodedata
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit

REPO_ROOT = Path(__file__).resolve().parents[2]

# Third parties whose pages the docs may link to (subdomains included): what this repository
# cannot hold. Add a host here, in review, when a doc needs another one.
EXTERNAL_HOSTS = frozenset({"stripe.com", "openapi-ts.dev"})
# A reader's own machine, and names reserved for examples (RFC 2606, RFC 6761).
LOCAL_OR_EXAMPLE_HOSTS = frozenset({"localhost", "127.0.0.1", "example.com", "example.org"})
LOCAL_OR_EXAMPLE_SUFFIXES = (".localhost", ".example", ".invalid", ".test")
# Documents that must read whole from a clone: no absolute link at all.
SELF_CONTAINED = frozenset({"docs/api.md"})
# A path into the folder beside a development checkout, which a user's clone does not have.
BESIDE_THE_CLONE = re.compile(r"(?<![\w./-])(?:\.\./)+shared/")

_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
_CODE_SPAN = re.compile(r"(`+)(?!`)(.+?)(?<!`)\1(?!`)", re.DOTALL)
_INLINE_LINK = re.compile(
    r"!?\[(?P<text>(?:[^\[\]]|\[[^\[\]]*\])*)\]"
    r"\(\s*(?P<target><[^<>\n]*>|[^\s()]*(?:\([^\s()]*\)[^\s()]*)*)"
    r"""(?:\s+(?:"[^"]*"|'[^']*'|\([^()]*\)))?\s*\)"""
)
_REFERENCE_DEFINITION = re.compile(r"^ {0,3}\[[^\]]+\]:[ \t]*(?P<target><[^>]*>|\S+)", re.M)
_AUTOLINK = re.compile(r"<(?P<target>[A-Za-z][A-Za-z0-9+.-]{1,31}:[^<>\s]*)>")
_HTML_ATTRIBUTE = re.compile(r"""<[A-Za-z][^>]*?\b(?:href|src)\s*=\s*["'](?P<target>[^"']*)["']""")
_BARE_URL = re.compile(r"""(?<![\w/])https?://[^\s<>()\[\]"'`]+""")
_ATX_HEADING = re.compile(r"^ {0,3}(#{1,6})(?:[ \t]+(.*?))?(?:[ \t]+#+)?[ \t]*$")
_SETEXT_UNDERLINE = re.compile(r"^ {0,3}(=+|-+)[ \t]*$")
_HTML_ANCHOR = re.compile(r"""<a\s[^>]*?\b(?:id|name)\s*=\s*["']([^"']+)["']""")
_HTML_TAG = re.compile(r"<[^>]+>")
_EMPHASIS_UNDERSCORES = re.compile(r"(?<!\w)_+(?=\S)|(?<=\S)_+(?!\w)")


@dataclass(frozen=True, order=True)
class Problem:
    """One link that does not resolve, where it is and why."""

    path: str
    line: int
    target: str
    reason: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.target}: {self.reason}"


@dataclass(frozen=True)
class Link:
    line: int
    target: str


def blank_fences(text: str) -> str:
    """``text`` with its fenced code blocks emptied (line numbers kept)."""
    lines = text.split("\n")
    fence: str | None = None
    for number, line in enumerate(lines):
        opening = _FENCE.match(line)
        if fence is None and opening:
            fence = opening.group(1)
            lines[number] = ""
        elif fence is not None:
            closing = line.strip()
            if closing.startswith(fence[0] * len(fence)) and not closing.strip(fence[0]):
                fence = None
            lines[number] = ""
    return "\n".join(lines)


def blank_code(text: str) -> str:
    """``text`` with fenced code blocks and code spans replaced by blanks (line breaks and
    offsets kept), so what is shown as code is never read as a link."""
    return _CODE_SPAN.sub(lambda span: re.sub(r"[^\n]", " ", span.group(0)), blank_fences(text))


def links(text: str) -> Iterator[Link]:
    """Every link and image of a Markdown text: inline, reference definitions, autolinks,
    HTML ``href``/``src`` and the bare URLs GitHub turns into links."""
    prose = blank_code(text)
    claimed: list[tuple[int, int]] = []
    for pattern in (_INLINE_LINK, _REFERENCE_DEFINITION, _AUTOLINK, _HTML_ATTRIBUTE):
        for match in pattern.finditer(prose):
            claimed.append(match.span())
            target = match.group("target").strip()
            if target.startswith("<") and target.endswith(">"):
                target = target[1:-1]
            yield Link(prose.count("\n", 0, match.start("target")) + 1, target)
    for match in _BARE_URL.finditer(prose):
        if not any(start <= match.start() < end for start, end in claimed):
            url = match.group(0).rstrip(".,:;!?*_~")
            yield Link(prose.count("\n", 0, match.start()) + 1, url)


def github_anchor(heading: str) -> str:
    """The anchor GitHub gives a heading: its text (markup dropped) in lower case, without
    punctuation or symbols but ``-`` and ``_``, each space a ``-``."""
    spans: list[str] = []

    def keep_span(match: re.Match[str]) -> str:
        spans.append(match.group(2).strip())
        return f"\x00{len(spans) - 1}\x00"

    text = _CODE_SPAN.sub(keep_span, heading)
    text = _INLINE_LINK.sub(lambda link: "" if link.group(0)[0] == "!" else link["text"], text)
    text = _HTML_TAG.sub("", text).replace("*", "")
    text = _EMPHASIS_UNDERSCORES.sub("", text)
    text = re.sub(r"\x00(\d+)\x00", lambda index: spans[int(index.group(1))], text)
    kept = (
        char
        for char in text.strip().lower()
        if char in " -_" or unicodedata.category(char)[0] in "LNM"
    )
    return "".join(kept).replace(" ", "-")


def anchors(text: str) -> frozenset[str]:
    """Every anchor of a Markdown text: its headings' (repeats numbered as GitHub does) and
    explicit ``<a id>``/``<a name>``."""
    lines = blank_fences(text).split("\n")
    headings: list[str] = []
    for number, line in enumerate(lines):
        atx = _ATX_HEADING.match(line)
        if atx:
            headings.append(atx.group(2) or "")
        elif (
            number > 0
            and _SETEXT_UNDERLINE.match(line)
            and lines[number - 1].strip()
            and not _ATX_HEADING.match(lines[number - 1])
            and not lines[number - 1].lstrip().startswith(("|", "-", "*", ">"))
        ):
            headings.append(lines[number - 1].strip())
    found = set(_HTML_ANCHOR.findall(text))
    seen: dict[str, int] = {}
    for heading in headings:
        slug = github_anchor(heading)
        count = seen.get(slug, 0)
        seen[slug] = count + 1
        found.add(slug if count == 0 else f"{slug}-{count}")
    return frozenset(found)


def _within(host: str, domains: Iterable[str]) -> bool:
    """``host`` is one of ``domains``, or a subdomain of one."""
    return any(host == domain or host.endswith(f".{domain}") for domain in domains)


def _host_is_local_or_example(host: str) -> bool:
    return _within(host, LOCAL_OR_EXAMPLE_HOSTS) or host.endswith(LOCAL_OR_EXAMPLE_SUFFIXES)


def absolute_link_problem(path: str, scheme: str, host: str) -> str | None:
    """Why an absolute link (``scheme://host/...``) may not stand in ``path``, or None."""
    if path in SELF_CONTAINED:
        return "the API contract links only inside the repository"
    if scheme not in {"http", "https"}:
        return f"a {scheme}: link; only relative links and https to a third party"
    if _host_is_local_or_example(host):
        return None
    if scheme != "https":
        return "plain http; link a third party over https"
    if _within(host, EXTERNAL_HOSTS):
        return None
    return (
        f"{host} is not a known third party: link this repository's files relatively, or add "
        "the host to EXTERNAL_HOSTS in tests/support/markdown_links.py"
    )


class Repository:
    """The files a clone has (``files``: paths relative to ``root``, with ``/``)."""

    def __init__(self, root: Path, files: Iterable[str]) -> None:
        self.root = root
        self.files = frozenset(files)
        self.folders = frozenset(
            folder for file in self.files for folder in _ancestors(posixpath.dirname(file))
        )
        self._anchors: dict[str, frozenset[str]] = {}

    @classmethod
    def from_git(cls, root: Path = REPO_ROOT) -> Repository:
        """The files a clone of ``root`` has."""
        return cls(root, clone_files(root))

    def markdown_files(self) -> list[str]:
        return sorted(name for name in self.files if name.endswith(".md"))

    def text(self, path: str) -> str:
        return (self.root / path).read_text(encoding="utf-8")

    def anchors_of(self, path: str) -> frozenset[str]:
        if path not in self._anchors:
            self._anchors[path] = anchors(self.text(path))
        return self._anchors[path]

    def check(self, paths: Iterable[str] | None = None) -> list[Problem]:
        """Every problem of the given Markdown files (default: all of them), sorted."""
        chosen = self.markdown_files() if paths is None else list(paths)
        return sorted(problem for path in chosen for problem in self.check_file(path))

    def check_file(self, path: str) -> Iterator[Problem]:
        text = self.text(path)
        yield from _paths_beside_the_clone(path, text)
        for link in links(text):
            reason = self.link_problem(path, link.target)
            if reason:
                yield Problem(path, link.line, link.target, reason)

    def paths_beside_the_clone(self) -> list[Problem]:
        """Paths to the folder beside the clone in every other text file (code, comments,
        configs)."""
        problems: list[Problem] = []
        for path in sorted(self.files):
            if path.endswith(".md"):
                continue
            try:
                text = self.text(path)
            except UnicodeDecodeError:  # an image, a binary: nothing to read
                continue
            problems.extend(_paths_beside_the_clone(path, text))
        return problems

    def link_problem(self, path: str, target: str) -> str | None:
        """Why ``target``, linked from the Markdown file ``path``, does not resolve, or None."""
        parts = urlsplit(target)
        if parts.scheme:
            return absolute_link_problem(path, parts.scheme.lower(), (parts.hostname or ""))
        if parts.netloc:
            return "a protocol-relative link"
        if parts.path.startswith("/"):
            return "starts at /: link relatively to this file"
        resolved = posixpath.normpath(posixpath.join(posixpath.dirname(path), unquote(parts.path)))
        if resolved == ".." or resolved.startswith("../"):
            return "outside the repository (a clone does not have it)"
        if parts.path and resolved not in self.files and resolved not in self.folders:
            return "no such file in the repository (tracked, or new and not ignored)"
        return self._fragment_problem(path if not parts.path else resolved, parts.fragment)

    def _fragment_problem(self, resolved: str, fragment: str) -> str | None:
        if not fragment:
            return None
        if not resolved.endswith(".md"):
            return "a fragment on a file that is not Markdown (line numbers move)"
        if unquote(fragment) not in self.anchors_of(resolved):
            return f"no heading of {resolved} has the anchor #{fragment}"
        return None


def clone_files(root: Path = REPO_ROOT) -> list[str]:
    """The files a clone has: tracked, or new and not ignored, that exist on disk (paths
    relative to ``root``, with ``/``)."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=root,
        capture_output=True,
        check=True,
    ).stdout.decode()
    return sorted(name for name in listed.split("\0") if name and (root / name).is_file())


def _paths_beside_the_clone(path: str, text: str) -> Iterator[Problem]:
    for number, line in enumerate(text.split("\n"), start=1):
        for found in BESIDE_THE_CLONE.finditer(line):
            yield Problem(path, number, found.group(0), "a path beside the clone")


def _ancestors(folder: str) -> Iterator[str]:
    while folder:
        yield folder
        folder = posixpath.dirname(folder)


def main(argv: list[str]) -> int:
    """Check every Markdown file of the repository (or those named); print each problem."""
    repository = Repository.from_git()
    named = [posixpath.normpath(name) for name in argv if name.endswith(".md")]
    problems = repository.check(named or None)
    if not named:
        problems += repository.paths_beside_the_clone()
    for problem in problems:
        print(problem)
    if problems:
        print(f"{len(problems)} link(s) that do not resolve inside the repository")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
