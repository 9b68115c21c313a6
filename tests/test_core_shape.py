"""One shape for every plugin (issue 28): no import circles, and one plan builder.

* **No circles**: every module of the core and of every installed plugin (plus the example
  plugin) is parsed, *all* its imports are collected (module level and inside functions: a lazy
  import is still a dependency, it only moves the failure to run time) and resolved to modules of
  the same package; a strongly connected component of two or more modules is a circle and fails
  the test with the modules in it.
* **One plan builder**: plugin code gets its plan from ``RunOptions.plan`` (the core): it never
  calls ``genotool.probe.make_plan`` itself and never assigns a decision of a plan
  (``plan.precision = ...``) behind the user's back; a verb's own decisions go through
  ``Plan.override``, which records the reason. The records that verbs write are checked at run
  time by the ``genotool_cli`` fixture (``genotool.testing.check_verb_plan``) in every plugin's
  own test suite; the last test here shows that check at work on the example plugin.
"""

from __future__ import annotations

import ast
import importlib.util
import json
from importlib.metadata import entry_points
from pathlib import Path

import pytest

from genotool.testing import check_plan_record, plan_fields

ROOT = Path(__file__).resolve().parents[1]
HELLO = ROOT / "examples" / "genotool-hello" / "genotool_hello"

# Plugins being restructured under their own issues: their known failures, and what each must change.
KNOWN: dict = {}


def _packages() -> list[tuple[str, Path]]:
    """(package name, folder) of the core, every installed plugin and the example plugin."""
    found = {"genotool": Path(importlib.util.find_spec("genotool").origin).parent}
    for ep in entry_points(group="genotool.plugins"):
        top = ep.value.split(":")[0].split(".")[0]
        spec = importlib.util.find_spec(top)
        if spec is not None and spec.submodule_search_locations:
            found[top] = Path(list(spec.submodule_search_locations)[0])
    if HELLO.is_dir():
        found.setdefault("genotool_hello", HELLO)
    return sorted(found.items())


def _modules(package: str, folder: Path) -> dict[str, Path]:
    out = {}
    for f in sorted(folder.rglob("*.py")):
        parts = [package, *f.relative_to(folder).with_suffix("").parts]
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = f
    return out


def _imports(name: str, path: Path, known: dict) -> set[str]:
    """Modules of ``known`` that module ``name`` (file ``path``) imports anywhere in its body."""
    is_package = path.name == "__init__.py"
    deps = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:   # relative: resolve against this module's package
                pkg = name.split(".") if is_package else name.split(".")[:-1]
                pkg = pkg[:len(pkg) - node.level + 1]
                base = ".".join(pkg + ([base] if base else []))
            # ``from pkg import mod`` depends on pkg.mod when that is a module, else on pkg
            targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in known else base for a in node.names]
        else:
            continue
        for target in targets:
            parts = target.split(".")
            while parts and ".".join(parts) not in known:
                parts.pop()
            if parts and ".".join(parts) != name:
                deps.add(".".join(parts))
    return deps


def import_circles(package: str, folder: Path) -> list[list[str]]:
    """The import circles of one package: strongly connected components (Tarjan) of >= 2 modules."""
    mods = _modules(package, folder)
    graph = {m: sorted(_imports(m, f, mods)) for m, f in mods.items()}
    index, low, stack, on_stack, circles = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                circles.append(sorted(comp))

    for v in graph:
        if v not in index:
            visit(v)
    return circles


def _params(kind: str):
    for name, folder in _packages():
        marks = [pytest.mark.xfail(reason=KNOWN[(kind, name)], strict=False)] if (kind, name) in KNOWN else []
        yield pytest.param(name, folder, id=name, marks=marks)


PACKAGES = _packages()


def test_the_walk_sees_the_core_and_the_plugins():
    names = {n for n, _ in PACKAGES}
    assert "genotool" in names and "genotool_srsnv" in names and len(names) >= 3


@pytest.mark.parametrize("package,folder", list(_params("circles")))
def test_no_import_circles(package, folder):
    circles = import_circles(package, folder)
    assert not circles, f"{package}: import circles " + "; ".join(" <-> ".join(c) for c in circles)


def test_the_circle_finder_finds_a_lazy_circle(tmp_path):
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("def f():\n    from pkg.b import g\n    return g()\n")
    (pkg / "b.py").write_text("from . import c\n\ndef g():\n    return 1\n")
    (pkg / "c.py").write_text("import pkg.a\n")
    (pkg / "d.py").write_text("from pkg import a, b\n")   # depends on both, in no circle
    assert import_circles("pkg", pkg) == [["pkg.a", "pkg.b", "pkg.c"]]


DECISIONS = {"device", "precision", "tf32", "grad_scaler", "batch_size", "batch_size_source", "cpu_threads"}


def plan_building(path: Path) -> list[str]:
    """Where a module builds a plan itself or rewrites one of its decisions."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom) and node.module == "genotool.probe":
            found += [f"{path.name}:{node.lineno}: imports make_plan" for a in node.names if a.name == "make_plan"]
        elif isinstance(node, ast.Attribute) and node.attr == "make_plan" and isinstance(node.ctx, ast.Load):
            found.append(f"{path.name}:{node.lineno}: calls probe.make_plan")
        elif isinstance(node, (ast.Assign, ast.AugAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for t in targets:
                for el in (t.elts if isinstance(t, ast.Tuple) else [t]):
                    if (isinstance(el, ast.Attribute) and el.attr in DECISIONS and isinstance(el.value, ast.Name)
                            and "plan" in el.value.id.lower()):
                        found.append(f"{path.name}:{node.lineno}: assigns {el.value.id}.{el.attr} "
                                     "(use Plan.override, which records the reason)")
    return found


@pytest.mark.parametrize("package,folder", [p for p in _params("plan") if p.values[0] != "genotool"])
def test_plugins_get_their_plan_from_the_core(package, folder):
    problems = [p for f in sorted(folder.rglob("*.py")) for p in plan_building(f)]
    assert not problems, f"{package}: " + "; ".join(problems)


def test_plan_building_finds_a_rewrite(tmp_path):
    f = tmp_path / "m.py"
    f.write_text("from genotool.probe import make_plan\n\ndef g(plan):\n    plan.precision = 'fp32'\n"
                 "    plan.batch_size, plan.batch_size_source = 8, 'x'\n")
    assert len(plan_building(f)) == 4


def test_a_plan_record_has_the_core_fields():
    from genotool.options import RunOptions

    rec = RunOptions(device="cpu", threads=1).plan(32).to_dict()
    check_plan_record(rec, "RunOptions.plan")
    assert set(rec) == plan_fields() and {"--device cpu given", "--threads 1 given"} <= set(rec["reasons"])
    assert rec["batch_size"] == 32 and any(r.startswith("batch_size 32: the verb's default") for r in rec["reasons"])
    with pytest.raises(AssertionError, match="not the core's"):
        check_plan_record({**rec, "jax": {}}, "x")
    with pytest.raises(AssertionError, match="recorded no plan"):
        check_plan_record({}, "x")


def test_genotool_cli_checks_the_plan_a_model_verb_records(hello, genotool_cli, tmp_path, monkeypatch):
    """The check every plugin's tests get from the ``genotool_cli`` fixture: a verb that records a
    plan of its own making fails it; the core's plan passes."""
    pytest.importorskip("torch")
    sim, prep, model = tmp_path / "sim", tmp_path / "prep", tmp_path / "model"
    assert genotool_cli("hello", "simulate", "-o", str(sim), "--num-sequences", "60", "--length", "20").exit_code == 0
    assert genotool_cli("hello", "preprocess", "-i", str(sim), "-o", str(prep)).exit_code == 0
    args = ("hello", "train", "-d", str(prep), "-o", str(model), "--epochs", "1", "--channels", "4", "--kernel", "3",
            "--device", "cpu", "--threads", "1")
    res = genotool_cli(*args)   # checked: the core's plan
    assert res.exit_code == 0, res.stderr
    meta = json.loads((model / "metadata.json").read_text())
    assert set(meta["plan"]) == plan_fields()

    from genotool.probe import Plan

    monkeypatch.setattr(Plan, "to_dict", lambda self: {"device": self.device, "precision": self.precision})
    with pytest.raises(AssertionError, match="hello train: the plan record is not the core's"):
        genotool_cli(*args[:5], str(tmp_path / "model2"), *args[6:])

