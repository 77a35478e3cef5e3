"""FileOps: the one seam every byte of the file store goes through.

The file store never calls ``os`` directly for its data: it calls a
:class:`FileOps`. This class is the real implementation (thin wrappers around
``os``); the tests swap in ``tests/fact_store/log/faultyfs.py``'s ``FaultyFS``,
which injects ``EIO``/``ENOSPC``/short writes/failed fsyncs at the n-th
operation and can simulate a power loss over the unsynced writes (SQLite's
test6.c method, RELIABILITY.md T3).

Every method raises ``OSError`` as ``os`` does; turning that into a
:class:`~fact_store.errors.StorageError` is the store's job.

>>> import tempfile, os
>>> ops = FileOps()
>>> d = tempfile.mkdtemp()
>>> fd = ops.open(os.path.join(d, "f"), os.O_RDWR | os.O_CREAT)
>>> write_all(ops, fd, b"hello", 0)
>>> ops.read(fd, 5, 0), ops.fstat(fd).st_size
(b'hello', 5)
>>> ops.close(fd)
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import fcntl
import os

#: Filesystem magic numbers (``statfs.f_type``) on which flock and fsync are
#: not trustworthy for a shared log (RELIABILITY.md 3.6).
NETWORK_FS_TYPES: dict[int, str] = {
    0x6969: "nfs",
    0x517B: "smb",
    0xFF534D42: "cifs",
    0xFE534D42: "smb2",
    0x65735546: "fuse",
    0x01021997: "9p",
    0x564C: "ncpfs",
    0x73757245: "coda",
    0x47504653: "gpfs",
    0x00C36400: "ceph",
    0x0BD00BD0: "lustre",
}


class FileOps:
    """The real file operations (``os``), one method per system call the store uses."""

    def open(self, path: str, flags: int, mode: int = 0o600) -> int:
        """``os.open`` with ``O_CLOEXEC`` added (fds never leak into children)."""
        return os.open(path, flags | os.O_CLOEXEC, mode)

    def close(self, fd: int) -> None:
        os.close(fd)

    def pwrite(self, fd: int, data: bytes | memoryview, offset: int) -> int:
        """Write at ``offset``; may write fewer bytes than given (see :func:`write_all`)."""
        return os.pwrite(fd, data, offset)

    def read(self, fd: int, n: int, offset: int) -> bytes:
        """``pread``: up to ``n`` bytes at ``offset`` (fewer at end of file)."""
        return os.pread(fd, n, offset)

    def fstat(self, fd: int) -> os.stat_result:
        return os.fstat(fd)

    def stat(self, path: str) -> os.stat_result:
        return os.stat(path)

    def fsync(self, fd: int) -> None:
        os.fsync(fd)

    def fdatasync(self, fd: int) -> None:
        os.fdatasync(fd)

    def ftruncate(self, fd: int, size: int) -> None:
        os.ftruncate(fd, size)

    def rename(self, src: str, dst: str) -> None:
        os.rename(src, dst)

    def fsync_dir(self, path: str) -> None:
        """fsync a directory, making creates, renames and unlinks in it durable."""
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    def unlink(self, path: str) -> None:
        os.unlink(path)

    def mkdir(self, path: str, mode: int = 0o700) -> None:
        os.mkdir(path, mode)

    def listdir(self, path: str) -> list[str]:
        return os.listdir(path)

    def flock(self, fd: int, operation: int) -> None:
        """BSD ``flock`` (never ``fcntl`` record locks: closing any other fd of the
        file would drop those, the trap SQLite's docs describe)."""
        fcntl.flock(fd, operation)

    def statfs(self, path: str) -> int | None:
        """The filesystem type magic (``statfs(2)``'s ``f_type``), or None if unknown."""
        return _statfs_type(path)


def write_all(ops: FileOps, fd: int, data: bytes | memoryview, offset: int) -> None:
    """pwrite all of ``data`` at ``offset``, continuing after short writes.

    :raises OSError: from the write; ``EIO`` if the device accepts zero bytes.
    """
    view = memoryview(data)
    done = 0
    total = len(view)
    while done < total:
        n = ops.pwrite(fd, view[done:], offset + done)
        if n <= 0:
            raise OSError(errno.EIO, "write accepted no bytes")
        done += n


_libc: ctypes.CDLL | None = None


def _statfs_type(path: str) -> int | None:
    global _libc
    try:
        if _libc is None:
            _libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
        buf = ctypes.create_string_buffer(256)  # struct statfs is 120 bytes on Linux x86-64
        if _libc.statfs(os.fsencode(path), buf) != 0:
            return None
        # f_type is the first field: a C long (__fsword_t).
        return ctypes.c_long.from_buffer(buf).value & 0xFFFFFFFF
    except (OSError, AttributeError):  # pragma: no cover - non-Linux libc
        return None
