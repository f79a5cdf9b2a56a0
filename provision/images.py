"""Make sure the course's three base images exist under their official tags:
keep an image already here, else pull the official one, else keep or build a
local stand-in whose recipe lives in provision/recipes/.

    python -m provision images
"""

import logging
import os
import shutil
import time
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import docker

from .apt import PrivateApt, Source, deb_version, machine_sources, mirror_for
from .build import build
from .commands import ProvisionError
from .recipe import (
    HASH_LABEL,
    RECIPES,
    Recipe,
    is_standin,
    machine_ca_bundle,
    recipe_file,
    standin_labels,
)
from .rootfs import SUITE, RootFS

log = logging.getLogger("provision")

PYTHON_SOURCE_PACKAGE = "python3.11"
REGISTRY_PACKAGES = ("docker-registry", "busybox-static")
ENGINE_HINT = "start one with provision/engine.sh"


@dataclass(frozen=True)
class Wanted:
    """One image the pages use, and which stand-in recipe can replace it."""

    tag: str
    family: str
    target: str | None = None


WANTED = (
    Wanted("python:3.11-slim-bookworm", "python", "slim"),
    Wanted("python:3.11-bookworm", "python", "full"),
    Wanted("registry:2", "registry"),
)


def default_cache() -> Path:
    """Where logs, downloads and build contexts go: COURSE_PROVISION_CACHE, or a cache dir."""
    if "COURSE_PROVISION_CACHE" in os.environ:
        return Path(os.environ["COURSE_PROVISION_CACHE"])
    if os.geteuid() == 0:
        return Path("/var/cache/course-provision")
    return Path.home() / ".cache" / "course-provision"


def connect() -> docker.DockerClient:
    """A client for the engine, or an error saying how to start one."""
    where = os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")
    try:
        docker.from_env(timeout=10).ping()
    except docker.errors.DockerException as error:
        raise ProvisionError(
            f"no Docker engine answers at {where} ({error}); {ENGINE_HINT}"
        ) from None
    # Builds stream, but committing a big layer can be silent for minutes.
    return docker.from_env(timeout=1800)


def local_image(client: docker.DockerClient, tag: str) -> docker.models.images.Image | None:
    try:
        return client.images.get(tag)
    except docker.errors.ImageNotFound:
        return None


def pull(client: docker.DockerClient, tag: str) -> str | None:
    """Pull tag; None when it worked, else why not."""
    repository, _, version = tag.rpartition(":")
    try:
        for event in client.api.pull(repository, version, stream=True, decode=True):
            if "error" in event:
                return event["error"]
    except docker.errors.APIError as error:
        return str(error.explanation or error)
    return None


def short_reason(reason: str) -> str:
    """The end of a pull error, where the cause is ("no such host")."""
    return ": ".join(reason.strip().splitlines()[0].split(": ")[-2:])


class Provisioner:
    """Decides, per wanted image, what to do, and makes the stand-ins it needs."""

    def __init__(self, client: docker.DockerClient, cache: Path, rebuild: bool = False):
        self.client = client
        self.cache = cache
        self.rebuild = rebuild
        self.logs = cache / "logs"
        self.downloads = cache / "downloads"
        self._apt: PrivateApt | None = None

    # The machine's apt sources and CA bundle are read only once a pull has
    # failed: where Docker Hub answers, the machine need not be Debian at all.

    @cached_property
    def sources(self) -> list[Source]:
        return machine_sources()

    @cached_property
    def ca_bundle(self) -> bytes:
        return machine_ca_bundle()

    @cached_property
    def rootfs(self) -> RootFS:
        mirror = mirror_for(self.sources, SUITE)
        apt_sources = "\n".join(source.as_deb822("deb") for source in self.sources)
        return RootFS(self.client, mirror, apt_sources, self.cache)

    @cached_property
    def recipes(self) -> dict[str, Recipe]:
        rootfs = ("rootfs", self.rootfs.recipe.digest.encode())
        ca_bundle = ("ca-certificates.crt", self.ca_bundle)
        return {
            "python": Recipe(
                name="python",
                parts=(
                    rootfs,
                    recipe_file("python.Dockerfile"),
                    recipe_file("pip.conf"),
                    ca_bundle,
                    ("source package", PYTHON_SOURCE_PACKAGE.encode()),
                ),
            ),
            "registry": Recipe(
                name="registry",
                parts=(
                    rootfs,
                    recipe_file("registry.Dockerfile"),
                    recipe_file("registry-config.yml"),
                    recipe_file("registry-entrypoint.sh"),
                    ca_bundle,
                    ("packages", " ".join(REGISTRY_PACKAGES).encode()),
                ),
            ),
        }

    def provision(self, wanted: Wanted) -> str:
        """Make wanted.tag exist; say which case it was."""
        existing = local_image(self.client, wanted.tag)
        if existing and not is_standin(existing.labels):
            return "kept the image already here (not a stand-in)"

        reason = pull(self.client, wanted.tag)
        if reason is None:
            self._drop_superseded(existing, wanted.tag)
            return "pulled the official image"
        log.debug("pulling %s failed: %s", wanted.tag, reason)

        recipe = self.recipes[wanted.family]
        why = f"pull failed: {short_reason(reason)}"
        current = existing and existing.labels.get(HASH_LABEL) == recipe.digest
        if current and not self.rebuild:
            return f"kept the stand-in of recipe {recipe.short} ({why})"

        if wanted.family == "python":
            self._build_python(wanted, recipe)
        else:
            self._build_registry(wanted, recipe)
        self._drop_superseded(existing, wanted.tag)
        return f"built a stand-in of recipe {recipe.short} ({why})"

    def _build_python(self, wanted: Wanted, recipe: Recipe) -> None:
        rootfs_tag = self.rootfs.ensure()
        context = self._fresh_context("python", ["python.Dockerfile", "pip.conf"])
        tarball = self._downloaded(f"{PYTHON_SOURCE_PACKAGE}_*.orig.tar.*", self._fetch_source)
        shutil.copy(tarball, context / "cpython-source.tar")
        version = deb_version(tarball)

        made_from = f"{self.rootfs.made_from}; CPython {version} from Debian's {tarball.name}"
        build(
            self.client,
            context,
            "python.Dockerfile",
            wanted.tag,
            self.logs / "python.log",
            target=wanted.target,
            buildargs={"ROOTFS": rootfs_tag, "PYTHON_VERSION": version},
            labels=standin_labels(
                wanted.tag,
                recipe,
                f"provision/recipes/python.Dockerfile, target {wanted.target}",
                made_from,
            ),
        )

    def _build_registry(self, wanted: Wanted, recipe: Recipe) -> None:
        rootfs_tag = self.rootfs.ensure()
        context = self._fresh_context(
            "registry", ["registry.Dockerfile", "registry-config.yml", "registry-entrypoint.sh"]
        )
        versions = []
        for package in REGISTRY_PACKAGES:
            deb = self._downloaded(f"{package}_*.deb", lambda p=package: self._fetch_deb(p))
            shutil.copy(deb, context / f"{package}.deb")
            versions.append(f"{package} {deb_version(deb)}")

        made_from = f"{' and '.join(versions)} from Debian {SUITE}, on {self.rootfs.made_from}"
        build(
            self.client,
            context,
            "registry.Dockerfile",
            wanted.tag,
            self.logs / "registry.log",
            buildargs={"ROOTFS": rootfs_tag},
            labels=standin_labels(
                wanted.tag, recipe, "provision/recipes/registry.Dockerfile", made_from
            ),
        )

    def _fresh_context(self, name: str, recipe_files: list[str]) -> Path:
        """A build context holding the named recipe files and the machine's CA bundle."""
        context = self.cache / "context" / name
        shutil.rmtree(context, ignore_errors=True)
        context.mkdir(parents=True)
        for file_name in recipe_files:
            shutil.copy(RECIPES / file_name, context / file_name)
        (context / "ca-certificates.crt").write_bytes(self.ca_bundle)
        return context

    def _downloaded(self, pattern: str, fetch) -> Path:
        """A file kept from an earlier run, or fetched now; delete the cache to fetch anew."""
        kept = sorted(self.downloads.glob(pattern))
        return kept[-1] if kept else fetch()

    def _private_apt(self) -> PrivateApt:
        if self._apt is None:
            self._apt = PrivateApt(self.sources, self.cache / "apt", self.logs / "apt.log")
        return self._apt

    def _fetch_source(self) -> Path:
        log.info("downloading the %s source from Debian's archive", PYTHON_SOURCE_PACKAGE)
        return self._private_apt().source_tarball(PYTHON_SOURCE_PACKAGE, SUITE, self.downloads)

    def _fetch_deb(self, package: str) -> Path:
        log.info("downloading %s from Debian's archive", package)
        return self._private_apt().download(package, self.downloads)

    def _drop_superseded(self, old: docker.models.images.Image | None, tag: str) -> None:
        """Remove a stand-in this run replaced at tag, unless something still uses it."""
        if old is None or not is_standin(old.labels):
            return
        current = local_image(self.client, tag)
        if current is not None and current.id == old.id:
            return
        try:
            self.client.images.remove(old.id)
            log.info("removed the superseded stand-in %s", old.short_id)
        except docker.errors.APIError as error:
            log.info("kept the superseded stand-in %s: %s", old.short_id, error.explanation)


def main(cache: Path | None = None, rebuild: bool = False) -> int:
    """Provision every wanted image, printing one line per image."""
    client = connect()
    provisioner = Provisioner(client, cache or default_cache(), rebuild)

    total = time.monotonic()
    for wanted in WANTED:
        started = time.monotonic()
        case = provisioner.provision(wanted)
        print(f"{wanted.tag:<26} {case} in {time.monotonic() - started:.1f} s", flush=True)
    log.info("all three images ready in %.1f s", time.monotonic() - total)
    return 0
