"""Inside overseer, imports only go downwards (STYLE.md section 1)."""

import ast
import pathlib

ROOT = pathlib.Path(__file__).resolve().parents[2] / "overseer"

LEVELS = {"errors": 1, "schema": 2, "graph": 2, "queries": 2, "config": 2, "transitions": 3, "handlers": 4,
          "status": 3, "reporting": 3, "claim": 4, "status_cli": 4, "demo": 5, "heartbeat": 5, "worker": 6,
          "cli": 7, "__init__": 8, "__main__": 9}


def test_overseer_modules_import_only_downwards():
    bad = []
    for path in sorted(ROOT.glob("*.py")):
        mine = LEVELS[path.stem]
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("overseer"):
                names = [node.module] if node.module != "overseer" else [f"overseer.{a.name}" for a in node.names]
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names if a.name.startswith("overseer")]
            for name in names:
                if name == "overseer" and path.stem == "cli":
                    continue  # the command line uses the façade, as any application does
                parts = name.split(".")
                theirs = LEVELS.get(parts[1], LEVELS["__init__"]) if len(parts) > 1 else LEVELS["__init__"]
                if theirs > mine or (theirs == mine and path.stem in ("cli", "__init__") and parts[1:] == [path.stem]):
                    bad.append(f"{path.name}:{node.lineno} imports {name}")
    assert not bad, bad
