"""What pip installs is what the code needs: declared dependencies, versions, entry points.

pyproject.toml declares what the packages import and imports what it declares
(walked with ``ast``); optional dependencies (extras) are imported only where a
missing one is handled; the version has one source; fault injection is not
loaded by production code. The installed wheel itself is checked by
``tests/test_wheel.py``.
"""

from __future__ import annotations

import ast
import importlib.metadata
import os
import pathlib
import re
import subprocess
import sys
import textwrap
import tomllib

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
PACKAGES = ("fact_store", "overseer")
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
#: import names whose distribution is spelled differently (when it is not installed here)
ALIASES = {"yaml": "pyyaml", "sentry_sdk": "sentry-sdk", "psycopg": "psycopg"}


def canonical(name: str) -> str:
    """PEP 503 normalisation: ``Prompt_Toolkit`` -> ``prompt-toolkit``."""
    return re.sub(r"[-_.]+", "-", name).lower()


def requirement_name(req: str) -> str:
    return canonical(re.match(r"[A-Za-z0-9_.-]+", req).group(0))


def declared() -> dict[str, str]:
    """Distribution name -> where it is declared: "core", an extra's name, or "test" when only
    the test extra has it (an extra users install wins over "test")."""
    out = {requirement_name(r): "core" for r in PYPROJECT["project"]["dependencies"]}
    extras = PYPROJECT["project"].get("optional-dependencies", {})
    for extra, reqs in sorted(extras.items(), key=lambda kv: kv[0] == "test"):
        for r in reqs:
            out.setdefault(requirement_name(r), extra)
    return out


def distribution_of(module: str) -> str:
    top = module.split(".")[0]
    dists = importlib.metadata.packages_distributions().get(top)
    if dists:
        return canonical(dists[0])
    return canonical(ALIASES.get(top, top))


def _catches_import_error(handler: ast.ExceptHandler) -> bool:
    names = []
    t = handler.type
    for node in (t.elts if isinstance(t, ast.Tuple) else [t]):
        if isinstance(node, ast.Name):
            names.append(node.id)
    return bool({"ImportError", "ModuleNotFoundError"} & set(names))


def third_party_imports(paths: list[pathlib.Path]) -> list[tuple[str, str, bool]]:
    """(module, "file:line", guarded) for every import of a module outside the stdlib and ours.

    ``guarded``: inside a function body (imported when used) or a ``try`` that
    catches ImportError.
    """
    out = []
    for path in paths:
        tree = ast.parse(path.read_text(), str(path))

        def visit(node: ast.AST, guarded: bool) -> None:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
                guarded = True
            if isinstance(node, ast.Try) and any(_catches_import_error(h) for h in node.handlers):
                for child in node.body:
                    visit(child, True)
                for child in [*node.handlers, *node.orelse, *node.finalbody]:
                    visit(child, guarded)
                return
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                  and node.func.attr == "importorskip" and node.args
                  and isinstance(node.args[0], ast.Constant)):
                names, guarded = [node.args[0].value], True  # pytest.importorskip("pexpect")
            for name in names:
                top = name.split(".")[0]
                if top in sys.stdlib_module_names or top in PACKAGES or top == "__future__":
                    continue
                out.append((name, f"{os.path.relpath(path, ROOT)}:{node.lineno}", guarded))
            for child in ast.iter_child_nodes(node):
                visit(child, guarded)

        visit(tree, False)
    return out


def package_files() -> list[pathlib.Path]:
    return sorted(p for pkg in PACKAGES for p in (ROOT / pkg).rglob("*.py"))


def module_name(path: pathlib.Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


#: what a user runs: the two console scripts, ``python -m`` and ``import fact_store, overseer``
ROOTS = ("fact_store", "overseer", "fact_store.cli", "overseer.cli", "fact_store.__main__",
         "overseer.__main__")


def core_modules() -> set[str]:
    """The modules of ours that importing :data:`ROOTS` loads: the closure of their imports
    made at module level (not inside a function, not under ``except ImportError``)."""
    files = {module_name(p): p for p in package_files()}
    edges: dict[str, set[str]] = {}
    for mod, path in files.items():
        is_pkg = path.name == "__init__.py"
        out: set[str] = set()

        def visit(node: ast.AST, mod: str = mod, is_pkg: bool = is_pkg, out: set[str] = out) -> None:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
                return
            if isinstance(node, ast.Try) and any(_catches_import_error(h) for h in node.handlers):
                for child in [*node.handlers, *node.orelse, *node.finalbody]:
                    visit(child)
                return
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    pkg = mod.split(".") if is_pkg else mod.split(".")[:-1]
                    pkg = pkg[:len(pkg) - node.level + 1]
                    base = ".".join(pkg + ([base] if base else []))
                names = [base] + [f"{base}.{a.name}" for a in node.names]
            for name in names:
                parts = name.split(".")
                for i in range(1, len(parts) + 1):  # importing a.b.c imports a and a.b too
                    if ".".join(parts[:i]) in files:
                        out.add(".".join(parts[:i]))
            for child in ast.iter_child_nodes(node):
                visit(child)

        visit(ast.parse(path.read_text(), str(path)))
        edges[mod] = out
    seen: set[str] = set()
    todo = list(ROOTS)
    while todo:
        m = todo.pop()
        if m in seen or m not in files:
            continue
        seen.add(m)
        parent = m.rpartition(".")[0]
        todo += [*edges[m], *([parent] if parent else [])]
    return seen


def test_every_third_party_import_is_declared_and_extras_are_guarded():
    """Core modules (what the commands and ``import fact_store, overseer`` load) import an
    extra's package only inside a function or under ``except ImportError``; modules loaded only
    on demand (the web console, the REPL's terminal loop) may import their extra freely."""
    decl = declared()
    core = core_modules()
    undeclared, unguarded, test_only = [], [], []
    for module, where, guarded in third_party_imports(package_files()):
        dist = distribution_of(module)
        mod = module_name(ROOT / where.split(":")[0])
        if dist not in decl:
            undeclared.append(f"{where}: {module} (distribution {dist})")
        elif decl[dist] == "test":
            test_only.append(f"{where}: {module} is declared only in the test extra")
        elif decl[dist] != "core" and not guarded and mod in core:
            unguarded.append(f"{where}: {module} is in the {decl[dist]!r} extra but {mod}, which "
                             "the commands load, imports it at module level without "
                             "`except ImportError`")
    assert not undeclared, "imported but not declared in pyproject.toml:\n" + "\n".join(undeclared)
    assert not test_only, "\n".join(test_only)
    assert not unguarded, "\n".join(unguarded)


def test_the_core_modules_are_what_the_commands_load():
    core = core_modules()
    assert {"fact_store.cli", "fact_store.repl", "fact_store.log.file", "overseer.worker",
            "overseer.status_cli", "fact_store.web.command"} <= core
    assert not any(m.startswith(("fact_store.web.app", "overseer.web")) for m in core)


#: distributions no module imports, used by a library we call: the call that needs each
USED_THROUGH = {"python-multipart": r"\.form\(\)"}  # Starlette's request.form() parses with it


def test_every_declared_dependency_is_imported():
    decl = declared()
    used = {distribution_of(m) for m, _, _ in third_party_imports(package_files())}
    test_files = sorted((ROOT / "tests").rglob("*.py"))
    used_by_tests = {distribution_of(m) for m, _, _ in third_party_imports(test_files)}
    # pytest plugins are used through the options they add, not imported
    plugins = {"pytest-timeout": "timeout" in PYPROJECT["tool"]["pytest"]["ini_options"]}
    # used through another library, as long as the code does what needs them
    source = "\n".join(p.read_text() for p in package_files())
    used |= {dist for dist, needed_by in USED_THROUGH.items() if re.search(needed_by, source)}
    unused = []
    for dist, where in sorted(decl.items()):
        if where == "test":
            if dist not in used_by_tests and dist not in used and not plugins.get(dist):
                unused.append(f"{dist} (test extra)")
        elif dist not in used:
            unused.append(f"{dist} ({where})")
    assert not unused, "declared in pyproject.toml but never imported: " + ", ".join(unused)


def test_the_import_walk_sees_guards(tmp_path):
    """The checker itself: a module-level import is unguarded, the two guard shapes are seen."""
    src = textwrap.dedent("""
        import psycopg
        try:
            import prompt_toolkit
        except ImportError:
            prompt_toolkit = None
        def f():
            import pygments
    """)
    path = tmp_path / "probe.py"
    path.write_text(src)
    found = {m: g for m, _, g in third_party_imports([path])}
    assert found == {"psycopg": False, "prompt_toolkit": True, "pygments": True}


def test_version_has_one_source():
    import fact_store
    import overseer

    version = PYPROJECT["project"]["version"]
    assert fact_store.__version__ == version == overseer.__version__
    for cmd in (["fact-store"], ["overseer"]):
        out = subprocess.run([sys.executable, "-c", f"import sys; from {cmd[0].replace('-', '_')}"
                              f".cli import {'cli' if cmd[0] == 'fact-store' else 'main'} as m; "
                              "m.main(['--version'])"],
                             capture_output=True, text=True, timeout=60)
        assert out.returncode == 0, out.stderr
        assert out.stdout.strip() == f"{cmd[0]}, version {version}"


@pytest.mark.parametrize("pkg,prog", [("fact_store", "python -m fact_store"),
                                      ("overseer", "python -m overseer")])
def test_python_dash_m_runs_the_command(pkg, prog):
    out = subprocess.run([sys.executable, "-m", pkg, "--help"], capture_output=True, text=True,
                         timeout=60, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith(f"Usage: {prog} ")


def test_fault_injection_is_not_loaded_by_production_code(tmp_path):
    """fact_store.log.crash (SIGKILL at named steps) is imported only when FACTSTORE_CRASH_AT is set."""
    code = textwrap.dedent(f"""
        import sys
        import fact_store as fs, overseer
        from fact_store import cli
        from overseer import cli as ocli
        conn = fs.connect("file:{tmp_path / 'db'}")
        conn.transact([{{":db/ident": ":a/b", ":db/valueType": ":db.type/long",
                         ":db/cardinality": ":db.cardinality/one"}}])
        conn.close()
        print("fact_store.log.crash" in sys.modules)
    """)
    env = {k: v for k, v in os.environ.items() if k != "FACTSTORE_CRASH_AT"}
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                         timeout=60, cwd=ROOT)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "False"
    env["FACTSTORE_CRASH_AT"] = "before-write:1"
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                         timeout=60, cwd=ROOT)
    assert run.returncode == -9, (run.returncode, run.stderr)  # armed: the first write kills it


def test_commands_work_without_the_optional_dependencies(tmp_path):
    """A core install (no extras): every module imports, and the commands run."""
    blocked = sorted({m.split(".")[0] for m, _, _ in third_party_imports(package_files())
                      if declared()[distribution_of(m)] != "core"} | {"psycopg", "prompt_toolkit"})
    modules = sorted(m for m in core_modules() if not m.endswith("__main__"))
    code = textwrap.dedent(f"""
        import importlib, importlib.abc, sys
        BLOCKED = {blocked!r}
        class Block(importlib.abc.MetaPathFinder):
            def find_spec(self, name, path=None, target=None):
                if name.split(".")[0] in BLOCKED:
                    raise ModuleNotFoundError(f"No module named {{name!r}}", name=name)
        sys.meta_path.insert(0, Block())
        for m in {modules!r}:
            importlib.import_module(m)
        from fact_store.cli import cli
        cli.main(["transact", "-", "--uri", "file:{tmp_path / 'db'}"], standalone_mode=False)
    """)
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                         cwd=ROOT, input='[{:db/ident :a/b :db/valueType :db.type/long '
                                           ':db/cardinality :db.cardinality/one}]')
    assert run.returncode == 0, run.stderr[-3000:]
    assert "t 1" in run.stdout or ":t 1" in run.stdout, run.stdout
