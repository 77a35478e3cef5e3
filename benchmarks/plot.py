"""Plot the ratios fact-store / peer per op from a results file of ``python -m benchmarks``.

    python -m benchmarks.plot [RESULTS.json] [--out benchmarks/results/ratios.png] [--markdown]
    python -m benchmarks.plot --venv ...    # matplotlib from a cache venv (benchmarks/.cache/plot-venv)

matplotlib is optional: without it the script says so and exits with status
2, unless ``--venv`` is given, which installs matplotlib with pip into a
git-ignored cache venv and runs the plot there. ``--markdown`` prints the
README's table (medians, ratios of wall and of CPU times, fact-store-cold's
CPU ratios to DataScript, geometric means, the load, machine and commit)
instead of plotting, and with two sizes how each op's CPU time grows from one to
the other; it needs nothing but the standard library.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import venv
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
RESULTS = BENCH / "results"
CACHE_VENV = BENCH / ".cache" / "plot-venv"
ORDER = ["q1", "q2", "q2-switch", "q3", "q4", "q5-ref", "qpred1", "qpred2", "rule-reach", "agg", "job-ready",
         "pull-nested", "pull-many", "avet-range", "eavt-lookup", "job-cycle", "init", "add-all", "add-entity",
         "add-1", "retract-entity"]


def latest_results() -> Path:
    files = sorted(RESULTS.glob("*.json"))
    if not files:
        raise SystemExit(f"no results file in {RESULTS}; run python -m benchmarks first")
    return files[-1]


def runs_by_size(doc: dict[str, Any]) -> dict[int, dict[str, Any]]:
    """size -> (the run that measured it, its summary for that size); later runs win."""
    out: dict[int, dict[str, Any]] = {}
    for run in doc.get("runs", []):
        for size, summary in run.get("summary", {}).items():
            out[int(size)] = {"run": run, "summary": summary}
    return dict(sorted(out.items()))


def markdown(doc: dict[str, Any]) -> str:
    lines = []
    for size, x in runs_by_size(doc).items():
        m, s = x["run"]["machine"], x["summary"]
        peers = [p for p in s["ratios"] if s["ratios"][p]]
        systems = ["fact-store", "fact-store-cold", "fact-store-file", "fact-store-file-fsync"] + peers
        systems = [y for y in systems if any(y in v for v in s["medians"].values())]
        load: dict[str, float] = {}
        for r in x["run"].get("rows", []):
            if r.get("size") == size and r.get("load_avg") and r.get("system") == "fact-store":
                load[r["op"]] = r["load_avg"][1]
        lines.append(f"Size {size:,}: {m['date'][:10]}, {m['hostname']} ({m['cpu']}, {m['cores']} cores, "
                     f"load average {m.get('load_avg_start', 0):.1f} at the start, "
                     f"{m.get('load_avg_end', 0):.1f} at the end, {m.get('seconds', 0) / 60:.0f} minutes), "
                     f"Python {m['python']}, Node {m.get('node', '-')}, DataScript {m.get('datascript', '-')}, "
                     f"SQLite {m.get('sqlite', '-')}, commit `{m['commit'][:10]}`"
                     + (f" (plus {len(m['uncommitted'])} uncommitted files)" if m.get("uncommitted") else "")
                     + ".\n")
        cpu = {p: s.get("cpu_ratios", {}).get(p) or {} for p in peers}
        cold_cpu = {p: s.get("cold_cpu_ratios", {}).get(p) or {} for p in peers}
        head = ["op"] + [f"{y} ms" + (" *" if y == "datascript-js" else "") for y in systems]
        for p in peers:
            head.append(f"÷ {p}")
            if cpu[p]:
                head.append(f"cpu ÷ {p}")
            if cold_cpu[p]:
                head.append(f"cold cpu ÷ {p}")
        head.append("load")
        lines.append("| " + " | ".join(head) + " |")
        lines.append("|" + "---|" + "---:|" * (len(head) - 1))
        for op in ORDER:
            if op not in s["medians"]:
                continue
            med = s["medians"][op]
            cells = [f"{med[y]:,.3g}" if y in med and med[y] < 100 else (f"{med[y]:,.0f}" if y in med else "")
                     for y in systems]
            for p in peers:
                for table, shown in ((s["ratios"][p], True), (cpu[p], bool(cpu[p])),
                                     (cold_cpu[p], bool(cold_cpu[p]))):
                    if shown:
                        cells.append(f"{table[op]:.2f}" if op in table else "")
            cells.append(f"{load[op]:.1f}" if op in load else "")
            lines.append(f"| `{op}` | " + " | ".join(cells) + " |")
        gm = []
        for p in peers:
            for key, shown in (("geomean", True), ("cpu_geomean", bool(cpu[p])),
                               ("cold_cpu_geomean", bool(cold_cpu[p]))):
                if shown:
                    g = s.get(key, {}).get(p)
                    gm.append(f"**{g:.2f}**" if g else "")
        lines.append("| geometric mean | " + " | ".join([""] * len(systems) + gm + [""]) + " |")
        lines.append("")
    return "\n".join(lines)


def growth(doc: dict[str, Any]) -> str:
    """How each system's CPU time per op grows from the smallest size to the largest (markdown)."""
    sizes = runs_by_size(doc)
    if len(sizes) < 2:
        return ""
    lo, hi = min(sizes), max(sizes)
    a = sizes[lo]["summary"].get("cpu_medians") or {}
    b = sizes[hi]["summary"].get("cpu_medians") or {}
    systems = [y for y in ("fact-store", "datascript-js", "sqlite-mem")
               if any(y in v for v in b.values())]
    lines = [f"CPU time per execution growing from {lo:,} to {hi:,} ({hi // lo}x the data):", "",
             "| op | " + " | ".join(f"{y} ms at {hi:,}" for y in systems) + " | "
             + " | ".join(f"{y} growth" for y in systems) + " |",
             "|---|" + "---:|" * (2 * len(systems))]
    for op in ORDER:
        if op not in b:
            continue
        cells = [f"{b[op][y]:,.3g}" if y in b[op] and b[op][y] < 100 else
                 (f"{b[op][y]:,.0f}" if y in b[op] else "") for y in systems]
        cells += [f"{b[op][y] / a[op][y]:.1f}x" if y in b[op] and y in a.get(op, {}) and a[op][y] > 0 else ""
                  for y in systems]
        lines.append(f"| `{op}` | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def plot(doc: dict[str, Any], out: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sizes = {k: v for k, v in runs_by_size(doc).items() if any(v["summary"]["ratios"].values())}
    fig, axes = plt.subplots(1, len(sizes), figsize=(6.5 * len(sizes), 7), squeeze=False, sharey=False)
    for ax, (size, x) in zip(axes[0], sizes.items()):
        s = x["summary"]
        peers = [p for p in s["ratios"] if s["ratios"][p]]
        if not peers:
            continue
        ops = [op for op in ORDER if any(op in s["ratios"][p] for p in peers)]
        h = 0.8 / max(1, len(peers))
        for k, p in enumerate(peers):
            ys = [i + (k - (len(peers) - 1) / 2) * h for i in range(len(ops))]
            vals = [s["ratios"][p].get(op, float("nan")) for op in ops]
            gm = s["geomean"].get(p)
            ax.barh(ys, vals, height=h, label=f"÷ {p} (geometric mean {gm:.2f})" if gm else p)
        ax.axvline(1.0, color="black", linewidth=0.8)
        ax.set_xscale("log")
        ax.set_yticks(range(len(ops)))
        ax.set_yticklabels(ops)
        ax.invert_yaxis()
        ax.set_xlabel("median time fact-store / peer (log scale; < 1: fact-store faster)")
        m = x["run"]["machine"]
        ax.set_title(f"size {size:,}: {m['date'][:10]}, {m['cpu']}, commit {m['commit'][:8]}", fontsize=9)
        ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.08), fontsize=8, ncol=2)
        ax.grid(axis="x", which="both", alpha=0.3)
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110, bbox_inches="tight")
    print(f"wrote {out}")


def reexec_in_venv(argv: list[str]) -> int:
    py = CACHE_VENV / "bin" / "python"
    if not py.exists():
        print(f"creating {CACHE_VENV} with matplotlib (pip)", file=sys.stderr)
        venv.create(CACHE_VENV, with_pip=True)
        subprocess.run([str(py), "-m", "pip", "install", "-q", "matplotlib"], check=True)
    args = [a for a in argv if a != "--venv"]
    env = dict(os.environ, PYTHONPATH=str(BENCH.parent))
    return subprocess.run([str(py), "-m", "benchmarks.plot", *args], env=env, cwd=BENCH.parent).returncode


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    ap = argparse.ArgumentParser(prog="python -m benchmarks.plot", description=__doc__.split("\n")[0])
    ap.add_argument("results", nargs="?", help="a results file (default: the newest in benchmarks/results)")
    ap.add_argument("--out", default=str(RESULTS / "ratios.png"))
    ap.add_argument("--markdown", action="store_true", help="print the README table instead of plotting")
    ap.add_argument("--venv", action="store_true", help="use matplotlib from a cache venv (installed on demand)")
    args = ap.parse_args(argv)
    doc = json.loads(Path(args.results or latest_results()).read_text())
    if args.markdown:
        print(markdown(doc))
        print(growth(doc))
        return 0
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        if args.venv:
            return reexec_in_venv(argv)
        print("matplotlib is not installed: pip install matplotlib, or run python -m benchmarks.plot --venv "
              "(installs it into benchmarks/.cache/plot-venv)", file=sys.stderr)
        return 2
    plot(doc, Path(args.out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
