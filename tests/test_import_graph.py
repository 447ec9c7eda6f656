"""The import graph of the project's code (every import, at module level or inside a function):
no circle except between a tasks module and the services it calls, no private name imported from
another module, the Celery module imports no app, and the process code (training/processes/) imports
no Django (issue #26)."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = (
    "annotune",
    "annotation",
    "accounts",
    "curated_data",
    "training",
    "serving",
    "evaluation",
    "validators",
)


def modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            if "migrations" in path.parts:
                continue
            parts = path.relative_to(ROOT).with_suffix("").parts
            found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def imported(module: str, path: Path, node: ast.Import | ast.ImportFrom, known: dict[str, Path]) -> list[str]:
    """The project modules an import statement names (a name imported from a package may be a module)."""
    if isinstance(node, ast.Import):
        targets = [alias.name for alias in node.names]
    else:
        base = node.module or ""
        if node.level:
            package = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
            package = package[: len(package) - (node.level - 1)]
            base = ".".join([*package, *([node.module] if node.module else [])])
        targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base for alias in node.names]
    found = []
    for target in targets:
        while target not in known and "." in target:
            target = target.rsplit(".", 1)[0]
        if target in known and target != module:
            found.append(target)
    return found


def import_graph() -> tuple[dict[str, set[str]], list[tuple[str, str]]]:
    """Edges between project modules, and (module, name) for each private name imported from another."""
    known = modules()
    edges: dict[str, set[str]] = {name: set() for name in known}
    private = []
    for name, path in known.items():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import | ast.ImportFrom):
                edges[name].update(imported(name, path, node, known))
                if isinstance(node, ast.ImportFrom):
                    private += [(name, a.name) for a in node.names if a.name.startswith("_") and a.name[1:2] != "_"]
    return edges, private


def is_tasks(module: str) -> bool:
    last = module.rsplit(".", 1)[-1]
    return last == "tasks" or last.endswith("_tasks")


def circles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected groups of more than one module (Tarjan's algorithm, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups = []
    counter = 0
    for start in edges:
        if start in index:
            continue
        work = [(start, iter(sorted(edges[start])))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(edges[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                group = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    group.append(member)
                    if member == node:
                        break
                if len(group) > 1:
                    groups.append(sorted(group))
    return groups


def test_no_import_circle_outside_tasks_and_their_services():
    edges, _ = import_graph()
    # A service sends its task (imported where it is sent) and the task calls the service: that circle
    # is the one allowed. Every other edge stays.
    without_tasks = {m: {t for t in targets if not is_tasks(t)} for m, targets in edges.items() if not is_tasks(m)}
    assert circles(without_tasks) == []


def test_the_check_sees_a_circle():
    assert circles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_no_private_name_is_imported_from_another_module():
    _, private = import_graph()
    assert private == []


def test_the_celery_module_imports_no_app():
    edges, _ = import_graph()
    apps = {m for m in edges["annotune.celery"] if not m.startswith("annotune.")}
    assert apps == set()


def top_level_imports(path: Path) -> set[str]:
    """The top-level package of every absolute import in a file (at module level or inside a function)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            found.add(node.module.split(".")[0])
    return found


def test_the_process_code_imports_no_django_and_no_app():
    """training/processes/ (its docstring says why): the standard library, each other and the engine."""
    edges, _ = import_graph()
    known = modules()
    processes = sorted(m for m in known if m == "training.processes" or m.startswith("training.processes."))
    assert "training.processes.runner" in processes
    for module in processes:
        outside = {t for t in edges[module] if not t.startswith(("training.processes", "training.engine"))}
        assert outside == set(), f"{module} imports {sorted(outside)}"
        frameworks = top_level_imports(known[module]) & {"django", "celery", "rest_framework"}
        assert frameworks == set(), f"{module} imports {sorted(frameworks)}"
