"""Checks the import graph against the layout (README "Where things are"); prints the graph.

    python scripts/check_layout.py          # exit 1 and the broken rules if any
    python scripts/check_layout.py --graph  # also print every package-level edge

Every import counts, at module level or inside a function. Rules:
- no import circle between modules; every folder of modules is a package (installed), and
  no module is hidden by .gitignore;
- dags/ imports nothing of the pipeline environment (no HintQ package, no Beam);
- pipelines/core imports no Beam or Airflow, and nothing of HintQ outside pipelines/core;
- pipelines/ holds only Beam code: every module of its chains, stages/ and beam/ imports
  apache_beam; engines/ holds the models those stages run;
- layers point one way (each package imports only those listed for it below);
- hintq/ (the CLI) imports no Beam, no stage and no chain: it calls jobs and libraries.
"""
from __future__ import annotations

import argparse
import ast
import sys
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("dags", "hintq", "jobs", "pipelines", "warehouse", "online", "evaluation", "datasets", "schemas")
# What each layer may import of HintQ (by package prefix). The chains, stages and Beam
# plumbing are all "pipelines" but sit at different heights.
MAY_IMPORT = {
    "dags": (),
    "hintq": ("hintq", "jobs", "online", "warehouse", "evaluation", "datasets", "pipelines.core",
              "pipelines.engines.model_store", "schemas"),
    "jobs": ("jobs", "pipelines", "warehouse", "online", "evaluation", "datasets", "schemas"),
    "evaluation": ("evaluation", "pipelines.core", "pipelines.engines", "warehouse", "schemas"),
    "datasets": ("datasets", "pipelines.core", "pipelines.engines", "warehouse", "schemas"),
    "pipelines.chains": ("pipelines", "warehouse", "online", "schemas"),
    "pipelines.stages": ("pipelines.stages", "pipelines.beam", "pipelines.engines", "pipelines.core", "warehouse",
                         "online", "schemas"),
    "pipelines.beam": ("pipelines.beam", "pipelines.core"),
    # the model store resolves fine-tuned versions from the warehouse's model registry
    "pipelines.engines": ("pipelines.engines", "pipelines.core", "warehouse.files", "warehouse.manifest",
                          "warehouse.models"),
    "online": ("online", "pipelines.core", "warehouse"),
    "warehouse": ("warehouse", "pipelines.core", "schemas"),
    "pipelines.core": ("pipelines.core", "schemas"),
    "schemas": ("schemas",),
}


def layer(module: str) -> str:
    for prefix in ("pipelines.core", "pipelines.stages", "pipelines.beam", "pipelines.engines"):
        if module == prefix or module.startswith(prefix + "."):
            return prefix
    if module.startswith("pipelines"):
        return "pipelines.chains"
    return module.split(".")[0]


def modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = path.relative_to(ROOT).with_suffix("").parts
            found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def imports_of(path: Path, module: str) -> set[str]:
    out = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolve against the package
                base = module.split(".")[:len(module.split(".")) - node.level + (path.name == "__init__.py")]
                name = ".".join([*base, node.module] if node.module else base)
            else:
                name = node.module
            out.add(name)
            out.update(f"{name}.{a.name}" for a in node.names)  # `from pkg import module`
    return out


def graph() -> dict[str, set[str]]:
    mods = modules()
    edges = {}
    for module, path in mods.items():
        raw = imports_of(path, module)
        edges[module] = {m for m in raw if m in mods and m != module} | {m for m in raw if m not in mods}
    return edges


def own(edges: dict[str, set[str]], module: str) -> set[str]:
    return {m for m in edges[module] if m in edges}


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    found, state, stack = [], {}, []

    def visit(m):
        state[m] = 1
        stack.append(m)
        for n in sorted(own(edges, m)):
            # a package's __init__ importing its own modules is not a circle
            if m.startswith(n + ".") or n.startswith(m + "."):
                continue
            if state.get(n) == 1:
                found.append(stack[stack.index(n):] + [n])
            elif n not in state:
                visit(n)
        stack.pop()
        state[m] = 2

    for m in sorted(edges):
        if m not in state:
            visit(m)
    return found


def packages_without_init() -> list[str]:
    """Folders of Python modules that setup.py's find_packages would not install."""
    return sorted(str(d.relative_to(ROOT)) for package in PACKAGES if package != "dags"
                  for d in [ROOT / package, *(ROOT / package).rglob("*")]
                  if d.is_dir() and d.name != "__pycache__" and any(d.glob("*.py")) and not (d / "__init__.py").exists())


def ignored_modules() -> list[str]:
    """Modules .gitignore hides: they work here and are missing from every clone."""
    import subprocess

    paths = "\n".join(str(p.relative_to(ROOT)) for p in modules().values())
    try:
        out = subprocess.run(["git", "check-ignore", "--stdin"], input=paths, capture_output=True, text=True,
                             cwd=ROOT, timeout=30).stdout
    except (OSError, subprocess.SubprocessError):  # not a git checkout: nothing to check
        return []
    return sorted(out.split())


def problems(edges: dict[str, set[str]]) -> list[str]:
    out = [f"import circle: {' -> '.join(c)}" for c in cycles(edges)]
    out += [f"{d}/: Python modules without __init__.py (setup.py would not install them)"
            for d in packages_without_init()]
    out += [f"{m}: ignored by .gitignore (missing from every clone)" for m in ignored_modules()]
    for module, imported in sorted(edges.items()):
        mine = layer(module)
        ours = own(edges, module)
        beam = any(m == "apache_beam" or m.startswith("apache_beam.") for m in imported)
        airflow = any(m.startswith("airflow") for m in imported)
        if mine == "dags":
            if ours or beam:
                out.append(f"{module}: a DAG imports the pipeline environment: {sorted(ours) or 'apache_beam'}")
            continue
        if mine == "pipelines.core" and (beam or airflow):
            out.append(f"{module}: pipelines/core imports Beam or Airflow")
        if mine in ("pipelines.chains", "pipelines.stages", "pipelines.beam") and module.count(".") >= 1 \
                and not module.endswith("__init__") and module not in ("pipelines.stages", "pipelines.beam") \
                and not beam:
            out.append(f"{module}: under pipelines/ but no Beam code (move it to core, engines or a library)")
        if mine == "hintq" and (beam or any(layer(m) in ("pipelines.stages", "pipelines.beam", "pipelines.chains")
                                            for m in ours)):
            out.append(f"{module}: the CLI imports Beam, a stage or a chain: {sorted(ours)}")
        allowed = MAY_IMPORT[mine]
        for m in sorted(ours):
            if not any(m == a or m.startswith(a + ".") for a in allowed):
                out.append(f"{module} ({mine}) imports {m}: against the layers")
    return out


def package_edges(edges: dict[str, set[str]]) -> dict[str, set[str]]:
    out = defaultdict(set)
    for module, imported in edges.items():
        for m in own(edges, module):
            if layer(m) != layer(module):
                out[layer(module)].add(layer(m))
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--graph", action="store_true", help="print the layer-to-layer import graph")
    args = parser.parse_args(argv)
    edges = graph()
    if args.graph:
        for src, dsts in sorted(package_edges(edges).items()):
            print(f"{src:<18} -> {', '.join(sorted(dsts))}")
    found = problems(edges)
    print("\n".join(found) if found else f"layout ok: {len(edges)} modules, no circle, every layer rule holds")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
