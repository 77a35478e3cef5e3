"""Peer runners of the workload: SQLite (standard library) and DataScript (Node).

Each runner prints the JSON lines of workload section 7 with its own system
name, so that ``python -m benchmarks`` can put them beside fact-store's.
"""
