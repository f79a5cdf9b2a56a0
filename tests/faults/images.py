"""The course's images, built from a scratch copy of sample_app/, and the layers they add.

A build goes straight to the engine with the cache off, so that every image
it makes is its own and `remove_built` can remove exactly those. `docker
save` writes each layer as a tarball and the image's config names each
layer's diff ID in order; the layers an image adds are those after its
base image's own, which must come first.
"""

from __future__ import annotations

import json
import re
import tarfile
from dataclasses import dataclass, field
from pathlib import Path

import docker.errors

STEP_IMAGE = re.compile(r"^ ---> ([0-9a-f]{12,64})$")
CONFLICT = 409


class BuildFailed(Exception):
    """A course Dockerfile did not build; the message holds the builder's last lines."""


@dataclass
class Built:
    """An image built for a test, and every image the build made on the way."""

    tag: str
    id: str
    made: list[str] = field(default_factory=list)


def base_image(dockerfile: Path) -> str:
    """The image the last stage of `dockerfile` starts FROM."""
    froms = [line.split()[1] for line in dockerfile.read_text().splitlines() if _is_from(line)]
    return froms[-1]


def _is_from(line: str) -> bool:
    return line.split(maxsplit=1)[:1] == ["FROM"]


def build(api: docker.APIClient, context: Path, dockerfile: str, tag: str) -> Built:
    """Build `dockerfile` of `context` as `tag`, without the cache."""
    existing = {image["Id"] for image in api.images(all=True)}
    built = Built(tag, "")
    lines: list[str] = []
    options = dict(nocache=True, rm=True, forcerm=True, decode=True)
    for chunk in api.build(path=str(context), dockerfile=dockerfile, tag=tag, **options):
        if "error" in chunk:
            remove_built(api, built)
            raise BuildFailed(f"{dockerfile} did not build: {chunk['error']}\n" + "".join(lines))
        text = chunk.get("stream", "")
        lines = (lines + [text])[-20:]
        for line in text.splitlines():
            step = STEP_IMAGE.match(line)
            image = step and api.inspect_image(step[1])["Id"]
            if image and image not in existing and image not in built.made:
                built.made.append(image)

    built.id = api.inspect_image(tag)["Id"]
    return built


def remove_built(api: docker.APIClient, built: Built) -> None:
    """Remove the tag and every image the build made, the last made first.

    The legacy builder shares its cache with everyone on the engine, so a
    build of someone else's may meanwhile have used one of these images: it
    is then the parent of their image (the engine refuses to remove it: 409
    Conflict) or carries their tag. That one stays.
    """
    _remove(api, built.tag)
    for image in reversed(built.made):
        try:
            tagged = api.inspect_image(image)["RepoTags"]
        except docker.errors.NotFound:
            continue
        # By ID, the engine would remove an image whose only tag is theirs.
        if not tagged:
            _remove(api, image)


def _remove(api: docker.APIClient, image: str) -> None:
    try:
        api.remove_image(image, noprune=True)
    except docker.errors.NotFound:
        pass
    except docker.errors.APIError as error:
        if error.status_code != CONFLICT:
            raise


@dataclass(frozen=True)
class AddedFile:
    """A file of a layer the image adds to its base; `data` is empty for all but regular files."""

    layer: str
    path: str
    data: bytes

    def __str__(self) -> str:
        return f"{self.path} (layer {self.layer.removeprefix('sha256:')[:12]})"


def added_files(api: docker.APIClient, image: str, base: str, scratch: Path) -> list[AddedFile]:
    """Every file in the layers `image` adds on top of `base`, read from `docker save`."""
    archive = scratch / "saved.tar"
    try:
        with archive.open("wb") as out:
            for chunk in api.get_image(image):
                out.write(chunk)
        return _files_after(tarfile.open(archive), api.inspect_image(base)["RootFS"]["Layers"])
    finally:
        archive.unlink(missing_ok=True)


def _files_after(saved: tarfile.TarFile, base_layers: list[str]) -> list[AddedFile]:
    with saved:
        (manifest,) = json.load(saved.extractfile("manifest.json"))
        diff_ids = json.load(saved.extractfile(manifest["Config"]))["rootfs"]["diff_ids"]
        if diff_ids[: len(base_layers)] != base_layers:
            raise ValueError("the image does not start with its base image's layers")

        files = []
        added = list(zip(manifest["Layers"], diff_ids, strict=True))[len(base_layers) :]
        for name, diff_id in added:
            with tarfile.open(fileobj=saved.extractfile(name)) as layer:
                for member in layer:
                    data = layer.extractfile(member).read() if member.isfile() else b""
                    files.append(AddedFile(diff_id, "/" + member.name.removeprefix("./"), data))
        return files
