"""docker build through the SDK, with the whole build log in a file and the
last lines of it in the error when a step fails."""

import logging
import time
from pathlib import Path

import docker

from .commands import ProvisionError, tail

log = logging.getLogger("provision")


def build(
    client: docker.DockerClient,
    context: Path,
    dockerfile: str,
    tag: str,
    log_path: Path,
    target: str | None = None,
    buildargs: dict[str, str] | None = None,
    labels: dict[str, str] | None = None,
) -> docker.models.images.Image:
    """Build context/dockerfile as tag and return the image."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    stage = f" (target {target})" if target else ""
    log.info("building %s from %s%s (log: %s)", tag, dockerfile, stage, log_path)

    with log_path.open("a") as out:
        out.write(f"=== docker build {dockerfile}{stage} -t {tag}\n")
        stream = client.api.build(
            path=str(context),
            dockerfile=dockerfile,
            tag=tag,
            target=target,
            buildargs=buildargs,
            labels=labels,
            rm=True,
            forcerm=True,
            pull=False,
            decode=True,
        )
        error = None
        started = time.monotonic()
        for chunk in stream:
            if "stream" in chunk:
                # Elapsed time before each step shows, afterwards, where the minutes went.
                if chunk["stream"].startswith("Step "):
                    out.write(f"[{time.monotonic() - started:7.1f} s] ")
                out.write(chunk["stream"])
            elif "error" in chunk:
                error = chunk["error"].strip()
                out.write(f"ERROR: {error}\n")
            elif "status" in chunk:
                out.write(chunk["status"] + "\n")
            out.flush()

    if error:
        raise ProvisionError(
            f"building {tag} failed: {error}\nlast lines of {log_path}:\n{tail(log_path)}"
        )
    return client.images.get(tag)
