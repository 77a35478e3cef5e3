"""A fake clock (RELIABILITY.md T8): skew, jumps and freezing, without touching the system clock.

``FakeClock()`` is a callable returning epoch seconds, as overseer's ``clock=``
parameter expects: the real time plus an offset, optionally frozen. In a
subprocess, ``from_env()`` reads ``RELIABILITY_CLOCK="offset[:frozen]"``.
"""

from __future__ import annotations

import os
import time

ENV = "RELIABILITY_CLOCK"


class FakeClock:
    def __init__(self, offset: float = 0.0, frozen_at: float | None = None) -> None:
        self.offset = offset
        self.frozen_at = frozen_at

    def __call__(self) -> float:
        if self.frozen_at is not None:
            return self.frozen_at
        return time.time() + self.offset

    def jump(self, seconds: float) -> None:
        """Jump forwards (or, negative, backwards)."""
        if self.frozen_at is not None:
            self.frozen_at += seconds
        else:
            self.offset += seconds

    def freeze(self) -> None:
        self.frozen_at = self()

    def thaw(self) -> None:
        if self.frozen_at is not None:
            self.offset = self.frozen_at - time.time()
            self.frozen_at = None

    def env(self) -> dict[str, str]:
        frozen = "" if self.frozen_at is None else f":{self.frozen_at}"
        return {ENV: f"{self.offset}{frozen}"}


def from_env() -> FakeClock:
    spec = os.environ.get(ENV, "0")
    offset, _, frozen = spec.partition(":")
    return FakeClock(float(offset), float(frozen) if frozen else None)
