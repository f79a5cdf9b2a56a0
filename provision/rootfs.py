"""The stand-ins' common base: a Debian root file system made by debootstrap
from the machine's mirror, finished like Debian's own container images, and
imported into the engine as an image tagged with its recipe hash."""

import logging
import os
import shutil
import subprocess
import time
from pathlib import Path

import docker

from .apt import Source
from .commands import ProvisionError, run_logged
from .recipe import (
    HASH_LABEL,
    MADE_FROM_LABEL,
    RECIPES,
    ROLE_LABEL,
    STANDIN_LABEL,
    Recipe,
    recipe_file,
)

log = logging.getLogger("provision")

SUITE = "bookworm"
VARIANT = "minbase"
REPOSITORY = "course-standin/bookworm-rootfs"
# What Debian's own images set; debootstrap leaves the environment empty.
IMAGE_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def included_packages() -> list[str]:
    """The packages listed in recipes/rootfs.packages."""
    lines = (RECIPES / "rootfs.packages").read_text().splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


def debootstrap_command(mirror: Source, target: Path) -> list[str]:
    command = [
        "debootstrap",
        f"--variant={VARIANT}",
        f"--include={','.join(included_packages())}",
        "--components=main",
    ]
    if mirror.signed_by and Path(mirror.signed_by).is_file():
        command.append(f"--keyring={mirror.signed_by}")
    return command + [SUITE, str(target), mirror.uris[0]]


def rootfs_recipe(mirror: Source, apt_sources: str) -> Recipe:
    """The recipe of the root file system; apt_sources is what its apt will read."""
    arguments = " ".join(debootstrap_command(mirror, Path("TARGET")))
    return Recipe(
        name="rootfs",
        parts=(
            ("debootstrap", arguments.encode()),
            recipe_file("rootfs.packages"),
            recipe_file("rootfs-finish.sh"),
            ("debian.sources", apt_sources.encode()),
        ),
    )


class RootFS:
    """Makes the root file system image once per recipe and remembers its tag."""

    def __init__(self, client: docker.DockerClient, mirror: Source, apt_sources: str, cache: Path):
        self.client = client
        self.mirror = mirror
        self.apt_sources = apt_sources
        self.cache = cache
        self.recipe = rootfs_recipe(mirror, apt_sources)
        self.tag = f"{REPOSITORY}:{self.recipe.short}"
        self.made_from = f"debootstrap {SUITE} --variant={VARIANT} from {mirror.uris[0]}"

    def ensure(self) -> str:
        """The tag of the root file system image, made first if it is missing."""
        try:
            image = self.client.images.get(self.tag)
            if image.labels.get(HASH_LABEL) == self.recipe.digest:
                return self.tag
        except docker.errors.ImageNotFound:
            pass

        if os.geteuid() != 0:
            raise ProvisionError(
                "the stand-ins' root file system must be made (debootstrap, chroot), which "
                "needs root; run as root: sudo .venv/bin/python -m provision images"
            )
        started = time.monotonic()
        tree = self.cache / f"rootfs-{self.recipe.short}"
        tarball = tree.with_suffix(".tar")
        try:
            self._debootstrap(tree)
            self._finish(tree)
            self._pack(tree, tarball)
            self._import(tarball)
        finally:
            remove_tree(tree)
            tarball.unlink(missing_ok=True)

        log.info("root file system %s made in %.1f s", self.tag, time.monotonic() - started)
        self._untag_older()
        return self.tag

    def _debootstrap(self, tree: Path) -> None:
        ensure_debootstrap(self.cache / "logs" / "apt-install.log")
        remove_tree(tree)
        log_path = self.cache / "logs" / "debootstrap.log"
        log_path.unlink(missing_ok=True)

        log.info("debootstrap %s from %s (log: %s)", SUITE, self.mirror.uris[0], log_path)
        started = time.monotonic()
        run_logged(debootstrap_command(self.mirror, tree), log_path, "debootstrap")
        log.info("debootstrap took %.1f s", time.monotonic() - started)

    def _finish(self, tree: Path) -> None:
        (tree / "etc/apt/sources.list").unlink(missing_ok=True)
        (tree / "etc/apt/sources.list.d/debian.sources").write_text(self.apt_sources)

        log_path = self.cache / "logs" / "debootstrap.log"
        script = (RECIPES / "rootfs-finish.sh").read_text()
        with log_path.open("a") as out:
            status = subprocess.run(
                ["chroot", str(tree), "/bin/sh", "-s"],
                input=script.encode(),
                stdout=out,
                stderr=subprocess.STDOUT,
                env={"PATH": IMAGE_PATH, "LC_ALL": "C"},
            ).returncode
        if status != 0:
            raise ProvisionError(f"recipes/rootfs-finish.sh failed in the new tree; see {log_path}")

    def _pack(self, tree: Path, tarball: Path) -> None:
        command = ["tar", "--create", f"--file={tarball}", f"--directory={tree}"]
        run_logged(
            command + ["--numeric-owner", "."],
            self.cache / "logs" / "debootstrap.log",
            "packing the root file system",
        )

    def _import(self, tarball: Path) -> None:
        changes = [
            f"ENV PATH={IMAGE_PATH}",
            'CMD ["bash"]',
            f'LABEL {STANDIN_LABEL}="true"',
            f'LABEL {ROLE_LABEL}="rootfs"',
            f'LABEL {HASH_LABEL}="{self.recipe.digest}"',
            f'LABEL {MADE_FROM_LABEL}="{self.made_from}"',
        ]
        repository, tag = self.tag.split(":")
        with tarball.open("rb") as data:
            self.client.api.import_image_from_data(
                data, repository=repository, tag=tag, changes=changes
            )

    def _untag_older(self) -> None:
        """Untag root file systems of earlier recipes; images built on them keep their layers."""
        for image in self.client.images.list(name=REPOSITORY):
            for old in image.tags:
                if old != self.tag and image.labels.get(ROLE_LABEL) == "rootfs":
                    self.client.images.remove(old, noprune=True)


def remove_tree(tree: Path) -> None:
    """Delete a debootstrap tree, never through a file system still mounted in it.

    An interrupted debootstrap can leave /proc or /sys mounted inside the
    tree; deleting through them would reach the machine's own files.
    """
    if not tree.exists():
        return

    inside = str(tree.resolve()) + "/"
    for _ in range(2):
        mounts = [
            line.split()[1]
            for line in Path("/proc/self/mounts").read_text().splitlines()
            if line.split()[1].startswith(inside)
        ]
        if not mounts:
            shutil.rmtree(tree, ignore_errors=True)
            return
        for mount_point in sorted(mounts, reverse=True):
            subprocess.run(["umount", "--lazy", mount_point], check=False)

    raise ProvisionError(
        f"{tree} still has file systems mounted in it ({', '.join(mounts)}); "
        f"unmount them, delete {tree}, and run again"
    )


def ensure_debootstrap(log_path: Path) -> None:
    """Install Debian's debootstrap package if it is missing."""
    if shutil.which("debootstrap"):
        return
    if os.geteuid() != 0:
        raise ProvisionError("debootstrap is missing and installing it needs root; run as root")

    log.info("installing debootstrap (log: %s)", log_path)
    run_logged(["apt-get", "update"], log_path, "apt-get update")
    run_logged(
        ["apt-get", "install", "-y", "--no-install-recommends", "debootstrap"],
        log_path,
        "apt-get install debootstrap",
    )
