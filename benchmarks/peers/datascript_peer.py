"""DataScript peer: installs the pinned npm package into a cache and runs ``datascript/bench.js``.

The package (``datascript/package.json``, DataScript 1.8.1) is installed with
npm into ``benchmarks/.cache/datascript`` (git-ignored) on first use, and
again whenever the installed version differs from the pin. The JS program
runs with ``node --expose-gc`` so that every transaction repetition starts
after a collection and the memory measurement reads the heap after one.

    .venv/bin/python -m benchmarks.peers.datascript_peer --size 20000 [--quick] [--memory] [op ...]
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
PACKAGE = HERE / "datascript" / "package.json"
SCRIPT = HERE / "datascript" / "bench.js"
CACHE = HERE.parent / ".cache" / "datascript"


class Unavailable(RuntimeError):
    """Node or npm is missing, or the install failed."""


def pinned_version() -> str:
    return json.loads(PACKAGE.read_text())["dependencies"]["datascript"]


def installed_version() -> str | None:
    pkg = CACHE / "node_modules" / "datascript" / "package.json"
    try:
        return json.loads(pkg.read_text())["version"]
    except (OSError, ValueError, KeyError):
        return None


def node_version() -> str | None:
    node = shutil.which("node")
    if node is None:
        return None
    return subprocess.run([node, "--version"], capture_output=True, text=True).stdout.strip() or None


def ensure_installed(log: Any = sys.stderr) -> Path:
    """The node_modules directory holding the pinned DataScript (installing it if needed)."""
    if shutil.which("node") is None:
        raise Unavailable("node is not on PATH")
    if installed_version() != pinned_version():
        npm = shutil.which("npm")
        if npm is None:
            raise Unavailable("npm is not on PATH")
        CACHE.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(PACKAGE, CACHE / "package.json")
        print(f"installing datascript {pinned_version()} with npm into {CACHE}", file=log, flush=True)
        proc = subprocess.run([npm, "install", "--no-audit", "--no-fund", "--no-package-lock"], cwd=CACHE,
                              capture_output=True, text=True)
        if proc.returncode != 0 or installed_version() != pinned_version():
            raise Unavailable(f"npm install failed: {proc.stderr.strip()[-500:]}")
    return CACHE / "node_modules"


def command(size: int, quick: bool = False, ops: list[str] | None = None, memory: bool = False) -> list[str]:
    cmd = ["node", "--expose-gc", str(SCRIPT), "--size", str(size)]
    if quick:
        cmd.append("--quick")
    if ops:
        cmd += ["--ops", ",".join(ops)]
    if memory:
        cmd.append("--memory")
    return cmd


def run_lines(size: int, quick: bool = False, ops: list[str] | None = None, memory: bool = False,
              echo: bool = False) -> list[dict[str, Any]]:
    """Run the JS program; return its JSON lines (printing each as it comes when ``echo``)."""
    modules = ensure_installed()
    env = dict(os.environ, NODE_PATH=str(modules))
    proc = subprocess.Popen(command(size, quick, ops, memory), env=env, stdout=subprocess.PIPE, text=True)
    rows = []
    assert proc.stdout is not None
    for raw in proc.stdout:
        raw = raw.strip()
        if raw.startswith("{"):
            rows.append(json.loads(raw))
            if echo:
                print(raw, flush=True)
    if proc.wait() != 0:
        raise Unavailable(f"node exited with {proc.returncode}")
    return rows


def main(argv: list[str] | None = None) -> int:
    import argparse
    ap = argparse.ArgumentParser(description="DataScript peer of the fact-store benchmark workload")
    ap.add_argument("--size", type=int, default=20000)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--memory", action="store_true")
    ap.add_argument("ops", nargs="*")
    args = ap.parse_args(argv)
    run_lines(args.size, args.quick, args.ops or None, args.memory, echo=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
