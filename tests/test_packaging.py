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


#: Subpackages that exist only for an extra: their modules may import that extra's
#: dependencies at module level (the commands import them only when asked, and say
#: which extra to install when it is missing).
EXTRA_PACKAGES = {"fact_store/web/": "web", "overseer/web/": "web"}


def declared_in() -> dict[str, set[str]]:
    """Distribution name -> every place it is declared ("core" and/or extras' names)."""
    out: dict[str, set[str]] = {requirement_name(r): {"core"} for r in PYPROJECT["project"]["dependencies"]}
    for extra, reqs in PYPROJECT["project"].get("optional-dependencies", {}).items():
        for r in reqs:
            out.setdefault(requirement_name(r), set()).add(extra)
    return out


def declared() -> dict[str, str]:
    """Distribution name -> where it is declared ("core", else the first extra naming it)."""
    return {d: "core" if "core" in w else sorted(w)[0] for d, w in declared_in().items()}


def extra_package(where: str) -> str | None:
    """The extra a file belongs to (``"web"`` for ``fact_store/web/app.py:12``), or None."""
    return next((extra for prefix, extra in EXTRA_PACKAGES.items() if where.startswith(prefix)), None)


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


def test_every_third_party_import_is_declared_and_extras_are_guarded():
    decl = declared_in()
    undeclared, unguarded = [], []
    for module, where, guarded in third_party_imports(package_files()):
        dist = distribution_of(module)
        if dist not in decl:
            undeclared.append(f"{where}: {module} (distribution {dist})")
        elif "core" not in decl[dist] and not guarded and extra_package(where) not in decl[dist]:
            unguarded.append(f"{where}: {module} is in the {sorted(decl[dist])} extras but imported "
                             "at module level without `except ImportError`")
    assert not undeclared, "imported but not declared in pyproject.toml:\n" + "\n".join(undeclared)
    assert not unguarded, "\n".join(unguarded)


def test_every_declared_dependency_is_imported():
    decl = declared()
    used = {distribution_of(m) for m, _, _ in third_party_imports(package_files())}
    test_files = sorted((ROOT / "tests").rglob("*.py"))
    used_by_tests = {distribution_of(m) for m, _, _ in third_party_imports(test_files)}
    # pytest plugins are used through the options they add, not imported
    plugins = {"pytest-timeout": "timeout" in PYPROJECT["tool"]["pytest"]["ini_options"]}
    # used by another dependency rather than imported: Starlette's request.form() needs it
    used |= {"python-multipart"} if any("request.form()" in p.read_text()
                                        for p in package_files() if extra_package(str(p.relative_to(ROOT)) + "/")) else set()
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
    blocked = sorted({canonical(m).replace("-", "_") for m, _, _ in third_party_imports(package_files())
                      if declared()[distribution_of(m)] != "core"} | {"psycopg", "prompt_toolkit"})
    code = textwrap.dedent(f"""
        import importlib.abc, pkgutil, sys
        BLOCKED = {blocked!r}
        class Block(importlib.abc.MetaPathFinder):
            def find_spec(self, name, path=None, target=None):
                if name.split(".")[0] in BLOCKED:
                    raise ModuleNotFoundError(f"No module named {{name!r}}", name=name)
        sys.meta_path.insert(0, Block())
        import fact_store, overseer
        for pkg in (fact_store, overseer):
            for m in pkgutil.walk_packages(pkg.__path__, pkg.__name__ + "."):
                if m.name.endswith("__main__") or m.name.split(".")[1:2] == ["web"]:
                    continue  # the web extra's subpackages need it (EXTRA_PACKAGES)
                importlib.import_module(m.name)
        from fact_store.cli import cli
        cli.main(["transact", "-", "--uri", "file:{tmp_path / 'db'}"], standalone_mode=False)
    """)
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                         cwd=ROOT, input='[{:db/ident :a/b :db/valueType :db.type/long '
                                           ':db/cardinality :db.cardinality/one}]')
    assert run.returncode == 0, run.stderr[-3000:]
    assert "t 1" in run.stdout or ":t 1" in run.stdout, run.stdout
