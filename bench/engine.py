"""The Docker engine as the benchmark uses it: removing exactly what the benchmark made.

Nothing here removes an object by a broad filter. The benchmark removes an
image only when the legacy builder's own output named it as made by one of
the benchmark's builds and it did not exist before that build, and a tag
only when the benchmark made it; a user's tag that a page moved is put back.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from pathlib import Path

import docker
import docker.errors

from . import log
from .build import BUILT_RE, STEP_IMAGE_RE, Build, docker_build

BENCH_REPOSITORY = "docker-course-bench"


class CannotStart(Exception):
    """The benchmark cannot measure anything; the message says what to do."""


def connect() -> docker.DockerClient:
    """A client of the engine, or CannotStart saying how to get one."""
    try:
        client = docker.from_env(timeout=300)
        client.ping()
    except docker.errors.DockerException as error:
        raise CannotStart(
            f"no Docker engine answers ({error}); start one (sudo provision/engine.sh) "
            "and run the benchmark again"
        ) from None
    return client


@dataclass(frozen=True)
class ImageTable:
    """Every image the engine holds, intermediate ones included."""

    parents: dict[str, str]
    tags: dict[str, str]

    @classmethod
    def read(cls, api) -> ImageTable:
        parents, tags = {}, {}
        for image in api.images(all=True):
            parents[image["Id"]] = image.get("ParentId") or ""
            for tag in image.get("RepoTags") or ():
                if tag != "<none>:<none>":
                    tags[tag] = image["Id"]
        return cls(parents, tags)

    def full_id(self, short: str) -> str | None:
        return next((i for i in self.parents if i.removeprefix("sha256:").startswith(short)), None)


@dataclass
class Made:
    """The images and tags the benchmark made, removed by `remove` and by nothing else.

    Our tags are `docker-course-bench/REPO:TAG-TOKEN`, the token unique to the run.
    """

    api: object
    token: str
    images: list[str] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)
    kept: dict[str, str] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    left: list[str] = field(default_factory=list)

    def ref(self, name: str) -> str:
        repository, _, tag = name.rpartition(":")
        return f"{BENCH_REPOSITORY}/{repository}:{tag}-{self.token}"

    def tag(self, image_id: str, name: str) -> str:
        """Tag `image_id` with our tag for `name` (REPO:TAG); the tag is ours to remove."""
        ref = self.ref(name)
        repository, _, tag = ref.rpartition(":")
        self.api.tag(image_id, repository, tag)
        self.tags.append(ref)
        return ref

    def build(self, folder: Path, name: str, arguments: list[str]) -> Build:
        """`docker build ARGUMENTS` in `folder` under our tag for `name`; note what it made."""
        before = ImageTable.read(self.api)
        ref = self.ref(name)
        build = docker_build(folder, ["-t", ref, *arguments])
        made = new_images(self.api, before, build.output, self.images)
        log.debug("%s made %s", ref, ", ".join(map(_short, made)) or "no image")
        self.images += made
        if build.status == 0 and ref not in self.tags:
            self.tags.append(ref)
        return build

    def remove(self) -> list[str]:
        """Remove our tags, then our images, children first; return what could not be removed."""
        for ref in reversed(self.tags):
            try:
                self.api.remove_image(ref, noprune=True)
            except docker.errors.NotFound:
                pass
            except docker.errors.APIError as error:
                self.problems.append(
                    f"tag {ref} could not be removed ({_reason(error)}): docker rmi {ref}"
                )
        self.tags.clear()

        waiting, refusals = list(reversed(self.images)), {}
        while waiting:
            still = [image for image in waiting if not self._remove_image(image, refusals)]
            if len(still) == len(waiting):
                break
            waiting = still
        for image in waiting:
            reason = refusals[image]
            if "dependent child images" in reason:
                # Another client's build took our image as its cache: it is theirs too now.
                self.left.append(f"{_short(image)} (another image builds on it)")
            else:
                self.problems.append(
                    f"image {_short(image)} could not be removed ({reason}): "
                    f"docker rmi {_short(image)}"
                )
        self.images.clear()
        return self.problems

    def _remove_image(self, image_id: str, refusals: dict[str, str]) -> bool:
        try:
            info = self.api.inspect_image(image_id)
            others = [tag for tag in info.get("RepoTags") or () if tag != "<none>:<none>"]
            if others:
                # Another client's build ended on it, or someone tagged it: theirs now.
                self.left.append(f"{_short(image_id)} (tagged {', '.join(others)})")
                return True
            self.api.remove_image(image_id, noprune=True)
            log.debug("removed image %s", _short(image_id))
        except docker.errors.NotFound:
            return True
        except docker.errors.APIError as error:
            refusals[image_id] = _reason(error)
            return False
        return True


def new_images(api, before: ImageTable, output: str, known: list[str] = ()) -> list[str]:
    """The images a build's output names that did not exist before it (full IDs)."""
    after = ImageTable.read(api)
    shorts = STEP_IMAGE_RE.findall(output) + BUILT_RE.findall(output)
    new = []
    for short in dict.fromkeys(shorts):
        full = after.full_id(short)
        if full and full not in before.parents and full not in known and full not in new:
            new.append(full)
    return new


class Collision(Exception):
    """An object the pages would create by name exists already; the message says what to do."""


@dataclass(frozen=True)
class Before:
    """The engine before a plain run: every image, and what each name the pages use named."""

    table: ImageTable
    refs: dict[str, str | None]


def before_run(api, containers: tuple[str, ...], refs: tuple[str, ...]) -> Before:
    """Read the engine before a run; Collision if a container the pages name exists."""
    for name in containers:
        try:
            found = api.inspect_container(name)
        except docker.errors.NotFound:
            continue
        raise Collision(
            f"a container named {name} exists ({found['Id'][:12]}, {found['State']['Status']}); "
            f"the pages create one by that name. If it is yours, rename it "
            f"(docker rename {name} {name}-mine) and run the benchmark again"
        )
    table = ImageTable.read(api)
    return Before(table, {ref: table.tags.get(ref) for ref in refs})


def settle_run(
    api, containers: tuple[str, ...], before: Before, output: str, made: Made
) -> list[str]:
    """Undo a plain run exactly: its containers, its tags (the user's put back), its images.

    Images other clients have since built on or tagged are left, and noted in `made.left`.
    """
    problems = []
    for name in containers:
        with contextlib.suppress(docker.errors.NotFound):
            api.remove_container(name, v=True, force=True)

    for ref, previous in before.refs.items():
        now = _image_of(api, ref)
        if now == previous:
            continue
        repository, _, tag = ref.rpartition(":")
        if previous is not None:
            api.tag(previous, repository, tag)
        elif now is not None:
            problems += _untag(api, ref, now, before)

    removal = Made(api, made.token, images=new_images(api, before.table, output, made.images))
    problems += removal.remove()
    made.left += removal.left
    return problems


def _untag(api, ref: str, image_id: str, before: Before) -> list[str]:
    info = api.inspect_image(image_id)
    names = {tag for tag in info.get("RepoTags") or () if tag != "<none>:<none>"}
    if names <= {ref} and image_id in before.table.parents:
        # Its last name: removing the tag would delete an image that was there before.
        return [f"tag {ref} was left on image {_short(image_id)}, which existed before the run"]
    try:
        api.remove_image(ref, noprune=True)
    except docker.errors.APIError as error:
        return [f"tag {ref} could not be removed ({_reason(error)}): docker rmi {ref}"]
    return []


def _image_of(api, ref: str) -> str | None:
    try:
        return api.inspect_image(ref)["Id"]
    except docker.errors.NotFound:
        return None


def _short(image_id: str) -> str:
    return image_id.removeprefix("sha256:")[:12]


def _reason(error: docker.errors.APIError) -> str:
    return str(getattr(error, "explanation", None) or error)
