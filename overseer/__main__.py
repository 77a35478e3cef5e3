"""``python -m overseer``: the ``overseer`` command (see ``overseer/cli.py``)."""

from overseer.cli import main

if __name__ == "__main__":
    main.main(prog_name="python -m overseer")
