"""The lock every run of the real pages takes, so that two of them never share ports 8080 and 5000.

It is the same lock as `flock /tmp/docs-ports.lock COMMAND`: flock(2) on
that file.
"""

from __future__ import annotations

import fcntl
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from . import log

PORTS_LOCK = Path("/tmp/docs-ports.lock")


@contextmanager
def ports_lock(path: Path = PORTS_LOCK) -> Iterator[float]:
    """Hold the ports lock for the block; yields the seconds spent waiting for it."""
    with open(path, "a") as handle:
        started = time.monotonic()
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            log.info("waiting for %s: another run of the real pages holds it", path)
            fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield time.monotonic() - started
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
