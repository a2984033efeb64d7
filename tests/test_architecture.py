"""The package's shape: folders are layers, and a module imports only from its own layer
or the layers below it (README, "How the code is organised"), with no import cycle."""

from __future__ import annotations

import ast
import warnings
from pathlib import Path

import pytest

import framestore

PACKAGE = Path(framestore.__file__).parent
# lowest first; a module may import from its own layer and from those before it
LAYERS = [
    "errors", "_disk", "codecs", "core", "parallel", "ingest", "sessions", "tools", "testing", "cli", "view",
]


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> list[tuple[str, bool]]:
    """(framestore module imported, whether at module level) for every import in a file."""
    name = _module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    tree = ast.parse(path.read_text(encoding="utf-8"))
    top_level = {id(node) for node in tree.body}
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            targets = [target] + [f"{target}.{a.name}" for a in node.names]
        elif isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        else:
            continue
        for target in targets:
            if target.startswith("framestore"):
                found.append((target, id(node) in top_level))
    return found


def _layer(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[1] in LAYERS else None


MODULES = {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


@pytest.mark.parametrize("module", sorted(m for m in MODULES if _layer(m)))
def test_a_module_imports_only_from_its_layer_or_below(module):
    rank = LAYERS.index(_layer(module))
    for target, _ in _imports(MODULES[module]):
        layer = _layer(target)
        assert target != "framestore", f"{module} imports the public face; import the module itself"
        if layer is not None:
            assert LAYERS.index(layer) <= rank, f"{module} ({_layer(module)}) imports {target} ({layer})"


def test_no_import_cycle():
    graph = {m: {t for t, top in _imports(p) if top and t in MODULES and t != m} for m, p in MODULES.items()}
    done: set[str] = set()

    def visit(m: str, path: list[str]) -> None:
        for t in graph[m]:
            # a package importing its own submodule is not a cycle: the submodule runs first
            if t in path and not m.startswith(t + "."):
                pytest.fail("import cycle: " + " -> ".join([*path[path.index(t) :], t]))
            if t not in done and t not in path:
                visit(t, [*path, t])
        done.add(m)

    for m in sorted(graph):
        visit(m, [m])


def test_the_top_level_stays_small():
    # 15: stores.py is imgstore's module path (``from imgstore import stores``), kept as a
    # real module so that type checkers and IDEs see it
    entries = sorted(p.name for p in PACKAGE.iterdir() if p.name != "__pycache__")
    assert len(entries) <= 15, entries


def test_every_public_name_is_importable_from_framestore():
    for name in framestore.__all__:
        assert getattr(framestore, name) is not None, name


@pytest.mark.parametrize(
    "old, name",
    [
        ("framestore.stitch", "stitch"),
        ("framestore.qc", "qc"),
        ("framestore.qc", "Thresholds"),
        ("framestore.recover", "recover"),
        ("framestore.importing", "import_video"),
        ("framestore.miniscope.recording", "import_recording"),
    ],
)
def test_old_module_paths_still_work_and_warn(old, name):
    import importlib

    module = importlib.import_module(old)
    with pytest.warns(FutureWarning, match=f"{old}.{name} moved"):
        value = getattr(module, name)
    new_home = importlib.import_module(framestore._moved.MOVED[old][0])
    assert value is getattr(new_home, name)


def test_the_public_functions_that_were_modules_are_callable_without_a_warning(tmp_path):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        report = framestore.recover(_empty_store(tmp_path))
    assert report is not None
    assert report.chunks == {}


def _empty_store(tmp_path: Path) -> Path:
    framestore.new_for_format("npy", tmp_path / "s", imgshape=(4, 4)).close()
    return tmp_path / "s"
