"""``python -m fact_store``: the ``fact-store`` command (see ``fact_store/cli.py``)."""

from fact_store.cli import cli

if __name__ == "__main__":
    cli.main(prog_name="python -m fact_store")
