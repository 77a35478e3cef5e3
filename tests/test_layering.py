"""The house rules of imports (STYLE.md section 1, docs/ARCHITECTURE.md), checked with ``ast``.

Every ``import`` and ``from ... import`` of the two packages is read, relative ones and those
inside functions included, and resolved to the module it names (``from fact_store.query import
parse`` imports the module ``fact_store.query.parse``). Then:

1. imports only go downwards through the levels below (or stay inside one package);
2. between two components of one level, only the pairs in ``SAME_LEVEL`` import each other;
3. the module graph has no cycle, lazy (function-local) imports included: an import put inside
   a function to dodge a cycle still counts;
4. no module imports, or reads through a module alias, another module's ``_private`` name;
5. ``fact_store`` knows nothing of overseer, and overseer uses only what ``fact_store.__all__``
   names (plus the ``edn`` and ``errors`` modules).
"""

from __future__ import annotations

import ast
import pathlib

ROOT = pathlib.Path(__file__).resolve().parent.parent
PACKAGES = ("fact_store", "overseer")

LEVELS = {
    "fact_store.errors": 1, "fact_store.edn": 1,
    "fact_store.datom": 2, "fact_store.schema": 2,
    "fact_store.index": 3, "fact_store.log": 3, "fact_store.dbapi": 3,
    "fact_store.db": 4, "fact_store.entity": 4,
    "fact_store.tx": 5, "fact_store.query": 5, "fact_store.pull": 5,
    "fact_store.peer": 6, "fact_store.connection": 6,
    "fact_store": 7,
    "fact_store.repl": 8, "fact_store.cli": 8, "fact_store.web": 8,
    "fact_store.__main__": 9,                    # python -m fact_store: runs the cli
}

#: Imports between two different components of one level: (importer, imported) prefixes.
SAME_LEVEL = {
    ("fact_store.edn", "fact_store.errors"),     # the reader raises EdnSyntaxError
    ("fact_store.index", "fact_store.log"),      # snapshots use the log's value codec
    ("fact_store.query", "fact_store.pull"),     # pull expressions in :find
    ("fact_store.db", "fact_store.entity"),      # Db.entity() returns an Entity (lazy import)
    ("fact_store.connection", "fact_store.peer"),
    ("fact_store.cli", "fact_store.repl"),
    ("fact_store.cli", "fact_store.web"),        # the `fact-store web` command
    ("fact_store.web", "fact_store.repl"),       # the console renders results as the REPL does
}

#: Upward imports that are part of the design, each a function-local import with its reason
#: written beside it: Db's conveniences call the layer above at call time (DataScript's
#: ``d/q`` and ``d/pull`` take the db as an argument; Db.q is that call with the db bound).
UPWARD = {
    ("fact_store.db", "fact_store.tx.apply"),    # Db.with_
    ("fact_store.db", "fact_store.query"),       # Db.q
    ("fact_store.db", "fact_store.pull"),        # Db.pull, Db.pull_many
}

#: overseer's reads of ``fact_store`` internals that the overseer work will remove (issue 16
#: section 1: overseer goes through the façade only). Empty it, never grow it.
OVERSEER_ALLOWED: set[tuple[str, str]] = set()


def module_of(path: pathlib.Path) -> str:
    mod = ".".join(path.relative_to(ROOT).with_suffix("").parts)
    return mod[: -len(".__init__")] if mod.endswith(".__init__") else mod


def all_modules() -> dict[str, pathlib.Path]:
    return {module_of(p): p for pkg in PACKAGES for p in sorted((ROOT / pkg).rglob("*.py"))}


MODULES = all_modules()


class Import:
    def __init__(self, module: str, name: str | None, line: int, local: bool) -> None:
        self.module, self.name, self.line, self.local = module, name, line, local


def _base(mod: str, path: pathlib.Path, level: int) -> str:
    parts = mod.split(".")
    if path.name != "__init__.py":
        parts = parts[:-1]
    return ".".join(parts[: len(parts) - (level - 1)] if level > 1 else parts)


def imports(mod: str) -> list[Import]:
    """Every import of ``mod``: the module imported and, for ``from X import n``, the name."""
    path = MODULES[mod]
    tree = ast.parse(path.read_text())
    out: list[Import] = []

    def visit(node: ast.AST, local: bool) -> None:
        for child in ast.iter_child_nodes(node):
            inner = local or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
            if isinstance(child, ast.Import):
                out.extend(Import(a.name, None, child.lineno, local) for a in child.names)
            elif isinstance(child, ast.ImportFrom):
                target = child.module or ""
                if child.level:
                    base = _base(mod, path, child.level)
                    target = f"{base}.{target}" if target else base
                for a in child.names:
                    sub = f"{target}.{a.name}"
                    if sub in MODULES:
                        out.append(Import(sub, None, child.lineno, local))
                    else:
                        out.append(Import(target, a.name, child.lineno, local))
            visit(child, inner)

    visit(tree, False)
    return out


def owner(module: str, table: dict[str, int] = LEVELS) -> str | None:
    best = None
    for prefix in table:
        if module == prefix or module.startswith(prefix + "."):
            if best is None or len(prefix) > len(best):
                best = prefix
    return best


def component(module: str) -> str:
    """``fact_store.query.plan`` -> ``fact_store.query``: the unit the levels speak of."""
    parts = module.split(".")
    return ".".join(parts[:2])


def ours(module: str) -> bool:
    return module.split(".")[0] in PACKAGES


def test_fact_store_imports_only_go_downwards():
    bad = []
    for mod in MODULES:
        if not mod.startswith("fact_store"):
            continue
        mine = owner(mod)
        for imp in imports(mod):
            theirs = owner(imp.module)
            if mine is None or theirs is None or component(mod) == component(imp.module):
                continue
            lm, lt = LEVELS[mine], LEVELS[theirs]
            pair = (component(mod), component(imp.module))
            if lt > lm and not any(mod.startswith(a) and imp.module.startswith(b) for a, b in UPWARD):
                bad.append(f"{mod}:{imp.line} imports {imp.module} (level {lt} > {lm})")
            elif lt == lm and pair not in SAME_LEVEL:
                bad.append(f"{mod}:{imp.line} imports {imp.module} (same level {lm}, not listed)")
    assert not bad, "imports against the layers:\n" + "\n".join(dict.fromkeys(bad))


def test_upward_imports_are_function_local():
    for mod in MODULES:
        for imp in imports(mod):
            if any(mod.startswith(a) and imp.module.startswith(b) for a, b in UPWARD):
                assert imp.local, f"{mod}:{imp.line} imports {imp.module} at module level"


def graph() -> dict[str, set[str]]:
    g: dict[str, set[str]] = {m: set() for m in MODULES}
    for mod in MODULES:
        for imp in imports(mod):
            if imp.module in MODULES and imp.module != mod:
                g[mod].add(imp.module)
    return g


def cycles(g: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []
    counter = 0
    for root in sorted(g):
        if root in index:
            continue
        work = [(root, iter(sorted(g[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on.add(root)
        while work:
            v, it = work[-1]
            for w in it:
                if w not in index:
                    index[w] = low[w] = counter
                    counter += 1
                    stack.append(w)
                    on.add(w)
                    work.append((w, iter(sorted(g[w]))))
                    break
                if w in on:
                    low[v] = min(low[v], index[w])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[v])
                if low[v] == index[v]:
                    scc = []
                    while True:
                        w = stack.pop()
                        on.discard(w)
                        scc.append(w)
                        if w == v:
                            break
                    if len(scc) > 1:
                        out.append(sorted(scc))
    return out


def test_cycles_finds_a_cycle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_cycles():
    found = cycles(graph())
    assert not found, "import cycles (lazy imports count):\n" + "\n".join(" <-> ".join(c) for c in found)


def test_no_private_names_across_modules():
    bad = []
    for mod in MODULES:
        tree = ast.parse(MODULES[mod].read_text())
        aliases: dict[str, str] = {}
        for imp in imports(mod):
            if imp.name and imp.name.startswith("_") and not imp.name.startswith("__") \
                    and ours(imp.module) and imp.module != mod:
                bad.append(f"{mod}:{imp.line} imports {imp.module}.{imp.name}")
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                for a in node.names:
                    if a.asname and ours(a.name):
                        aliases[a.asname] = a.name
            elif isinstance(node, ast.ImportFrom):
                for imp in imports(mod):
                    if imp.line == node.lineno and imp.name is None:
                        for a in node.names:
                            if imp.module.endswith("." + a.name):
                                aliases[a.asname or a.name] = imp.module
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) \
                    and node.value.id in aliases and node.attr.startswith("_") \
                    and not node.attr.startswith("__") and aliases[node.value.id] != mod:
                bad.append(f"{mod}:{node.lineno} reads {aliases[node.value.id]}.{node.attr}")
    assert not bad, "private names used across modules:\n" + "\n".join(dict.fromkeys(bad))


def test_fact_store_knows_nothing_of_jobs():
    for mod in MODULES:
        if mod.startswith("fact_store"):
            for imp in imports(mod):
                assert not imp.module.startswith("overseer"), f"{mod}:{imp.line} imports {imp.module}"


def _facade_all() -> set[str]:
    tree = ast.parse(MODULES["fact_store"].read_text())
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "__all__"
                                                for t in node.targets):
            names = {e.value for e in node.value.elts if isinstance(e, ast.Constant)}  # type: ignore[attr-defined]
            errors = ast.parse(MODULES["fact_store.errors"].read_text())
            for n in errors.body:
                if isinstance(n, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "__all__"
                                                     for t in n.targets):
                    names |= {e.value for e in n.value.elts}  # type: ignore[attr-defined]
            return names
    raise AssertionError("fact_store/__init__.py has no __all__")


def test_overseer_uses_only_the_facade():
    public = _facade_all()
    bad = []
    for mod in MODULES:
        if not mod.startswith("overseer"):
            continue
        tree = ast.parse(MODULES[mod].read_text())
        aliases = set()
        for imp in imports(mod):
            if imp.module in ("fact_store.edn", "fact_store.errors") or not imp.module.startswith("fact_store"):
                continue
            if imp.module.startswith("fact_store.web"):  # the console's public seam for tabs
                continue
            if imp.module != "fact_store":
                bad.append((mod, f"{mod}:{imp.line} imports {imp.module}"))
            elif imp.name is not None and imp.name not in public and not imp.name.startswith("__"):
                bad.append((mod, f"{mod}:{imp.line} imports fact_store.{imp.name}, not in __all__"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                aliases |= {a.asname or a.name for a in node.names if a.name == "fact_store"}
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) \
                    and node.value.id in aliases and node.attr not in public \
                    and not node.attr.startswith("__"):
                bad.append((mod, f"{mod}:{node.lineno} uses fact_store.{node.attr}, not in __all__"))
    left = [text for mod, text in bad if (mod, text.split(" ", 1)[1]) not in OVERSEER_ALLOWED]
    assert not left, "overseer must use fact_store's __all__ only:\n" + "\n".join(left)


def test_the_layering_checks_can_fail(tmp_path):
    """The resolver sees relative, lazy and private imports (so the checks above can fail)."""
    global MODULES
    saved = MODULES
    try:
        pkg = tmp_path / "fact_store" / "query"
        pkg.mkdir(parents=True)
        (pkg / "a.py").write_text("from .b import _hidden\n")
        (pkg / "b.py").write_text("def f():\n    from fact_store.query import a\n")
        MODULES = {"fact_store.query.a": pkg / "a.py", "fact_store.query.b": pkg / "b.py"}
        got = imports("fact_store.query.a")
        assert [(i.module, i.name) for i in got] == [("fact_store.query.b", "_hidden")]
        assert imports("fact_store.query.b")[0].local
        assert cycles(graph()) == [["fact_store.query.a", "fact_store.query.b"]]
    finally:
        MODULES = saved
