"""Debian's archive as this machine reaches it: the mirrors its apt uses, and a
private apt-get that downloads packages and source tarballs from them without
changing the machine's own apt configuration or lists."""

import re
import shutil
from dataclasses import dataclass
from pathlib import Path

from .commands import ProvisionError, run_logged

MACHINE_SOURCES = Path("/etc/apt/sources.list.d/debian.sources")


@dataclass(frozen=True)
class Source:
    """One deb822 paragraph of an apt sources file."""

    uris: tuple[str, ...]
    suites: tuple[str, ...]
    components: tuple[str, ...]
    signed_by: str | None

    def as_deb822(self, types: str) -> str:
        lines = [
            f"Types: {types}",
            f"URIs: {' '.join(self.uris)}",
            f"Suites: {' '.join(self.suites)}",
            f"Components: {' '.join(self.components)}",
        ]
        if self.signed_by:
            lines.append(f"Signed-By: {self.signed_by}")
        return "\n".join(lines) + "\n"


def parse_deb822(text: str) -> list[dict[str, str]]:
    """Paragraphs of a deb822 file as field dictionaries (comments dropped)."""
    paragraphs, fields, key = [], {}, None

    for line in text.splitlines() + [""]:
        if line.startswith("#"):
            continue
        if not line.strip():
            if fields:
                paragraphs.append(fields)
            fields, key = {}, None
        elif line[0].isspace() and key:
            fields[key] += "\n" + line.strip()
        else:
            key, _, value = line.partition(":")
            key = key.strip().lower()
            fields[key] = value.strip()

    return paragraphs


def machine_sources(path: Path = MACHINE_SOURCES) -> list[Source]:
    """The binary package sources the machine's apt reads from path."""
    try:
        text = path.read_text()
    except OSError as error:
        raise ProvisionError(
            f"cannot read the machine's apt sources ({error}); the stand-ins are made from "
            f"the Debian mirror named there, so restore {path}"
        ) from None

    sources = []
    for fields in parse_deb822(text):
        if "deb" not in fields.get("types", "").split() or fields.get("enabled") == "no":
            continue
        sources.append(
            Source(
                uris=tuple(fields.get("uris", "").split()),
                suites=tuple(fields.get("suites", "").split()),
                components=tuple(fields.get("components", "").split()),
                signed_by=fields.get("signed-by"),
            )
        )
    return sources


def mirror_for(sources: list[Source], suite: str, path: Path = MACHINE_SOURCES) -> Source:
    """The source that carries suite itself (not -updates or -security)."""
    for source in sources:
        if suite in source.suites and source.uris:
            return source
    raise ProvisionError(
        f"no entry in {path} serves Debian {suite}; add one (Types: deb, URIs: a Debian "
        f"mirror, Suites: {suite}) so that the stand-ins can be made from it"
    )


class PrivateApt:
    """apt-get with its own sources, lists and caches under one directory."""

    def __init__(self, sources: list[Source], workdir: Path, log_path: Path):
        self.workdir = workdir
        self.log_path = log_path
        self._updated = False

        parts = workdir / "sources.list.d"
        parts.mkdir(parents=True, exist_ok=True)
        text = "\n".join(source.as_deb822("deb deb-src") for source in sources)
        (parts / "standin.sources").write_text(text)
        for directory in ("lists/partial", "cache/archives/partial"):
            (workdir / directory).mkdir(parents=True, exist_ok=True)

        self.options = [
            "-o", f"Dir::Etc::SourceList={workdir / 'sources.list'}",
            "-o", f"Dir::Etc::SourceParts={parts}",
            "-o", f"Dir::State::Lists={workdir / 'lists'}",
            "-o", f"Dir::Cache={workdir / 'cache'}",
            "-o", "Acquire::Languages=none",
            "-o", "APT::Update::Error-Mode=any",
            # Downloads land in directories of ours; apt's unprivileged
            # sandbox user need not be able to write them.
            "-o", "APT::Sandbox::User=root",
        ]  # fmt: skip

    def _apt_get(self, *arguments: str, cwd: Path | None = None, what: str) -> None:
        if not self._updated:
            run_logged(
                ["apt-get", *self.options, "update"],
                self.log_path,
                "apt-get update (private lists, with deb-src)",
            )
            self._updated = True
        run_logged(["apt-get", *self.options, *arguments], self.log_path, what, cwd=cwd)

    def download(self, package: str, dest: Path) -> Path:
        """The .deb of package's candidate version, downloaded into dest."""
        dest.mkdir(parents=True, exist_ok=True)
        for old in dest.glob(f"{package}_*.deb"):
            old.unlink()

        self._apt_get("download", package, cwd=dest, what=f"apt-get download {package}")
        return only_match(dest, f"{package}_*.deb")

    def source_tarball(self, package: str, suite: str, dest: Path) -> Path:
        """The upstream (.orig) tarball of a Debian source package, downloaded into dest.

        The version of suite itself is asked for: the -security mirror may lack
        the .dsc of its newer revision, and every revision shares one .orig.
        """
        scratch = dest / f"{package}.download"
        shutil.rmtree(scratch, ignore_errors=True)
        scratch.mkdir(parents=True)

        self._apt_get(
            "source",
            "--download-only",
            f"{package}/{suite}",
            cwd=scratch,
            what=f"apt-get source {package}/{suite}",
        )
        orig = only_match(scratch, f"{package}_*.orig.tar.*")
        kept = dest / orig.name
        orig.replace(kept)
        shutil.rmtree(scratch)
        return kept


def only_match(directory: Path, pattern: str) -> Path:
    """The single file matching pattern in directory."""
    matches = sorted(directory.glob(pattern))
    if len(matches) != 1:
        found = ", ".join(path.name for path in matches) or "nothing"
        raise ProvisionError(f"expected one {pattern} in {directory}, found {found}")
    return matches[0]


def deb_version(path: Path) -> str:
    """The version in a .deb or .orig tarball name, with apt's %3a unquoted."""
    match = re.match(r"[^_]+_([^_]+?)(?:_[^_]+\.deb|\.orig\.tar\.\w+)$", path.name)
    return match.group(1).replace("%3a", ":") if match else "unknown"
