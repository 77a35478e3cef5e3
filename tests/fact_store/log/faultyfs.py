"""FaultyFS: a FileOps that fails on cue and forgets unsynced writes (RELIABILITY.md T3).

Pass one as ``FileStore(path, fileops=FaultyFS(...))``. It runs the real
system calls on real files, and:

- **injects errors** at the n-th call of an operation (``Fault("fdatasync", 3,
  "eio")``), once (transient) or from then on (persistent). Kinds: ``eio``,
  ``enospc``, ``short`` (a pwrite writes half its bytes; persistent: later
  pwrites fail with ENOSPC, as a filling disk does);
- **remembers unsynced writes** (``track_unsynced=True``): every pwrite and
  ftruncate since the file's last fsync/fdatasync, with the bytes it replaced.
  :meth:`FaultyFS.crash` then gives each one a fate, as SQLite's test6.c does —
  persisted, dropped (old bytes back; an append shrinks the file again) or
  filled with garbage — and closes every descriptor, as process death would.
  ``device="sequential"`` drops every write after the first dropped one (a
  device that persists in order); ``"random"`` decides each independently.
  Directory operations (create, rename, unlink) are taken as durable at once:
  that part of T3 is left for the reliability suite;
- reports any ``statfs`` type (``statfs_type=0x6969`` pretends NFS).

Counters (``calls``) let a test enumerate "fail operation n" for every n.
"""

from __future__ import annotations

import errno
import os
import random
from collections import Counter
from typing import NamedTuple

from fact_store.log.fileops import FileOps


class Fault(NamedTuple):
    op: str            # pwrite, fdatasync, fsync, ftruncate, open, rename, fsync_dir, read, any
    at: int            # the n-th call of op (1-based) fails
    kind: str = "eio"  # eio | enospc | short
    persistent: bool = False


class _Write(NamedTuple):
    offset: int
    length: int
    old: bytes       # bytes the write replaced (within the old size)
    old_size: int


class FaultyFS(FileOps):
    """See the module doc."""

    def __init__(self, faults: list[Fault] | tuple[Fault, ...] = (), *,
                 track_unsynced: bool = False, statfs_type: int | None = None,
                 only_paths: tuple[str, ...] = ()) -> None:
        self.faults = list(faults)
        self.calls: Counter[str] = Counter()
        self.tripped: list[tuple[str, int, str]] = []
        self.track = track_unsynced
        self.statfs_type = statfs_type
        self.only_paths = only_paths  # inject only into files whose name ends so (e.g. "log")
        self.fd_path: dict[int, str] = {}
        self.unsynced: dict[str, list[_Write]] = {}
        self.open_fds: set[int] = set()
        self._broken: set[str] = set()  # ops persistently failing (kind per op)

    # fault machinery ------------------------------------------------------------------------
    def _check(self, op: str, path: str | None = None) -> str | None:
        """Count a call; return the fault kind to apply now, or None."""
        if self.only_paths and path is not None and not path.endswith(self.only_paths):
            return None
        self.calls[op] += 1
        self.calls["any"] += 1
        for f in self.faults:
            if f.op != op and f.op != "any":
                continue
            n = self.calls[f.op]
            if n == f.at or (f.persistent and n > f.at):
                self.tripped.append((op, n, f.kind))
                if f.kind == "short" and n > f.at:
                    return "enospc"
                return f.kind
        return None

    @staticmethod
    def _raise(kind: str, op: str) -> None:
        code = errno.ENOSPC if kind == "enospc" else errno.EIO
        raise OSError(code, f"{os.strerror(code)} (injected into {op})")

    def clear_faults(self) -> None:
        """The error "clears" (the disk was freed or replaced): later calls succeed."""
        self.faults = []

    # FileOps ---------------------------------------------------------------------------------
    def open(self, path: str, flags: int, mode: int = 0o600) -> int:
        kind = self._check("open", path)
        if kind is not None:
            self._raise(kind, "open")
        fd = super().open(path, flags, mode)
        self.fd_path[fd] = path
        self.open_fds.add(fd)
        return fd

    def close(self, fd: int) -> None:
        self.open_fds.discard(fd)
        super().close(fd)

    def pwrite(self, fd: int, data: bytes | memoryview, offset: int) -> int:
        path = self.fd_path.get(fd)
        kind = self._check("pwrite", path)
        if kind is not None and kind != "short":
            self._raise(kind, "pwrite")
        if kind == "short":
            data = bytes(data[:max(1, len(data) // 2)])
        if self.track and path is not None:
            size = os.fstat(fd).st_size
            old = os.pread(fd, len(data), offset) if offset < size else b""
            self.unsynced.setdefault(path, []).append(_Write(offset, len(data), old, size))
        return super().pwrite(fd, data, offset)

    def read(self, fd: int, n: int, offset: int) -> bytes:
        kind = self._check("read", self.fd_path.get(fd))
        if kind is not None:
            self._raise(kind, "read")
        return super().read(fd, n, offset)

    def _sync(self, op: str, fd: int) -> None:
        path = self.fd_path.get(fd)
        kind = self._check(op, path)
        if kind is not None:
            # fsyncgate: a failed fsync may drop the dirty pages; keep them "unsynced".
            self._raise(kind, op)
        if path is not None:
            self.unsynced.pop(path, None)

    def fsync(self, fd: int) -> None:
        self._sync("fsync", fd)
        super().fsync(fd)

    def fdatasync(self, fd: int) -> None:
        self._sync("fdatasync", fd)
        super().fdatasync(fd)

    def ftruncate(self, fd: int, size: int) -> None:
        path = self.fd_path.get(fd)
        kind = self._check("ftruncate", path)
        if kind is not None:
            self._raise(kind, "ftruncate")
        if self.track and path is not None:
            old_size = os.fstat(fd).st_size
            old = os.pread(fd, max(old_size - size, 0), size)
            self.unsynced.setdefault(path, []).append(_Write(size, len(old), old, old_size))
        super().ftruncate(fd, size)

    def rename(self, src: str, dst: str) -> None:
        kind = self._check("rename", dst)
        if kind is not None:
            self._raise(kind, "rename")
        super().rename(src, dst)
        if src in self.unsynced:
            self.unsynced[dst] = self.unsynced.pop(src)
        for fd, p in self.fd_path.items():
            if p == src:
                self.fd_path[fd] = dst

    def fsync_dir(self, path: str) -> None:
        kind = self._check("fsync_dir", path)
        if kind is not None:
            self._raise(kind, "fsync_dir")
        super().fsync_dir(path)

    def unlink(self, path: str) -> None:
        kind = self._check("unlink", path)
        if kind is not None:
            self._raise(kind, "unlink")
        super().unlink(path)

    def statfs(self, path: str) -> int | None:
        if self.statfs_type is not None:
            return self.statfs_type
        return super().statfs(path)

    # power loss ------------------------------------------------------------------------------
    def crash(self, rng: random.Random, device: str = "random") -> Counter[str]:
        """Simulate power loss: decide each unsynced write's fate, close every fd.

        Returns how many writes got each fate. After this the FaultyFS must
        not be used again; reopen the store with a fresh FileOps.
        """
        fates: Counter[str] = Counter()
        for fd in list(self.open_fds):
            try:
                super().close(fd)
            except OSError:
                pass
        self.open_fds.clear()
        for path, writes in self.unsynced.items():
            if not os.path.exists(path):
                continue
            chosen = []
            dropping = False
            for _w in writes:
                if device == "sequential" and dropping:
                    fate = "drop"
                else:
                    fate = rng.choice(("persist", "drop", "garbage"))
                    dropping = dropping or fate != "persist"
                chosen.append(fate)
            fd = os.open(path, os.O_RDWR)
            try:
                for w, fate in reversed(list(zip(writes, chosen))):
                    fates[fate] += 1
                    if fate == "persist":
                        continue
                    size = os.fstat(fd).st_size
                    if fate == "garbage":
                        end = min(w.offset + w.length, size)
                        if end > w.offset:
                            os.pwrite(fd, rng.randbytes(end - w.offset), w.offset)
                        continue
                    # drop: put the old bytes back; shrink an append if it is the end.
                    if w.old:
                        os.pwrite(fd, w.old, w.offset)
                    if w.old_size < size and size <= max(w.offset + w.length, w.old_size):
                        os.ftruncate(fd, w.old_size)
                    elif w.old_size > size:  # a dropped truncate: the bytes come back
                        os.pwrite(fd, w.old, w.offset)
                    elif w.old_size < w.offset + w.length:
                        tail = min(w.offset + w.length, size) - max(w.offset, w.old_size)
                        if tail > 0:
                            os.pwrite(fd, bytes(tail), max(w.offset, w.old_size))
            finally:
                os.close(fd)
        self.unsynced.clear()
        return fates
