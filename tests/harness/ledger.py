"""What the run created on the Docker engine, and how to remove exactly that.

The proxy records here; `Ledger.cleanup` removes what is recorded and nothing
else, puts back the user's tags the run moved, and says what it could not do.
"""

from __future__ import annotations

import itertools
import logging
import re
import threading
from dataclasses import dataclass, field

import docker.errors

log = logging.getLogger(__name__)

# The repository of the tags that keep a user's image alive while the run has
# taken away its last tag; see `Ledger.hold`.
HOLD_REPOSITORY = "docker-course-harness/keep"

_IMAGE_ID = re.compile(r"(sha256:)?[0-9a-f]{64}")


def image_ref(name: str) -> str | None:
    """`name` as the engine lists it among an image's RepoTags, or None for an ID or digest."""
    if "@" in name or _IMAGE_ID.fullmatch(name):
        return None

    repository, _, tag = name.rpartition(":")
    if not repository or "/" in tag:
        repository, tag = name, "latest"

    if repository.startswith(("docker.io/", "index.docker.io/")):
        repository = repository.split("/", 1)[1]
    if repository.startswith("library/") and repository.count("/") == 1:
        repository = repository.removeprefix("library/")
    return f"{repository}:{tag}"


def short_id(object_id: str) -> str:
    return object_id.removeprefix("sha256:")[:12]


@dataclass(frozen=True)
class Entry:
    """One recorded object: when it was recorded, and a word about it (a name, an image ID)."""

    seq: int
    detail: str


@dataclass
class CleanupReport:
    """What a clean-up removed, what it put back, and what it left and why."""

    removed: list[str] = field(default_factory=list)
    restored: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        lines = []
        if self.removed:
            lines.append("removed " + ", ".join(self.removed))
        if self.restored:
            lines.append("put back " + ", ".join(self.restored))
        lines += self.problems
        return "\n".join(lines) or "nothing to remove"


class Ledger:
    """Every container, image, tag, network and volume the run made, and user tags it moved.

    Safe to use from several threads. `cleanup` may be called again (from a
    finally block, atexit or a signal handler): what is gone is forgotten, so a
    second call does nothing more.
    """

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._settled = threading.Condition(self._lock)
        self._recording = 0
        self._seq = itertools.count(1)
        self._last_seq = 0
        self._cleaning = False
        self._containers: dict[str, Entry] = {}  # ID -> name
        self._images: dict[str, Entry] = {}  # ID -> how it was made
        self._tags: dict[str, Entry] = {}  # ref -> image ID the run pointed it at
        self._restores: dict[str, Entry] = {}  # ref -> the user's image ID it named before
        self._holds: dict[str, Entry] = {}  # hold ref -> the user's image ID it keeps
        self._networks: dict[str, Entry] = {}  # ID -> name
        self._volumes: dict[str, Entry] = {}  # name -> how it was made

    def _entry(self, detail: str) -> Entry:
        self._last_seq = next(self._seq)
        return Entry(self._last_seq, detail)

    def mark(self) -> int:
        """A point in the record; `cleanup(client, since=mark)` removes only what came after it."""
        with self._lock:
            return self._last_seq

    def recording_started(self) -> None:
        """A request that may make objects is under way; `cleanup` waits until it is recorded."""
        with self._settled:
            self._recording += 1

    def recording_finished(self) -> None:
        with self._settled:
            self._recording -= 1
            self._settled.notify_all()

    def add_container(self, container_id: str, name: str) -> None:
        with self._lock:
            self._containers[container_id] = self._entry(name)
        log.debug("recorded container %s (%s)", name, short_id(container_id))

    def rename_container(self, container_id: str, name: str) -> None:
        with self._lock:
            if container_id in self._containers:
                self._containers[container_id] = Entry(self._containers[container_id].seq, name)

    def add_image(self, image_id: str, how: str) -> None:
        with self._lock:
            if image_id not in self._images:
                self._images[image_id] = self._entry(how)
        log.debug("recorded image %s, %s", short_id(image_id), how)

    def add_tag(self, ref: str, image_id: str, previous: str | None) -> None:
        """The run pointed `ref` at `image_id`; before that it named `previous` (or nothing)."""
        with self._lock:
            users = previous is not None and previous not in self._images
            if users and ref not in self._tags and ref not in self._restores:
                self._restores[ref] = self._entry(previous)
            self._tags[ref] = self._entry(image_id)
        log.debug("recorded tag %s -> %s (before: %s)", ref, short_id(image_id), previous)

    def hold(self, ref: str, image_id: str) -> None:
        """`ref` is a tag the harness added to keep a user's image when the run untags it."""
        with self._lock:
            self._holds[ref] = self._entry(image_id)
        log.debug("holding image %s with %s", short_id(image_id), ref)

    def add_network(self, network_id: str, name: str) -> None:
        with self._lock:
            self._networks[network_id] = self._entry(name)
        log.debug("recorded network %s (%s)", name, short_id(network_id))

    def add_volume(self, name: str, how: str) -> None:
        with self._lock:
            if name not in self._volumes:
                self._volumes[name] = self._entry(how)
        log.debug("recorded volume %s, %s", name, how)

    def forget_container(self, container_id: str) -> None:
        with self._lock:
            self._containers.pop(container_id, None)

    def forget_image(self, image_id: str) -> None:
        with self._lock:
            self._images.pop(image_id, None)

    def forget_tag(self, ref: str) -> None:
        """The run's tag is gone; what it must put back for the user stays recorded."""
        with self._lock:
            self._tags.pop(ref, None)

    def forget_network(self, network_id: str) -> None:
        with self._lock:
            self._networks.pop(network_id, None)

    def forget_volume(self, name: str) -> None:
        with self._lock:
            self._volumes.pop(name, None)

    def owns_container(self, container_id: str) -> bool:
        return container_id in self._containers

    def owns_image(self, image_id: str) -> bool:
        return image_id in self._images

    def owns_tag(self, ref: str) -> bool:
        return ref in self._tags

    def owns_network(self, network_id: str) -> bool:
        return network_id in self._networks

    def owns_volume(self, name: str) -> bool:
        return name in self._volumes

    @property
    def containers(self) -> dict[str, str]:
        """Recorded containers: ID -> name."""
        return self._details(self._containers)

    @property
    def images(self) -> dict[str, str]:
        """Recorded images: ID -> how the run made it."""
        return self._details(self._images)

    @property
    def tags(self) -> dict[str, str]:
        """The run's tags: ref -> the image ID the run pointed it at."""
        return self._details(self._tags)

    @property
    def restores(self) -> dict[str, str]:
        """The user's tags the run moved: ref -> the image ID cleanup points it at again."""
        return self._details(self._restores)

    @property
    def holds(self) -> dict[str, str]:
        """The harness's keeping tags: ref -> the user's image ID it keeps."""
        return self._details(self._holds)

    @property
    def networks(self) -> dict[str, str]:
        """Recorded networks: ID -> name."""
        return self._details(self._networks)

    @property
    def volumes(self) -> dict[str, str]:
        """Recorded volumes: name -> how the run made it."""
        return self._details(self._volumes)

    def _details(self, entries: dict[str, Entry]) -> dict[str, str]:
        with self._lock:
            return {key: entry.detail for key, entry in entries.items()}

    def describe(self) -> str:
        """One line per recorded object, for a person to read."""
        with self._lock:
            lines = [f"container {n} ({short_id(i)})" for i, n in self.containers.items()]
            lines += [f"image {short_id(i)}, {how}" for i, how in self.images.items()]
            for ref, image_id in self.tags.items():
                line = f"tag {ref} -> {short_id(image_id)}"
                if ref in self._restores:
                    line += f" (named {short_id(self._restores[ref].detail)} before the run)"
                lines.append(line)
            lines += [
                f"tag {ref} to put back on {short_id(image_id)}"
                for ref, image_id in self.restores.items()
                if ref not in self._tags
            ]
            lines += [f"tag {r} keeping image {short_id(i)}" for r, i in self.holds.items()]
            lines += [f"network {n} ({short_id(i)})" for i, n in self.networks.items()]
            lines += [f"volume {name}, {how}" for name, how in self.volumes.items()]
        return "\n".join(lines) or "nothing recorded"

    def cleanup(
        self, client, since: int = 0, wait: float = 10, keep_images: bool = False
    ) -> CleanupReport:
        """Remove what the run created (after `since`, a `mark()`), put back moved user tags.

        `client` is a docker.DockerClient or docker.APIClient talking to the
        engine itself, not through the proxy. Requests still being recorded
        (a build whose client was just killed, say) are waited for, up to
        `wait` seconds. With `keep_images`, images and tags stay for a later
        clean-up: a page's images are what the pages after it build on.
        """
        report = CleanupReport()
        with self._lock:
            if self._cleaning:
                return report
            self._cleaning = True
            settled = self._settled.wait_for(lambda: self._recording == 0, wait)
        if not settled:
            report.problems.append(
                f"a request through the proxy was still under way after {wait:g}s; "
                "what it makes will not be removed: look for it with docker ps -a and docker images"
            )

        api = getattr(client, "api", client)
        image_steps = (
            self._restore_tags,
            self._remove_tags,
            self._remove_images,
            self._release_holds,
        )
        steps = (
            self._remove_containers,
            *(() if keep_images else image_steps),
            self._remove_networks,
            self._remove_volumes,
        )
        try:
            for step in steps:
                step(api, report, since)
        except (docker.errors.DockerException, OSError) as error:  # requests errors are OSErrors
            report.problems.append(
                f"clean-up stopped, the engine did not answer ({error}); still to remove:\n"
                + self.describe()
            )
        finally:
            with self._lock:
                self._cleaning = False

        log.debug("clean-up: %s", report)
        return report

    def _after(self, entries: dict[str, Entry], since: int) -> list[tuple[str, Entry]]:
        # A copy, so that no lock is held while the engine is asked: the
        # proxy's threads record into the ledger meanwhile.
        with self._lock:
            return [(key, entry) for key, entry in entries.items() if entry.seq > since]

    def _remove_containers(self, api, report: CleanupReport, since: int) -> None:
        for container_id, entry in reversed(self._after(self._containers, since)):
            what = f"container {entry.detail}"
            try:
                api.remove_container(container_id, v=True, force=True)
                report.removed.append(what)
            except docker.errors.NotFound:
                pass
            except docker.errors.APIError as error:
                if "already in progress" not in _reason(error):
                    report.problems.append(
                        f"{what} ({short_id(container_id)}) could not be removed: "
                        f"{_reason(error)}; remove it with: docker rm -f {short_id(container_id)}"
                    )
                    continue
            self.forget_container(container_id)

    def _restore_tags(self, api, report: CleanupReport, since: int) -> None:
        for ref, entry in self._after(self._restores, since):
            repository, tag = ref.rsplit(":", 1)
            try:
                api.tag(entry.detail, repository, tag)
                report.restored.append(f"{ref} -> {short_id(entry.detail)}")
                self.forget_tag(ref)
            except docker.errors.NotFound:
                report.problems.append(
                    f"tag {ref} could not be put back: the image it named before the run "
                    f"({short_id(entry.detail)}) is gone"
                )
            except docker.errors.APIError as error:
                report.problems.append(
                    f"tag {ref} could not be put back: {_reason(error)}; put it back with: "
                    f"docker tag {short_id(entry.detail)} {ref}"
                )
                continue
            with self._lock:
                self._restores.pop(ref, None)

    def _remove_tags(self, api, report: CleanupReport, since: int) -> None:
        for ref, entry in reversed(self._after(self._tags, since)):
            try:
                info = api.inspect_image(ref)
            except docker.errors.NotFound:
                self.forget_tag(ref)
                continue

            image_id, names = info["Id"], _names(info)
            if image_id != entry.detail and not self.owns_image(image_id):
                report.problems.append(
                    f"tag {ref} was left: it now names image {short_id(image_id)}, "
                    "which someone tagged outside the run"
                )
            elif not self.owns_image(image_id) and names <= {ref}:
                report.problems.append(
                    f"tag {ref} was left: it is the only name of image {short_id(image_id)}, "
                    f"which existed before the run; if you do not need it: docker rmi {ref}"
                )
            else:
                deleted = self._remove_image(api, ref, f"tag {ref}", report)
                if deleted is None:
                    continue
                report.removed.append(f"tag {ref}")
                self._went_with(deleted, report)
            self.forget_tag(ref)

    def _remove_images(self, api, report: CleanupReport, since: int) -> None:
        # An image the engine will not remove yet may be the parent of another
        # one still to go, so go round again while each round removes one.
        waiting = list(reversed(self._after(self._images, since)))
        refusals: dict[str, str] = {}
        while waiting:
            still = [
                (image_id, entry)
                for image_id, entry in waiting
                if not self._remove_run_image(api, image_id, entry, report, refusals)
            ]
            if len(still) == len(waiting):
                break
            waiting = still

        for image_id, entry in waiting:
            report.problems.append(
                f"image {short_id(image_id)} ({entry.detail}) could not be removed: "
                f"{refusals[image_id]}; remove it with: docker rmi {short_id(image_id)}"
            )

    def _remove_run_image(self, api, image_id: str, entry: Entry, report, refusals) -> bool:
        """Remove one of the run's images; False, with the engine's reason, if it refused."""
        try:
            info = api.inspect_image(image_id)
            others = sorted(_names(info) - set(self.tags))
            if others:
                report.problems.append(
                    f"image {short_id(image_id)} ({entry.detail}) was left: it is also tagged "
                    f"{', '.join(others)}, which the run did not make"
                )
            else:
                api.remove_image(image_id, noprune=True)
                report.removed.append(f"image {short_id(image_id)}")
        except docker.errors.NotFound:
            pass
        except docker.errors.APIError as error:
            refusals[image_id] = _reason(error)
            return False
        self.forget_image(image_id)
        return True

    def _release_holds(self, api, report: CleanupReport, since: int) -> None:
        for ref, entry in self._after(self._holds, since):
            try:
                info = api.inspect_image(entry.detail)
            except docker.errors.NotFound:
                info = None

            if info is not None and not _names(info) - {ref}:
                report.problems.append(
                    f"image {short_id(entry.detail)}, which existed before the run, is kept "
                    f"under the tag {ref}, as the run took away its other names; "
                    f"if you do not need it: docker rmi {ref}"
                )
            elif (
                info is not None
                and ref in _names(info)
                and self._remove_image(api, ref, f"tag {ref}", report) is None
            ):
                continue
            with self._lock:
                self._holds.pop(ref, None)

    def _remove_networks(self, api, report: CleanupReport, since: int) -> None:
        for network_id, entry in reversed(self._after(self._networks, since)):
            what = f"network {entry.detail}"
            try:
                api.remove_network(network_id)
                report.removed.append(what)
            except docker.errors.NotFound:
                pass
            except docker.errors.APIError as error:
                report.problems.append(
                    f"{what} could not be removed: {_reason(error)}; "
                    f"remove it with: docker network rm {short_id(network_id)}"
                )
                continue
            self.forget_network(network_id)

    def _remove_volumes(self, api, report: CleanupReport, since: int) -> None:
        for name, _entry in reversed(self._after(self._volumes, since)):
            try:
                api.remove_volume(name)
                report.removed.append(f"volume {name}")
            except docker.errors.NotFound:
                pass
            except docker.errors.APIError as error:
                report.problems.append(
                    f"volume {name} could not be removed: {_reason(error)}; "
                    f"remove it with: docker volume rm {name}"
                )
                continue
            self.forget_volume(name)

    def _remove_image(self, api, name: str, what: str, report: CleanupReport) -> list[str] | None:
        """Remove a tag without touching parents; the images that went with it, None if refused."""
        try:
            answer = api.remove_image(name, noprune=True)
        except docker.errors.NotFound:
            return []
        except docker.errors.APIError as error:
            report.problems.append(
                f"{what} could not be removed: {_reason(error)}; remove it with: docker rmi {name}"
            )
            return None
        return [item["Deleted"] for item in answer or [] if "Deleted" in item]

    def _went_with(self, deleted: list[str], report: CleanupReport) -> None:
        """Note the run's images the engine deleted with their last tag (it lists layers too)."""
        for image_id in deleted:
            if self.owns_image(image_id):
                report.removed.append(f"image {short_id(image_id)}")
                self.forget_image(image_id)


def _names(image_info: dict) -> set[str]:
    return {tag for tag in image_info.get("RepoTags") or [] if tag != "<none>:<none>"}


def _reason(error: docker.errors.APIError) -> str:
    return str(getattr(error, "explanation", None) or error)
