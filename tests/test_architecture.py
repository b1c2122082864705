"""The dependency rule, checked over the import graph of app/, attendance/ and media/.

The folders show the architecture only while the imports obey it: app/web and app/cli sit on
app/live, attendance and media; app/live sits on media's ports and the attendance domain; the domain
sees only vision's data types and configuration; vision and media are libraries that know nothing of
ours but attendance.errors. Every import statement counts, including those inside functions and under
`if TYPE_CHECKING:` (a type-only import still couples two modules); only import cycles ignore the
type-only ones, since those never run."""
from __future__ import annotations

import ast
import subprocess
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
OUR_PACKAGES = ("app", "attendance", "media")

VISION = "attendance.vision"
ERRORS = "attendance.errors"
# What the domain outside vision may import from it: the data types and the configuration checks
# that cross the boundary, and the package itself (its __init__ imports nothing).
VISION_PUBLIC = {VISION, f"{VISION}.types", f"{VISION}.config"}

# Enrolment adapters: the roster stores what vision measures on a person's face, so these domain
# modules call vision code beyond its types; they are the only ones allowed past VISION_PUBLIC, each
# to exactly the vision modules listed (and test_vision_adapters_list_is_current keeps this short).
VISION_ADAPTERS: dict[str, set[str]] = {
    # An uploaded enrolment photo becomes a face template: detect, align, check quality, embed.
    "attendance.roster.photos": {f"{VISION}.enrol"},
    # Each person's learned face geometry is the vision geometry model's state, stored per person.
    "attendance.roster.learned_geometry": {f"{VISION}.geometry.face_geometry"},
}

# Modules that must stay importable without the native vision stack (a web worker, a report job).
HEAVY_MODULES = ("dlib", "cv2", "onnxruntime", "onnx", "face_recognition", "face_recognition_models")


@dataclass(frozen=True)
class Import:
    """One edge of the graph: `source` names `target` at path:line."""

    source: str
    target: str
    path: Path
    line: int
    type_only: bool

    @property
    def where(self) -> str:
        return f"{self.path.relative_to(ROOT)}:{self.line}"

    def __str__(self) -> str:
        return f"{self.where}: {self.source} imports {self.target}"


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


@cache
def _files() -> dict[str, Path]:
    """Every module of ours, by dotted name."""
    return {
        _module_name(path): path
        for package in OUR_PACKAGES
        for path in sorted((ROOT / package).rglob("*.py"))
    }


def _is_ours(module: str) -> bool:
    return module.split(".")[0] in OUR_PACKAGES


def _within(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


def _resolve(module: str, path: Path, node: ast.ImportFrom) -> str:
    """The absolute module a `from ... import` names, relative forms included."""
    if node.level == 0:
        return node.module or ""
    package = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
    base = package[: len(package) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def _type_checking_lines(tree: ast.Module) -> set[int]:
    """Line numbers of the statements under `if TYPE_CHECKING:` blocks."""
    lines: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for stmt in node.body:
                lines.update(range(stmt.lineno, (stmt.end_lineno or stmt.lineno) + 1))
    return lines


def _targets(module: str, path: Path, node: ast.Import | ast.ImportFrom) -> Iterator[str]:
    """The most specific of our modules each name in one import statement refers to."""
    if isinstance(node, ast.Import):
        yield from (alias.name for alias in node.names)
        return
    base = _resolve(module, path, node)
    for alias in node.names:
        submodule = f"{base}.{alias.name}"
        yield submodule if submodule in _files() else base


@cache
def imports() -> tuple[Import, ...]:
    edges: set[Import] = set()
    for module, path in _files().items():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        type_only = _type_checking_lines(tree)
        for node in ast.walk(tree):
            if not isinstance(node, (ast.Import, ast.ImportFrom)) or getattr(node, "module", None) == "__future__":
                continue
            for target in _targets(module, path, node):
                if _is_ours(target):
                    edges.add(Import(module, target, path, node.lineno, node.lineno in type_only))
    return tuple(sorted(edges, key=lambda edge: (str(edge.path), edge.line, edge.target)))


def _fail_if(found: Iterable[object], why: str) -> None:
    """Fails naming every offender, one a line, without pytest's repetition of the assertion."""
    lines = sorted(str(item) for item in found)
    if lines:
        pytest.fail(f"{why}:\n  " + "\n  ".join(lines), pytrace=False)


def test_the_graph_is_read() -> None:
    """Guards the other tests against passing vacuously (a wrong root, a parser that sees nothing)."""
    sources = {edge.source for edge in imports()}
    assert {"app.web.app", "attendance.vision.pipeline", "media.server"} <= set(_files())
    assert any(_within(source, "attendance.vision") for source in sources)
    snippet = ast.parse("if TYPE_CHECKING:\n    import media.server\nimport media.pacing\n")
    assert _type_checking_lines(snippet) == {2}


def test_attendance_never_imports_app() -> None:
    _fail_if(
        (e for e in imports() if _within(e.source, "attendance") and _within(e.target, "app")),
        "the attendance domain must not depend on the app (the HTTP edge, the CLI, live sessions, settings)",
    )


def test_vision_imports_only_itself_and_errors() -> None:
    _fail_if(
        (
            e for e in imports()
            if _within(e.source, VISION) and not (_within(e.target, VISION) or e.target == ERRORS)
        ),
        f"{VISION} is a pure library: it may import only its own modules and {ERRORS}",
    )


def test_media_imports_only_itself_and_errors() -> None:
    _fail_if(
        (e for e in imports() if _within(e.source, "media") and not (_within(e.target, "media") or e.target == ERRORS)),
        f"media knows nothing of faces, the database or the app: it may import only media.* and {ERRORS}",
    )


def test_domain_sees_only_vision_types_and_config() -> None:
    def allowed(edge: Import) -> bool:
        if edge.target in VISION_PUBLIC:
            return True
        return any(_within(edge.target, ok) for ok in VISION_ADAPTERS.get(edge.source, ()))

    _fail_if(
        (
            e for e in imports()
            if _within(e.source, "attendance") and not _within(e.source, VISION)
            and _within(e.target, VISION) and not allowed(e)
        ),
        f"outside vision the domain may import only {sorted(VISION_PUBLIC)} from it "
        "(enrolment adapters: VISION_ADAPTERS in this test)",
    )


def test_vision_adapters_list_is_current() -> None:
    """An adapter that no longer needs a vision module loses its exemption."""
    used = {(e.source, ok) for e in imports() for ok in VISION_ADAPTERS.get(e.source, ()) if _within(e.target, ok)}
    stale = (f"{source} -> {ok}" for source, oks in VISION_ADAPTERS.items() for ok in oks if (source, ok) not in used)
    _fail_if(stale, "VISION_ADAPTERS allows imports nobody makes any more; remove")


def test_live_does_not_import_web_or_cli() -> None:
    _fail_if(
        (
            e for e in imports()
            if _within(e.source, "app.live") and (_within(e.target, "app.web") or _within(e.target, "app.cli"))
        ),
        "app.live runs sessions for both edges; app.web and app.cli import it, never the other way",
    )


def test_nothing_imports_the_cli() -> None:
    _fail_if(
        (e for e in imports() if _within(e.target, "app.cli") and not _within(e.source, "app.cli")),
        "app.cli is an entry point: nothing else imports it",
    )


def test_media_and_attendance_never_import_live() -> None:
    _fail_if(
        (
            e for e in imports()
            if (_within(e.source, "media") or _within(e.source, "attendance")) and _within(e.target, "app.live")
        ),
        "media and attendance sit below app.live",
    )


def _cycles(edges: Iterable[Import]) -> list[tuple[list[Import], set[str]]]:
    """Every strongly connected component (Tarjan) with one concrete cycle in it, as a chain of imports."""
    graph: dict[str, dict[str, Import]] = {}
    for edge in edges:
        graph.setdefault(edge.source, {}).setdefault(edge.target, edge)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[set[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in graph.get(node, {}):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component: set[str] = set()
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.add(member)
                if member == node:
                    break
            if len(component) > 1 or node in graph.get(node, {}):
                components.append(component)

    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10_000))
    for node in sorted(graph):
        if node not in index:
            visit(node)
    return [(_shortest_cycle(graph, component), component) for component in components]


def _shortest_cycle(graph: dict[str, dict[str, Import]], component: set[str]) -> list[Import]:
    """Breadth-first from the component's first module back to itself, staying inside the component."""
    start = min(component)
    came_from: dict[str, Import] = {}
    frontier = [start]
    while frontier:
        following: list[str] = []
        for node in frontier:
            for nxt, edge in sorted(graph.get(node, {}).items()):
                if nxt not in component or nxt in came_from:
                    continue
                came_from[nxt] = edge
                if nxt == start:
                    chain = [edge]
                    while chain[0].source != start:
                        chain.insert(0, came_from[chain[0].source])
                    return chain
                following.append(nxt)
        frontier = following
    raise AssertionError(f"no cycle through {start} in its component")  # Tarjan guarantees one


def _describe(chain: list[Import], component: set[str]) -> str:
    text = " -> ".join([f"{edge.source} [{edge.where}]" for edge in chain] + [chain[0].source])
    others = sorted(component - {edge.source for edge in chain})
    return text + (f"\n    (this tangle also includes {', '.join(others)})" if others else "")


def test_no_import_cycles() -> None:
    found = [_describe(chain, component) for chain, component in _cycles(e for e in imports() if not e.type_only)]
    _fail_if(found, "import cycles (one chain per tangle, with the line of each import)")


def test_vision_package_is_light() -> None:
    tree = ast.parse((ROOT / "attendance" / "vision" / "__init__.py").read_text(encoding="utf-8"))
    found = (
        f"attendance/vision/__init__.py:{node.lineno}: {ast.unparse(node)}"
        for node in ast.walk(tree)
        if isinstance(node, (ast.Import, ast.ImportFrom)) and getattr(node, "module", None) != "__future__"
    )
    _fail_if(found, "attendance/vision/__init__.py must import nothing (importing the package stays light)")


@pytest.mark.parametrize("module", [f"{VISION}.types", f"{VISION}.config"])
def test_vision_public_modules_load_no_native_stack(module: str) -> None:
    """The domain imports vision's types and config everywhere; they must not drag dlib, OpenCV or
    ONNX Runtime into a process (checked in a fresh interpreter, so nothing is loaded already)."""
    probe = f"import sys, {module}; print(' '.join(m for m in {HEAVY_MODULES!r} if m in sys.modules))"
    run = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=False)
    assert run.returncode == 0, run.stderr
    loaded = run.stdout.split()
    assert not loaded, f"`import {module}` loads {', '.join(loaded)}"
