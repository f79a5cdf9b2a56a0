"""Running the outside programs provisioning needs, with their output kept in
a log file and a failure that shows its last lines."""

import logging
import subprocess
from pathlib import Path

log = logging.getLogger("provision")

TAIL_LINES = 15


class ProvisionError(Exception):
    """A step failed; the message says what failed and what to do next."""


def tail(path: Path, lines: int = TAIL_LINES) -> str:
    """The last lines of a log file, indented for a failure message."""
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return "    (no log written)"
    return "\n".join("    " + line for line in text.splitlines()[-lines:])


def run_logged(command: list[str], log_path: Path, what: str, cwd: Path | None = None) -> None:
    """Run a command with its output appended to log_path; raise with its tail on failure."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    log.debug("running %s (log: %s)", " ".join(command), log_path)

    with log_path.open("a") as out:
        out.write(f"$ {' '.join(command)}\n")
        out.flush()
        try:
            status = subprocess.run(
                command, cwd=cwd, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
            ).returncode
        except FileNotFoundError:
            raise ProvisionError(f"{what}: {command[0]} is not installed") from None

    if status != 0:
        raise ProvisionError(
            f"{what} failed (exit status {status}); last lines of {log_path}:\n{tail(log_path)}"
        )
