"""What each Docker API request means for the run: what it makes, and what it may not touch.

The proxy hands every request head to `Attribution.admit` before the engine
sees it. The answer is a `Refusal` (the proxy answers it and the engine never
hears of the request), an `Outcome` (the request goes on; its response is
read as it passes and recorded into the ledger before its last byte reaches
the client), or None (nothing to record). Names are resolved through the
engine itself, never guessed.
"""

from __future__ import annotations

import json
import logging
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from urllib.parse import parse_qs, unquote, urlsplit

import docker
import docker.errors

from .ledger import HOLD_REPOSITORY, Ledger, image_ref, short_id

log = logging.getLogger(__name__)

_VERSION_PREFIX = re.compile(r"^/v[0-9.]+(?=/)")
_STEP_IMAGE = re.compile(r"^ ---> ([0-9a-f]{12})\s*$", re.MULTILINE)
_STEP_CONTAINER = re.compile(r"^ ---> Running in ([0-9a-f]{12})\s*$", re.MULTILINE)
_LOADED_REF = re.compile(r"^Loaded image: (\S+)\s*$", re.MULTILINE)
_LOADED_ID = re.compile(r"^Loaded image ID: (sha256:[0-9a-f]{64})\s*$", re.MULTILINE)
_MAX_JSON = 4 * 1024 * 1024

_CHANGES = {
    "stop": "stop",
    "kill": "kill",
    "restart": "restart",
    "pause": "pause",
    "unpause": "unpause",
    "update": "change",
    "rename": "rename",
    "exec": "run commands in",
    "archive": "copy files into",
}
_PRUNE_COMMANDS = {
    "containers": "docker container prune",
    "images": "docker image prune",
    "networks": "docker network prune",
    "volumes": "docker volume prune",
    "build": "docker builder prune",
}


@dataclass(frozen=True)
class ApiCall:
    """One request to the engine's API, as its head reads."""

    method: str
    target: str
    path: str  # without the /v1.41 prefix, %-escapes decoded
    query: dict[str, list[str]]

    @classmethod
    def parse(cls, method: bytes, target: bytes) -> ApiCall:
        text = target.decode("latin-1")
        parts = urlsplit(text)
        path = unquote(_VERSION_PREFIX.sub("", parts.path, count=1))
        query = parse_qs(parts.query, keep_blank_values=True)
        return cls(method.decode("latin-1"), text, path, query)

    def param(self, key: str, default: str = "") -> str:
        values = self.query.get(key)
        return values[-1] if values else default

    def params(self, key: str) -> list[str]:
        return self.query.get(key, [])

    def __str__(self) -> str:
        return f"{self.method} {self.path}"


@dataclass(frozen=True)
class Refusal:
    """The proxy's own answer to a request the engine must not see."""

    status: int
    message: str


class Outcome:
    """The rest of an admitted request: its response, read as it passes, and what to record.

    `target`, when set, is the request target to send instead of the client's.
    """

    def __init__(
        self,
        on_end: Callable[[int, object], None],
        stream: bool = False,
        target: str | None = None,
    ) -> None:
        self.target = target
        self._on_end = on_end
        self._stream = stream
        self._body = bytearray()
        self._messages: list[dict] = []

    def feed(self, data: bytes) -> bool:
        """Read part of the response; True once it holds an error, where clients stop reading."""
        self._body += data
        if not self._stream:
            del self._body[_MAX_JSON:]
            return False

        # A progress stream (build, pull, load) can be long; keep only the
        # messages that say what was made.
        *lines, rest = self._body.split(b"\n")
        self._body = bytearray(rest)
        for line in lines:
            message = _json(line)
            if isinstance(message, dict) and _telling(message):
                self._messages.append(message)
        return _stream_error(self._messages) is not None

    def finish(self, status: int) -> None:
        """Record what the response says was made; runs in one of the proxy's worker threads."""
        if self._stream:
            self.feed(b"\n")
            self._on_end(status, self._messages)
        else:
            self._on_end(status, _json(self._body))


@dataclass(frozen=True)
class ImageTable:
    """Every image the engine holds, intermediate ones included, at one moment."""

    tags: dict[str, str]  # ref -> image ID
    parents: dict[str, str]  # image ID -> parent ID, "" for none

    @property
    def ids(self) -> set[str]:
        return set(self.parents)

    def full_id(self, short: str) -> str | None:
        return next((i for i in self.parents if short_id(i) == short), None)

    def ancestry(self, image_id: str) -> list[str]:
        """`image_id` and its parents, oldest last."""
        chain = []
        while image_id and image_id not in chain:
            chain.append(image_id)
            image_id = self.parents.get(image_id, "")
        return chain

    def tagged(self, image_id: str) -> bool:
        return image_id in self.tags.values()

    def children(self, image_id: str) -> set[str]:
        return {child for child, parent in self.parents.items() if parent == image_id}


class Engine:
    """The engine itself, asked from the proxy's worker threads; what is not there is None."""

    def __init__(self, base_url: str) -> None:
        self._base_url = base_url
        self._local = threading.local()
        self._clients: list[docker.APIClient] = []
        self._clients_lock = threading.Lock()

    @property
    def api(self) -> docker.APIClient:
        api = getattr(self._local, "api", None)
        if api is None:
            api = docker.APIClient(base_url=self._base_url, version="auto", timeout=60)
            self._local.api = api
            with self._clients_lock:
                self._clients.append(api)
        return api

    def close(self) -> None:
        with self._clients_lock:
            for api in self._clients:
                api.close()
            self._clients.clear()

    def container(self, name: str) -> dict | None:
        return self._inspect(self.api.inspect_container, name)

    def image(self, name: str) -> dict | None:
        return self._inspect(self.api.inspect_image, name)

    def network(self, name: str) -> dict | None:
        return self._inspect(self.api.inspect_network, name)

    def volume(self, name: str) -> dict | None:
        return self._inspect(self.api.inspect_volume, name)

    def volume_names(self) -> set[str]:
        return {volume["Name"] for volume in self.api.volumes().get("Volumes") or []}

    def images(self) -> ImageTable:
        tags, parents = {}, {}
        for image in self.api.images(all=True):
            parents[image["Id"]] = image.get("ParentId") or ""
            for ref in image.get("RepoTags") or []:
                if ref != "<none>:<none>":
                    tags[ref] = image["Id"]
        return ImageTable(tags, parents)

    def tag(self, image_id: str, ref: str) -> None:
        repository, tag = ref.rsplit(":", 1)
        self.api.tag(image_id, repository, tag)

    @staticmethod
    def _inspect(inspect: Callable[[str], dict], name: str) -> dict | None:
        try:
            return inspect(name)
        except docker.errors.NotFound:
            return None


@dataclass(frozen=True)
class _Route:
    method: str
    pattern: re.Pattern
    handler: Callable
    guards: bool  # a refusal is the safe answer when the engine cannot be asked


class Attribution:
    """Reads requests for what they make (into `ledger`) and refuses what is not the run's."""

    def __init__(self, ledger: Ledger, engine: Engine) -> None:
        self.ledger = ledger
        self.engine = engine
        self._warned_grpc = False
        routes = [
            ("POST", r"/containers/create", self._create_container, False),
            ("DELETE", r"/containers/(?P<name>[^/]+)", self._remove_container, True),
            (
                "POST",
                r"/containers/(?P<name>[^/]+)/(?P<verb>stop|kill|restart|pause|unpause|update"
                r"|rename|exec)",
                self._change_container,
                True,
            ),
            ("PUT", r"/containers/(?P<name>[^/]+)/(?P<verb>archive)", self._change_container, True),
            (
                "POST",
                r"/(?P<kind>containers|images|networks|volumes|build)/prune",
                self._prune,
                True,
            ),
            ("POST", r"/build", self._build, False),
            ("POST", r"/grpc", self._grpc, False),
            ("POST", r"/images/create", self._create_image, False),
            ("POST", r"/images/load", self._load_images, False),
            ("POST", r"/images/(?P<name>.+)/tag", self._tag_image, False),
            ("DELETE", r"/images/(?P<name>.+)", self._remove_image, True),
            ("POST", r"/commit", self._commit, False),
            ("POST", r"/networks/create", self._create_network, False),
            ("DELETE", r"/networks/(?P<name>[^/]+)", self._remove_network, True),
            ("POST", r"/volumes/create", self._create_volume, False),
            ("DELETE", r"/volumes/(?P<name>[^/]+)", self._remove_volume, True),
        ]
        self._routes = [_Route(m, re.compile(p), h, g) for m, p, h, g in routes]

    def concerns(self, call: ApiCall) -> bool:
        """Whether `admit` has anything to do for `call`; cheap, asks nothing of the engine."""
        return self._route(call) is not None

    def admit(self, call: ApiCall) -> Refusal | Outcome | None:
        """Decide on `call` before the engine sees it; blocking, it may ask the engine."""
        found = self._route(call)
        if found is None:
            return None

        route, groups = found
        try:
            return route.handler(call, **groups)
        except (docker.errors.DockerException, OSError, ValueError) as error:
            if route.guards:
                return Refusal(
                    503,
                    f"the docs harness could not ask the engine whether {call} touches only "
                    f"the run's own objects ({error}); is the engine still running?",
                )
            log.warning("cannot prepare to record what %s makes: %s", call, error)
            return None

    def _route(self, call: ApiCall) -> tuple[_Route, dict[str, str]] | None:
        for route in self._routes:
            if route.method == call.method and (match := route.pattern.fullmatch(call.path)):
                return route, match.groupdict()
        return None

    def _create_container(self, call: ApiCall) -> Outcome:
        volumes_before = self.engine.volume_names()
        return Outcome(partial(self._created_container, call, volumes_before))

    def _created_container(self, call, volumes_before, status, document) -> None:
        if status != 201 or not isinstance(document, dict):
            return
        container_id = document["Id"]
        info = self.engine.container(container_id) or {}
        name = info.get("Name", "").lstrip("/") or call.param("name") or short_id(container_id)
        self.ledger.add_container(container_id, name)

        # The engine makes a container's volumes when it makes the container;
        # those that were not there just before are the run's.
        for mount in info.get("Mounts") or []:
            volume = mount.get("Name")
            if mount.get("Type") == "volume" and volume and volume not in volumes_before:
                self.ledger.add_volume(volume, f"made for container {name}")

    def _remove_container(self, call: ApiCall, name: str) -> Refusal | Outcome | None:
        info = self.engine.container(name)
        if info is None:
            return None  # the engine answers that there is no such container
        if not self.ledger.owns_container(info["Id"]):
            return _not_the_runs("remove", "container", name)
        return Outcome(partial(self._removed_container, info["Id"]))

    def _removed_container(self, container_id, status, _document) -> None:
        if status == 204:
            self.ledger.forget_container(container_id)

    def _change_container(self, call: ApiCall, name: str, verb: str) -> Refusal | Outcome | None:
        info = self.engine.container(name)
        if info is None:
            return None
        if not self.ledger.owns_container(info["Id"]):
            return _not_the_runs(_CHANGES[verb], "container", name)
        if verb == "rename":
            return Outcome(partial(self._renamed_container, info["Id"], call.param("name")))
        return None

    def _renamed_container(self, container_id, name, status, _document) -> None:
        if status == 204:
            self.ledger.rename_container(container_id, name)

    def _prune(self, call: ApiCall, kind: str) -> Refusal:
        return Refusal(
            403,
            f'the docs harness refuses "{_PRUNE_COMMANDS[kind]}": it would remove objects '
            "this run did not create, which may be yours. Remove the page's own objects "
            "by name instead (docker rm NAME, docker rmi NAME:TAG, docker volume rm NAME)",
        )

    def _build(self, call: ApiCall) -> Outcome:
        return Outcome(partial(self._built, call, self.engine.images()), stream=True)

    def _built(self, call: ApiCall, before: ImageTable, status: int, messages) -> None:
        after = self.engine.images()
        refs = [ref for name in call.params("t") if (ref := image_ref(name))]
        what = f"built {refs[0]}" if refs else "built"
        text = _stream_text(messages)

        # The legacy builder commits an image per step (kept even when a later
        # step fails) and names each in its output; BuildKit names only the last.
        made = [full for short in _STEP_IMAGE.findall(text) if (full := after.full_id(short))]
        image_id = _aux_image_id(messages)
        if image_id is None and refs and status == 200 and not _stream_error(messages):
            image_id = after.tags.get(refs[0])
        if image_id:
            made += reversed(after.ancestry(image_id))
        for made_id in dict.fromkeys(made):
            if made_id in after.ids and made_id not in before.ids:
                self.ledger.add_image(made_id, what if made_id == image_id else f"a step of {what}")

        if image_id and not _stream_error(messages):
            for ref in refs:
                if after.tags.get(ref) == image_id:
                    self.ledger.add_tag(ref, image_id, before.tags.get(ref))

        # A failed step's container stays behind unless the build said --force-rm.
        for short in _STEP_CONTAINER.findall(text):
            info = self.engine.container(short)
            if info is not None:
                self.ledger.add_container(info["Id"], info["Name"].lstrip("/"))

    def _grpc(self, call: ApiCall) -> None:
        if not self._warned_grpc:
            self._warned_grpc = True
            log.warning(
                "a build went to the engine over /grpc (buildx), which the docs harness cannot "
                "read: the images it makes are not recorded and will not be removed. Build "
                "with DOCKER_BUILDKIT=0, or with Debian's docker.io CLI, to have them recorded"
            )

    def _create_image(self, call: ApiCall) -> Outcome:
        return Outcome(partial(self._created_image, call, self.engine.images()), stream=True)

    def _created_image(self, call: ApiCall, before: ImageTable, status: int, messages) -> None:
        if status != 200 or _stream_error(messages):
            return
        after = self.engine.images()

        if call.param("fromSrc"):
            imported = [m["status"] for m in messages if str(m.get("status", "")).startswith("sha")]
            self._note_made(before, imported[-1:], "imported")
            if call.param("repo"):
                self._note_refs(before, after, [_ref(call.param("repo"), call.param("tag"))])
            return

        source, tag = call.param("fromImage"), call.param("tag")
        if "@" in source or tag.startswith("sha256:"):
            info = self.engine.image(f"{source}@{tag}" if tag else source)
            self._note_made(before, [info["Id"]] if info else [], f"pulled {source}")
            return
        if tag or ":" in source.rsplit("/", 1)[-1]:
            refs = [_ref(source, tag)]
        else:
            # `docker pull --all-tags`: every tag of the repository may have come.
            repository = _ref(source, "").rsplit(":", 1)[0]
            refs = [ref for ref in after.tags if ref.rsplit(":", 1)[0] == repository]
        self._note_refs(before, after, refs, "pulled")

    def _load_images(self, call: ApiCall) -> Outcome:
        return Outcome(partial(self._loaded_images, self.engine.images()), stream=True)

    def _loaded_images(self, before: ImageTable, status: int, messages) -> None:
        if status != 200:
            return
        after = self.engine.images()
        text = _stream_text(messages)
        self._note_made(before, _LOADED_ID.findall(text), "loaded")
        self._note_refs(before, after, [_ref(n, "") for n in _LOADED_REF.findall(text)], "loaded")

    def _commit(self, call: ApiCall) -> Outcome:
        return Outcome(partial(self._committed, call, self.engine.images()))

    def _committed(self, call: ApiCall, before: ImageTable, status: int, document) -> None:
        if status != 201 or not isinstance(document, dict):
            return
        what = f"committed from container {call.param('container')}"
        self._note_made(before, [document["Id"]], what)
        if call.param("repo"):
            ref = _ref(call.param("repo"), call.param("tag"))
            self.ledger.add_tag(ref, document["Id"], before.tags.get(ref))

    def _note_made(self, before: ImageTable, image_ids: list[str], what: str) -> None:
        for image_id in image_ids:
            if image_id not in before.ids:
                self.ledger.add_image(image_id, what)

    def _note_refs(self, before, after, refs: list[str], what: str = "") -> None:
        """Record the refs in `refs` that now name another image than before the request."""
        for ref in refs:
            image_id = after.tags.get(ref)
            if image_id is None or image_id == before.tags.get(ref):
                continue
            if what:
                self._note_made(before, [image_id], f"{what} {ref}")
            self.ledger.add_tag(ref, image_id, before.tags.get(ref))

    def _tag_image(self, call: ApiCall, name: str) -> Outcome | None:
        source = self.engine.image(name)
        if source is None:
            return None
        ref = _ref(call.param("repo"), call.param("tag"))
        before = self.engine.image(ref)
        previous = before["Id"] if before else None
        return Outcome(partial(self._tagged, ref, source["Id"], previous))

    def _tagged(self, ref, image_id, previous, status, _document) -> None:
        if status == 201:
            self.ledger.add_tag(ref, image_id, previous)

    def _remove_image(self, call: ApiCall, name: str) -> Refusal | Outcome | None:
        info = self.engine.image(name)
        if info is None:
            return None
        image_id = info["Id"]
        names = {tag for tag in info.get("RepoTags") or [] if tag != "<none>:<none>"}
        ref = image_ref(name)

        if ref in names:
            if not self.ledger.owns_tag(ref):
                return _not_the_runs("remove", "image", name)
            if names == {ref} and not self.ledger.owns_image(image_id):
                # The run re-made a tag the user had, on the user's own image:
                # the tag goes, as the page asks, but the image must stay.
                self._hold(image_id)
                return Outcome(self._removed_images)
            deletes = names == {ref}
        else:
            if not self.ledger.owns_image(image_id):
                return _not_the_runs("remove", "image", name)
            others = sorted(tag for tag in names if not self.ledger.owns_tag(tag))
            if others:
                return Refusal(
                    403,
                    f"the docs harness will not remove image {name}: it is also tagged "
                    f"{', '.join(others)}, which the run did not make. Remove the page's own "
                    "tags instead (docker rmi NAME:TAG)",
                )
            deletes = True

        target = None
        if deletes and call.param("noprune") not in ("1", "true") and self._prunes_others(image_id):
            # Deleting an image also deletes its untagged parents; one of them
            # is not the run's, so only this image may go.
            target = call.target + ("&" if "?" in call.target else "?") + "noprune=1"
        return Outcome(self._removed_images, target=target)

    def _removed_images(self, status: int, document) -> None:
        if status != 200 or not isinstance(document, list):
            return
        for item in document:
            if ref := image_ref(item.get("Untagged", "@")):
                self.ledger.forget_tag(ref)
            if "Deleted" in item:
                self.ledger.forget_image(item["Deleted"])

    def _prunes_others(self, image_id: str) -> bool:
        """Whether deleting `image_id` makes the engine delete a parent that is not the run's."""
        table = self.engine.images()
        child, parent = image_id, table.parents.get(image_id, "")
        while parent:
            if table.tagged(parent) or table.children(parent) - {child}:
                return False
            if not self.ledger.owns_image(parent):
                return True
            child, parent = parent, table.parents.get(parent, "")
        return False

    def _hold(self, image_id: str) -> None:
        ref = f"{HOLD_REPOSITORY}:{short_id(image_id)}"
        self.engine.tag(image_id, ref)
        self.ledger.hold(ref, image_id)

    def _create_network(self, call: ApiCall) -> Outcome:
        return Outcome(self._created_network)

    def _created_network(self, status: int, document) -> None:
        if status != 201 or not isinstance(document, dict):
            return
        info = self.engine.network(document["Id"]) or {}
        self.ledger.add_network(document["Id"], info.get("Name") or short_id(document["Id"]))

    def _remove_network(self, call: ApiCall, name: str) -> Refusal | Outcome | None:
        info = self.engine.network(name)
        if info is None:
            return None
        if not self.ledger.owns_network(info["Id"]):
            return _not_the_runs("remove", "network", name)
        return Outcome(partial(self._removed_network, info["Id"]))

    def _removed_network(self, network_id, status, _document) -> None:
        if status == 204:
            self.ledger.forget_network(network_id)

    def _create_volume(self, call: ApiCall) -> Outcome:
        return Outcome(partial(self._created_volume, self.engine.volume_names()))

    def _created_volume(self, volumes_before, status, document) -> None:
        # Creating a volume that exists answers 201 with that volume.
        if status == 201 and isinstance(document, dict) and document["Name"] not in volumes_before:
            self.ledger.add_volume(document["Name"], "made by docker volume create")

    def _remove_volume(self, call: ApiCall, name: str) -> Refusal | Outcome | None:
        if self.ledger.owns_volume(name):
            return Outcome(partial(self._removed_volume, name))
        if self.engine.volume(name) is None:
            return None
        return _not_the_runs("remove", "volume", name)

    def _removed_volume(self, name, status, _document) -> None:
        if status == 204:
            self.ledger.forget_volume(name)


def _not_the_runs(verb: str, kind: str, name: str) -> Refusal:
    return Refusal(
        403,
        f'the docs harness will not {verb} {kind} "{name}", which existed before the run '
        f"or was made outside it, so it may be yours. Use a name of the page's own "
        f"for the {kind} the page makes, and {verb} that",
    )


def _ref(repository: str, tag: str) -> str:
    return image_ref(f"{repository}:{tag}" if tag else repository) or repository


def _json(data: bytes):
    try:
        return json.loads(data) if data.strip() else None
    except ValueError:
        return None


def _telling(message: dict) -> bool:
    if isinstance(message.get("aux"), dict) or "error" in message:
        return True
    text = str(message.get("stream") or message.get("status") or "")
    return " ---> " in text or "Loaded image" in text or text.startswith("sha256:")


def _stream_text(messages: list[dict]) -> str:
    return "".join(str(m.get("stream", "")) for m in messages)


def _stream_error(messages: list[dict]) -> str | None:
    return next((str(m["error"]) for m in messages if m.get("error")), None)


def _aux_image_id(messages: list[dict]) -> str | None:
    # The legacy builder sends {"aux": {"ID": ...}}; BuildKit the same with
    # "id": "moby.image.id". Its other aux messages are base64 trace records.
    ids = [m["aux"]["ID"] for m in messages if isinstance(m.get("aux"), dict) and "ID" in m["aux"]]
    return ids[-1] if ids else None
