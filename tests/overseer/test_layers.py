"""Inside overseer, imports only go downwards (STYLE.md section 1)."""

import ast
import pathlib

ROOT = pathlib.Path(__file__).resolve().parents[2] / "overseer"

LEVELS = {"errors": 1, "schema": 2, "graph": 2, "queries": 2, "config": 2, "claim": 3, "handlers": 3,
          "heartbeat": 3, "status": 3, "reporting": 3, "status_cli": 4, "demo": 4, "worker": 4, "cli": 5,
          "__init__": 6, "__main__": 7}


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
                theirs = LEVELS.get(parts[1], 6) if len(parts) > 1 else 6
                if theirs > mine or (theirs == mine and path.stem in ("cli", "__init__") and parts[1:] == [path.stem]):
                    bad.append(f"{path.name}:{node.lineno} imports {name}")
    assert not bad, bad
