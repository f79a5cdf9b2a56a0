"""The Docker objects of the fault matrix: its tiny image, the user's stand-ins, what is left.

Every sample page runs containers of one tiny image made here (Debian's
static busybox, imported, no registry needed), so anything a case leaves on
the engine can be told apart from what other people's work makes on the same
engine meanwhile: it comes from that image or carries the case's token.
"""

from __future__ import annotations

import contextlib
import io
import shutil
import struct
import tarfile
from dataclasses import dataclass
from pathlib import Path

import docker.errors

APPLETS = ("sh", "sleep", "echo", "cat", "true", "false", "httpd", "id", "touch", "kill")
INSTALL_BUSYBOX = "install Debian's static busybox: sudo apt-get install -y busybox-static"
PT_INTERP = 3  # the ELF program header of a dynamically linked program


class NoStaticBusybox(Exception):
    """There is no static busybox to build the tiny image from; the message says what to do."""


def static_busybox() -> Path:
    """Debian's static busybox, which runs in an image that holds nothing else."""
    found = shutil.which("busybox")
    if found is None:
        raise NoStaticBusybox(f"busybox is not installed; {INSTALL_BUSYBOX}")
    path = Path(found).resolve()
    if not _is_static(path.read_bytes()):
        raise NoStaticBusybox(
            f"{path} is linked dynamically and cannot run alone; {INSTALL_BUSYBOX}"
        )
    return path


def _is_static(elf: bytes) -> bool:
    """True if a 64-bit little-endian ELF program asks for no dynamic loader."""
    (phoff,) = struct.unpack_from("<Q", elf, 0x20)
    entry_size, count = struct.unpack_from("<HH", elf, 0x36)
    kinds = (struct.unpack_from("<I", elf, phoff + i * entry_size)[0] for i in range(count))
    return PT_INTERP not in kinds


def import_tiny_image(api: docker.APIClient, repository: str, tag: str) -> str:
    """Import busybox and its applets as `repository:tag`; its image ID."""
    busybox = static_busybox()
    archive = io.BytesIO()
    with tarfile.open(fileobj=archive, mode="w") as tar:
        tar.add(busybox, arcname="bin/busybox")
        for applet in APPLETS:
            link = tarfile.TarInfo(f"bin/{applet}")
            link.type, link.linkname = tarfile.SYMTYPE, "busybox"
            tar.addfile(link)
        for folder in ("tmp", "data"):
            entry = tarfile.TarInfo(folder)
            entry.type, entry.mode = tarfile.DIRTYPE, 0o1777
            tar.addfile(entry)

    api.import_image_from_data(
        archive.getvalue(), repository=repository, tag=tag, changes=['CMD ["/bin/sh"]']
    )
    return api.inspect_image(f"{repository}:{tag}")["Id"]


@dataclass(frozen=True)
class EngineState:
    """The IDs of every container, image and network, and the names of every volume."""

    containers: frozenset[str]
    images: frozenset[str]
    networks: frozenset[str]
    volumes: frozenset[str]

    @classmethod
    def read(cls, api: docker.APIClient) -> EngineState:
        return cls(
            frozenset(c["Id"] for c in api.containers(all=True)),
            frozenset(i["Id"] for i in api.images(all=True)),
            frozenset(n["Id"] for n in api.networks()),
            frozenset(v["Name"] for v in api.volumes().get("Volumes") or []),
        )


@dataclass(frozen=True)
class Sentinels:
    """A container and an image of the user's, made directly on the engine before a run."""

    container: str
    image: str

    @classmethod
    def make(cls, api: docker.APIClient, tiny_image: str, token: str) -> Sentinels:
        container = api.create_container(tiny_image, ["sleep", "600"], name=f"{token}-sentinel")
        image = api.commit(container["Id"], repository="course-faults-sentinel", tag=token)
        return cls(container["Id"], image["Id"])

    def missing(self, api: docker.APIClient) -> list[str]:
        """Which of the two is gone."""
        gone = []
        for what, exists in (("container", _container_exists), ("image", _image_exists)):
            object_id = getattr(self, what)
            if not exists(api, object_id):
                gone.append(f"the user's {what} {object_id[:19]}")
        return gone

    def remove(self, api: docker.APIClient) -> None:
        remove(
            api,
            [Leftover("container", self.container, "sentinel"), Leftover("image", self.image, "")],
        )


def _container_exists(api: docker.APIClient, container_id: str) -> bool:
    try:
        api.inspect_container(container_id)
    except docker.errors.NotFound:
        return False
    return True


def _image_exists(api: docker.APIClient, image_id: str) -> bool:
    try:
        api.inspect_image(image_id)
    except docker.errors.ImageNotFound:
        return False
    return True


@dataclass(frozen=True)
class Leftover:
    """An object a case made that is still on the engine."""

    kind: str
    id: str
    name: str

    def __str__(self) -> str:
        return f"{self.kind} {self.name} ({self.id.removeprefix('sha256:')[:12]})"


def left_behind(
    api: docker.APIClient, before: EngineState, tiny_image: str, token: str
) -> list[Leftover]:
    """What is on the engine now and not `before`, and came from the case's image or token.

    Someone else's object made meanwhile on a shared engine is neither, and
    is not counted; on CI's engine of its own there is no such object.
    """
    now = EngineState.read(api)
    left = []
    for container in api.containers(all=True):
        new = container["Id"] in now.containers - before.containers
        name = ",".join(n.lstrip("/") for n in container.get("Names") or [])
        if new and (container.get("ImageID") == tiny_image or token in name):
            left.append(Leftover("container", container["Id"], name))
    for image in api.images(all=True):
        tags = ",".join(image.get("RepoTags") or []) or "<untagged>"
        if image["Id"] in now.images - before.images and (
            image.get("ParentId") == tiny_image or token in tags
        ):
            left.append(Leftover("image", image["Id"], tags))
    for network in api.networks():
        if network["Id"] in now.networks - before.networks and token in network["Name"]:
            left.append(Leftover("network", network["Id"], network["Name"]))
    for name in now.volumes - before.volumes:
        if token in name:
            left.append(Leftover("volume", name, name))
    return left


def remove(api: docker.APIClient, leftovers: list[Leftover]) -> None:
    """Remove what a failed case left, so that it does not spoil the next case."""
    removers = {
        "container": lambda i: api.remove_container(i, force=True, v=True),
        "image": lambda i: api.remove_image(i, force=True),
        "network": api.remove_network,
        "volume": api.remove_volume,
    }
    for kind in removers:
        for leftover in (item for item in leftovers if item.kind == kind):
            with contextlib.suppress(docker.errors.NotFound):
                removers[kind](leftover.id)
