"""Simulated power loss over FaultyFS, directory operations included (RELIABILITY.md T3).

:class:`PowerLossFS` extends the storage suite's ``FaultyFS`` (which already
gives unsynced *writes* SQLite test6.c's fates) with what it leaves out:

- **directory operations** — a file created (``open`` with ``O_CREAT``), a
  directory made, a rename — are durable only once their directory is
  fsynced (``fsync_dir``). On :meth:`crash` each pending one is kept or
  undone: a dropped create removes the file, a dropped mkdir the directory, a
  dropped rename moves the file back (and brings back the file it replaced);
- **the moment of death**: the ``crash_at``-th operation (of ``crash_op``, or of
  any) raises :class:`PowerLoss`, and so does every later one;
- **device modes**: ``random`` (each unsynced write persisted, dropped or
  garbage, each directory op kept or undone), ``sequential`` (after the first
  lost one, everything later is lost too), ``safe_append`` (no garbage: an
  append is persisted or dropped whole, as SQLite's SAFE_APPEND devices).
"""

from __future__ import annotations

import os
import random
import shutil
from collections import Counter
from typing import Any

from faultyfs import FaultyFS

DEVICES = ("random", "sequential", "safe_append")


class PowerLoss(BaseException):
    """The power failed: raised at the chosen operation and every one after it."""


class _NoGarbage(random.Random):
    def choice(self, seq: Any) -> Any:
        c = super().choice(seq)
        return "drop" if c == "garbage" else c


class PowerLossFS(FaultyFS):
    def __init__(self, crash_op: str = "any", crash_at: int = 0, **kw: Any) -> None:
        kw.setdefault("track_unsynced", True)
        super().__init__(**kw)
        self.crash_op, self.crash_at = crash_op, crash_at
        self.dead = False
        # pending directory ops, in order: (kind, path, extra)
        self.pending_dir: list[tuple[str, str, Any]] = []

    # the moment of death -----------------------------------------------------------
    def _check(self, op: str, path: str | None = None) -> str | None:
        if self.dead:
            raise PowerLoss(op)
        if self.crash_at and self.crash_op in (op, "any") and \
                self.calls[self.crash_op] + 1 >= self.crash_at:
            self.dead = True
            raise PowerLoss(op)
        return super()._check(op, path)

    def flock(self, fd: int, operation: int) -> None:
        if self.dead:
            raise PowerLoss("flock")
        super().flock(fd, operation)

    # directory operations ----------------------------------------------------------
    def open(self, path: str, flags: int, mode: int = 0o600) -> int:
        existed = os.path.exists(path)
        fd = super().open(path, flags, mode)
        if flags & os.O_CREAT and not existed:
            self.pending_dir.append(("create", path, None))
        return fd

    def mkdir(self, path: str, mode: int = 0o700) -> None:
        if self.dead:
            raise PowerLoss("mkdir")
        super().mkdir(path, mode)
        self.pending_dir.append(("mkdir", path, None))

    def rename(self, src: str, dst: str) -> None:
        saved = None
        if os.path.exists(dst):
            saved = dst + ".powerloss-saved"
            shutil.copy2(dst, saved)
        super().rename(src, dst)
        self.pending_dir.append(("rename", dst, (src, saved)))

    def fsync_dir(self, path: str) -> None:
        super().fsync_dir(path)
        keep = []
        for kind, p, extra in self.pending_dir:
            if os.path.dirname(p.rstrip("/")) == path.rstrip("/"):
                if kind == "rename" and extra[1] is not None:
                    _remove(extra[1])
                continue
            keep.append((kind, p, extra))
        self.pending_dir = keep

    # power loss --------------------------------------------------------------------
    def crash(self, rng: random.Random, device: str = "random") -> Counter[str]:
        """Give every unsynced write and directory op its fate; close every fd."""
        frng = _NoGarbage(rng.random()) if device == "safe_append" else rng
        fates = super().crash(frng, device="sequential" if device == "sequential" else "random")
        still_dropping = True
        for kind, p, extra in reversed(self.pending_dir):  # undo newest first
            if device == "sequential":
                # in-order persistence: what is lost is a suffix of the ops
                drop = still_dropping and rng.random() < 0.5
                still_dropping = drop
            else:
                drop = rng.random() < 0.5
            if not drop:
                fates["dir-persist"] += 1
                if kind == "rename" and extra[1] is not None:
                    _remove(extra[1])
                continue
            fates["dir-drop"] += 1
            if kind == "create":
                _remove(p)
            elif kind == "mkdir":
                shutil.rmtree(p, ignore_errors=True)
            elif kind == "rename":
                src, saved = extra
                if os.path.exists(p):
                    os.rename(p, src)
                if saved is not None:
                    os.rename(saved, p)
        self.pending_dir = []
        return fates


def _remove(p: str) -> None:
    try:
        os.unlink(p)
    except FileNotFoundError:
        pass
