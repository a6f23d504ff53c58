"""The package's import rules (../shared/ARCHITECTURE.md's packages table, as the code
keeps them): each folder imports only the folders below it, and no module imports another
that imports it back, even through a chain (imports inside functions count too)."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "phoenix_remote"
# folder (or top module) -> what of ours it may import besides itself
MAY_IMPORT = {
    "errors": set(),
    "pve_schema": set(),
    "data": set(),
    "config": {"errors", "pve_schema"},  # pve_schema: PVE's own formats, a leaf
    "host": {"errors", "config", "pve_schema"},
    "facts": {"errors", "config", "host", "pve_schema"},
    "engine": {"errors", "config", "host", "pve_schema"},
    "steps": {"errors", "config", "host", "facts", "engine", "pve_schema"},
    "cli": {"errors", "config", "host", "facts", "engine", "steps", "pve_schema"},
    "__main__": {"cli"},
    "__init__": set(),
}
EVERYONE = {"__init__"}  # the version


def module_name(path: Path) -> str:
    rel = path.relative_to(PACKAGE).with_suffix("")
    parts = [p for p in rel.parts if p != "__init__"] or ["__init__"]
    return ".".join(parts)


def imports(path: Path) -> set[str]:
    """Modules of ours this file imports (phoenix_remote.x.y -> x.y; `from phoenix_remote
    import __version__` -> __init__)."""
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module == "phoenix_remote":
                out |= {a.name if (PACKAGE / a.name).exists() or (PACKAGE / f"{a.name}.py")
                        .exists() else "__init__" for a in node.names}
            elif node.module.startswith("phoenix_remote."):
                mod = node.module.split(".", 1)[1]
                for a in node.names:  # from phoenix_remote.steps import lxc_raw
                    sub = PACKAGE / mod.replace(".", "/") / f"{a.name}.py"
                    out.add(f"{mod}.{a.name}" if sub.exists() else mod)
        elif isinstance(node, ast.Import):
            out |= {a.name.split(".", 1)[1] for a in node.names
                    if a.name.startswith("phoenix_remote.")}
    return out


GRAPH = {module_name(p): imports(p) for p in PACKAGE.rglob("*.py")}


def test_each_folder_imports_only_what_it_may():
    wrong = []
    for mod, deps in GRAPH.items():
        top = mod.split(".")[0]
        allowed = MAY_IMPORT[top] | {top} | EVERYONE
        wrong += [f"{mod} -> {d}" for d in sorted(deps) if d.split(".")[0] not in allowed]
    assert wrong == []


def test_no_import_circle():
    def find(start: str) -> list[str] | None:
        stack, seen = [(start, [start])], set()
        while stack:
            mod, path = stack.pop()
            for dep in GRAPH.get(mod, ()):
                if dep == start:
                    return path + [dep]
                if dep not in seen:
                    seen.add(dep)
                    stack.append((dep, path + [dep]))
        return None
    circles = [c for m in GRAPH if (c := find(m))]
    assert circles == [], circles[0]


def test_step_signatures_are_typed():
    """Each step's facts() takes a HostView and returns its facts model; plan() takes that
    model and returns a Plan: no Any where mypy should check what a step touches."""
    import typing

    from phoenix_remote.engine.step import HostView, Step
    from phoenix_remote.engine.types import Plan
    from phoenix_remote.steps import STEPS
    for step in STEPS:
        assert isinstance(step, Step)
        facts = typing.get_type_hints(type(step).facts)
        plan = typing.get_type_hints(type(step).plan)
        assert facts["host"] is HostView and facts["return"] is step.facts_model, step.id
        assert plan["return"] is Plan, step.id
        assert typing.Any not in (*facts.values(), *plan.values()), step.id
