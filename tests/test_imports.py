"""Every module of cnn_vs_vit imports, and the package's modules import each other in no circle.

A circle works only in the order some entry point happens to import it: `import` of the other end first, and
a name is missing. Deferring one end into a function only hides it: the circle is still there, it just fails
later, in whichever call imports first. So the graph is read from the source with `ast` and counts every
import statement, at module level or deferred into a function or a class.
"""

import ast
import pkgutil
import subprocess
import sys
from graphlib import TopologicalSorter
from pathlib import Path

import cnn_vs_vit

PACKAGE = cnn_vs_vit.__name__
ROOT = Path(cnn_vs_vit.__file__).parent


def module_files() -> dict[str, Path]:
    """{dotted module name: its source file} for the package and every module and subpackage in it."""
    files = {PACKAGE: ROOT / "__init__.py"}
    for info in pkgutil.walk_packages([str(ROOT)], prefix=f"{PACKAGE}."):
        relative = Path(*info.name.split(".")[1:])
        files[info.name] = ROOT / relative / "__init__.py" if info.ispkg else ROOT / relative.with_suffix(".py")
    return files


MODULES = module_files()


def test_the_graph_holds_every_source_file_of_the_package():
    """A folder without __init__.py is a namespace package, which pkgutil does not walk: its modules would be
    missing from the graph (and from an installed wheel: setuptools' find skips it)."""
    sources = {path.resolve() for path in ROOT.rglob("*.py")}
    assert sources == {path.resolve() for path in MODULES.values()}, sorted(map(str, sources - set(MODULES.values())))


def test_every_module_imports_in_a_fresh_interpreter_in_dependency_order():
    """Each module imported after the modules it imports (graphlib's order), all in one fresh interpreter: each
    import runs that module's own top level, once (__main__ is the CLI itself, which runs on import)."""
    order = [name for name in TopologicalSorter(import_graph()).static_order() if not name.endswith(".__main__")]
    script = "import importlib, sys\nfor name in sys.argv[1:]:\n    importlib.import_module(name)"
    result = subprocess.run([sys.executable, "-c", script, *order], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-3000:]


def imported_modules(name: str, path: Path) -> set[str]:
    """The modules of the package that `name` imports anywhere in its source, deferred imports included (a
    `from X import y` names X.y when y is a module, else X); parents that are imported only as a module's
    package are not counted."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    targets = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            targets.update(alias.name for alias in node.names)
            continue
        if not isinstance(node, ast.ImportFrom):
            continue
        base = package.split(".")
        if node.level:
            base = base[: len(base) - node.level + 1]
            origin = ".".join(base + ([node.module] if node.module else []))
        else:
            origin = node.module or ""
        submodules = {f"{origin}.{alias.name}" for alias in node.names if f"{origin}.{alias.name}" in MODULES}
        targets.update(submodules)
        if len(submodules) < len(node.names):  # some names are attributes of `origin` itself
            targets.add(origin)
    return {t for t in targets if t in MODULES and t != name}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One circle of the graph as [a, b, ..., a], or None (depth-first search, nodes in sorted order)."""
    state: dict[str, str] = {}  # "open" while on the current path, "done" after
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = "open"
        path.append(node)
        for target in sorted(graph[node]):
            if state.get(target) == "open":
                return path[path.index(target) :] + [target]
            if target not in state and (cycle := visit(target)):
                return cycle
        path.pop()
        state[node] = "done"
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def import_graph() -> dict[str, set[str]]:
    return {name: imported_modules(name, path) for name, path in MODULES.items()}


def test_find_cycle_reports_a_circle_and_accepts_a_tree():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b", "c"}, "b": {"c"}, "c": set()}) is None


def test_the_import_graph_reads_relative_imports():
    graph = import_graph()
    assert "cnn_vs_vit.report.claim_types" in graph["cnn_vs_vit.report.claim"]
    assert "cnn_vs_vit.report.evaluate" in graph["cnn_vs_vit.report.build"]
    assert "cnn_vs_vit.report.plots" in graph["cnn_vs_vit.report.build"]  # from . import plots
    assert "cnn_vs_vit.report.claims.rule_statistics" in graph["cnn_vs_vit.report.claims.row_01_inductive_bias"]


def test_the_report_modules_import_each_other_in_no_circle():
    graph = import_graph()
    report = {name: {t for t in targets if t.startswith(f"{PACKAGE}.report")} for name, targets in graph.items()}
    report = {name: targets for name, targets in report.items() if name.startswith(f"{PACKAGE}.report")}
    assert find_cycle(report) is None, " -> ".join(find_cycle(report))


def test_the_package_imports_itself_in_no_circle():
    cycle = find_cycle(import_graph())
    assert cycle is None, "import circle: " + " -> ".join(cycle)
