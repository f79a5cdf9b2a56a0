"""One persistent bash per page, fed one block at a time, as a learner's terminal is.

`cd`, variables and exports carry from block to block because every block is
sourced into the same bash. Each block reads a closed stdin (/dev/null), so a
command that waits for input ends instead of hanging. The end of a block is
found by a marker line, carrying the block's exit status, that bash prints
after it; the marker's nonce is random so that no output can forge it.
"""

from __future__ import annotations

import logging
import os
import re
import secrets
import selectors
import signal
import subprocess
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Result:
    """What one block did: its exit status (None when it did not finish) and its output."""

    status: int | None
    output: str
    seconds: float
    timed_out: bool = False
    shell_ended: bool = False


class ShellSession:
    """A bash process whose working directory and variables persist between blocks."""

    def __init__(self, cwd: Path, env: Mapping[str, str], scripts_dir: Path):
        self.cwd = cwd
        self._scripts_dir = scripts_dir
        self._count = 0
        self._nonce = "__course_block_end_" + secrets.token_hex(8)
        self._marker = re.compile(rb"\n" + self._nonce.encode() + rb" (\d+)\n")

        # A session of its own, so that a timeout can kill the whole process
        # group, and so that Ctrl-C in pytest's terminal does not reach it.
        self._process = subprocess.Popen(
            ["bash", "--noprofile", "--norc"],
            cwd=cwd,
            env=dict(env),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self._selector = selectors.DefaultSelector()
        self._selector.register(self._process.stdout, selectors.EVENT_READ)

    @property
    def alive(self) -> bool:
        return self._process.poll() is None

    def run(self, command: str, timeout: float) -> Result:
        """Run one block and wait for it, at most `timeout` seconds."""
        self._count += 1
        script = self._scripts_dir / f"block-{self._count}.sh"
        script.write_text(command if command.endswith("\n") else command + "\n", encoding="utf-8")
        log.info("running in %s:\n%s", self.cwd, command.rstrip())

        started = time.monotonic()
        # The marker starts with a newline so that it stands on its own line
        # even after output that does not end with one; `_read_block` removes
        # that newline again.
        self._send(f"source {script} </dev/null\nprintf '\\n%s %d\\n' {self._nonce} \"$?\"\n")
        result = self._read_block(started, timeout)

        log.info("status %s after %.1f s", result.status, result.seconds)
        return result

    def close(self) -> None:
        """End bash and everything it started that is still in its process group."""
        if self.alive:
            try:
                self._send("exit\n")
                self._process.wait(timeout=2)
            except (OSError, subprocess.TimeoutExpired):
                pass
        self._kill_group()
        self._selector.close()
        for stream in (self._process.stdin, self._process.stdout):
            if stream:
                stream.close()

    def _send(self, text: str) -> None:
        self._process.stdin.write(text.encode())
        self._process.stdin.flush()

    def _read_block(self, started: float, timeout: float) -> Result:
        buffer = bytearray()
        deadline = started + timeout

        while True:
            found = self._marker.search(buffer)
            if found:
                output = _decode(buffer[: found.start()])
                return Result(int(found.group(1)), output, time.monotonic() - started)

            remaining = deadline - time.monotonic()
            if remaining <= 0:
                self._kill_group()
                return Result(None, _decode(buffer), time.monotonic() - started, timed_out=True)

            if not self._selector.select(timeout=min(remaining, 0.5)):
                continue
            chunk = os.read(self._process.stdout.fileno(), 65536)
            if not chunk:
                self._process.wait()
                return Result(
                    self._process.returncode,
                    _decode(buffer),
                    time.monotonic() - started,
                    shell_ended=True,
                )
            buffer += chunk

    def _kill_group(self) -> None:
        try:
            os.killpg(self._process.pid, signal.SIGKILL)
        except ProcessLookupError:
            return
        self._process.wait()


def _decode(data: bytes) -> str:
    return data.decode("utf-8", errors="replace")
