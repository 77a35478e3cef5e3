"""Imports only go downwards (STYLE.md section 1): walk every module's imports with ast."""

import ast
import pathlib

ROOT = pathlib.Path(__file__).resolve().parent.parent

LEVELS = {
    "fact_store.errors": 1, "fact_store.edn": 1,
    "fact_store.datom": 2, "fact_store.schema": 2,
    "fact_store.index": 3, "fact_store.log": 3,
    "fact_store.db": 4, "fact_store.entity": 4,
    "fact_store.tx": 5, "fact_store.query": 5, "fact_store.pull": 5,
    "fact_store.peer": 6, "fact_store.connection": 6,
    "fact_store": 7,
    "fact_store.repl": 8, "fact_store.cli": 8, "fact_store.__main__": 8, "fact_store.web": 8,
}


def level(module: str) -> int | None:
    best = None
    for prefix, lvl in LEVELS.items():
        if module == prefix or module.startswith(prefix + "."):
            if best is None or len(prefix) > len(best[0]):
                best = (prefix, lvl)
    return best[1] if best else None


def imports(path: pathlib.Path) -> list[tuple[str, int]]:
    tree = ast.parse(path.read_text())
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(a.name, node.lineno) for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module == "fact_store":  # from fact_store import edn -> fact_store.edn
                out += [(f"fact_store.{a.name}", node.lineno) for a in node.names]
            else:
                out.append((node.module, node.lineno))
    return out


def test_fact_store_imports_only_go_downwards():
    bad = []
    for path in sorted((ROOT / "fact_store").rglob("*.py")):
        mod = ".".join(path.relative_to(ROOT).with_suffix("").parts)
        if mod.endswith(".__init__"):
            mod = mod[: -len(".__init__")]
        mine = level(mod)
        for imported, line in imports(path):
            theirs = level(imported)
            if mine is None or theirs is None:
                continue
            if theirs > mine and not (mod.startswith("fact_store.query") and imported.startswith("fact_store.pull")):
                bad.append(f"{path.relative_to(ROOT)}:{line} imports {imported} (level {theirs} > {mine})")
    assert not bad, "upward imports:\n" + "\n".join(bad)


def test_fact_store_knows_nothing_of_jobs():
    for path in (ROOT / "fact_store").rglob("*.py"):
        for imported, line in imports(path):
            assert not imported.startswith("overseer"), f"{path}:{line} imports {imported}"


def test_overseer_uses_only_the_facade():
    bad = []
    for path in sorted((ROOT / "overseer").rglob("*.py")):
        for imported, line in imports(path):
            sub = imported.split(".")[1] if imported.startswith("fact_store.") else None
            is_module = sub is not None and ((ROOT / "fact_store" / sub).is_dir()
                                             or (ROOT / "fact_store" / f"{sub}.py").exists())
            # fact_store.web is the console's public seam for tabs (overseer.web is one)
            if is_module and imported not in ("fact_store.edn", "fact_store.errors") \
                    and not imported.startswith("fact_store.web"):
                bad.append(f"{path.relative_to(ROOT)}:{line} imports {imported}")
    assert not bad, "overseer must use the fact_store façade only:\n" + "\n".join(bad)
