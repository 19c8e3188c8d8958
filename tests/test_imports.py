"""The shape of the house: every module imports on its own, without side effects, with
no import cycle; only cconv.ops imports compiled code; no code outside cconv.export
branches on a layer's class."""
import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest

import cconv

PKG = Path(cconv.__file__).parent
COMPILED = {"_im2col", "_conv", "_pooling", "_lrn", "_activation", "_optimizer"}
# optional extras: a module that needs them is imported only where they are installed
OPTIONAL = {"torch", "onnx", "onnxruntime", "safetensors"}


def _modules():
    out = []
    for p in sorted(PKG.rglob("*.py")):
        if p.name == "__main__.py":   # the command line's entry point runs when imported
            continue
        rel = p.relative_to(PKG.parent).with_suffix("")
        parts = list(rel.parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out.append((".".join(parts), p))
    return out


def _resolve(mod, is_pkg, node):
    """The absolute module names an import node names (None for non-cconv ones)."""
    if isinstance(node, ast.Import):
        return [a.name for a in node.names]
    base = mod.split(".") if is_pkg else mod.split(".")[:-1]
    if node.level:
        base = base[:len(base) - (node.level - 1)]
        prefix = ".".join(base + ([node.module] if node.module else []))
    else:
        prefix = node.module
    names = [prefix]
    # "from . import x" imports submodule x
    names += [f"{prefix}.{a.name}" for a in node.names]
    return names


def _imports(mod, path):
    """Every absolute name that ``mod``'s imports name, module level and in functions."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    is_pkg = path.name == "__init__.py"
    return {name for node in ast.walk(tree) if isinstance(node, (ast.Import, ast.ImportFrom))
            for name in _resolve(mod, is_pkg, node)}


def _graph():
    """``{module: cconv modules it imports}``."""
    mods = dict(_modules())
    graph = {}
    for mod, path in mods.items():
        deps = set()
        for name in _imports(mod, path):
            while name and name not in mods:
                name = name.rpartition(".")[0]
            if name and name != mod:
                deps.add(name)
        graph[mod] = deps
    return graph


def test_every_module_imports_alone_in_a_fresh_interpreter():
    failures = []
    for mod, _ in _modules():
        code = f"import {mod}"
        r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                           env={**os.environ, "MPLBACKEND": "Agg"}, timeout=120)
        if r.returncode != 0:
            last = r.stderr.strip().splitlines()[-1] if r.stderr.strip() else "?"
            if not any(f"No module named '{o}" in last for o in OPTIONAL):
                failures.append(f"{mod}: {last}")
    assert not failures, "\n".join(failures)


def test_there_is_no_import_cycle():
    graph = _graph()
    # a package's __init__ re-exporting its children is not a cycle of the children
    cycles = []
    state = {}

    def visit(m, stack):
        state[m] = 1
        stack.append(m)
        for d in sorted(graph.get(m, ())):
            if d.startswith(m + "."):   # a package importing its own children
                continue
            if m.startswith(d + ".") and state.get(d) == 1:
                continue                 # a child importing its parent package: a no-op
            if state.get(d) == 1:
                cycles.append(stack[stack.index(d):] + [d])
            elif d not in state:
                visit(d, stack)
        stack.pop()
        state[m] = 2
    for m in sorted(graph):
        if m not in state:
            visit(m, [])
    assert not cycles, "import cycles:\n" + "\n".join(" -> ".join(c) for c in cycles)


def test_importing_everything_changes_no_kernel_state():
    code = ("import importlib, pkgutil, cconv\n"
            "from cconv import _im2col\n"
            "before = _im2col.get_stream_min_bytes()\n"
            "for m in pkgutil.walk_packages(cconv.__path__, 'cconv.'):\n"
            "    if m.name.endswith('__main__'):\n"
            "        continue\n"
            "    try:\n"
            "        importlib.import_module(m.name)\n"
            "    except ImportError:\n"
            "        pass\n"
            "assert _im2col.get_stream_min_bytes() == before, 'an import set the threshold'\n"
            "print(before)\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                       env={**os.environ, "MPLBACKEND": "Agg"}, timeout=300)
    assert r.returncode == 0, r.stderr


def test_only_cconv_ops_imports_compiled_code():
    users = {m: sorted(n for n in _imports(m, p)
                       if n.startswith("cconv.") and n[len("cconv."):] in COMPILED)
             for m, p in _modules()}
    assert users["cconv.ops.pooling"] == ["cconv._pooling"]   # the check sees imports
    outside = {m: u for m, u in users.items() if u and not m.startswith("cconv.ops")}
    assert not outside, f"compiled modules imported outside cconv.ops: {outside}"
    # and every compiled module has its op family module
    for name in COMPILED:
        assert (PKG / "ops" / f"{name[1:]}.py").exists(), name


def _layer_class_names():
    from cconv import nn
    return {name for name in nn.__all__}


def test_no_code_outside_export_branches_on_a_layer_class():
    names = _layer_class_names()
    found = []
    for mod, path in _modules():
        if mod.startswith("cconv.export"):
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
                    and node.func.id in ("isinstance", "issubclass") and len(node.args) == 2):
                used = {n.id if isinstance(n, ast.Name) else n.attr
                        for n in ast.walk(node.args[1])
                        if isinstance(n, (ast.Name, ast.Attribute))}
                if used & names:
                    found.append(f"{path.relative_to(PKG.parent)}:{node.lineno}")
    assert not found, f"type checks on layer classes: {found}"


@pytest.mark.parametrize("path", ["layers", "util", "optimizer", "trainer", "gradient",
                                  "functions", "datasets", "simple_convnet", "deep_convnet"])
def test_the_books_import_paths_work(path):
    r = subprocess.run([sys.executable, "-c", f"from cconv.{path} import *"],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
