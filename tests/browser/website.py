"""Building the site with MkDocs, serving it on localhost, and reading its nav.

The site is built exactly as it is published, `mkdocs build --strict`, in a
process of its own so that one build's plugins and macros module never leak
into the next (the fault tests build altered copies of the project).
"""

from __future__ import annotations

import functools
import http.server
import logging
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import mkdocs.config
from mkdocs.structure.files import File

log = logging.getLogger("tests.browser")


class SiteBuildError(Exception):
    """`mkdocs build --strict` failed; the message holds what MkDocs said."""


@dataclass(frozen=True)
class SitePage:
    """A page of the site.

    `title` is its title in the nav (its path, for a page the nav leaves out),
    `src` its path under docs/, `url` its URL relative to the site's root, and
    `location` its source file from the project root, as a reader opens it.
    """

    title: str
    src: str
    url: str
    location: str

    @property
    def name(self) -> str:
        """A file-name-safe name for the page: `exercise-2` for docs/exercise-2.md."""
        return PurePosixPath(self.src).with_suffix("").as_posix().replace("/", "-")


def load_config(config_file: Path):
    """The site's config as MkDocs itself reads it."""
    return mkdocs.config.load_config(os.fspath(config_file))


def nav_pages(config_file: Path) -> list[SitePage]:
    """Every page the nav of `config_file` lists, in nav order; links to other sites left out."""
    config = load_config(config_file)
    if not config.nav:
        raise SiteBuildError(
            f"{config_file} has no nav: list the pages under `nav:` so that their order, "
            "and that none is left out, is decided in one place"
        )

    pages = []
    for title, src in _walk_nav(config.nav):
        if "://" in src:
            continue
        url = File(src, config.docs_dir, config.site_dir, config.use_directory_urls).url
        pages.append(SitePage(title, src, url, location_of(config, src)))
    return pages


def doc_pages(config_file: Path) -> list[SitePage]:
    """Every Markdown file under the site's docs_dir, with the URL MkDocs gives it."""
    config = load_config(config_file)
    docs_dir = Path(config.docs_dir)
    pages = []
    for path in sorted(docs_dir.rglob("*.md")):
        src = path.relative_to(docs_dir).as_posix()
        url = File(src, config.docs_dir, config.site_dir, config.use_directory_urls).url
        pages.append(SitePage(src, src, url, location_of(config, src)))
    return pages


def location_of(config, src: str) -> str:
    """`src` as a path from the project root, `docs/exercise-2.md`: what a reader opens."""
    root = Path(config.config_file_path).resolve().parent
    path = Path(config.docs_dir).resolve() / src
    return path.relative_to(root).as_posix() if path.is_relative_to(root) else path.as_posix()


def _walk_nav(items) -> Iterator[tuple[str, str]]:
    """(title, target) for every leaf of a nav as mkdocs.yml writes it."""
    for item in items:
        if isinstance(item, str):
            yield item, item
            continue
        for title, target in item.items():
            if isinstance(target, list):
                yield from _walk_nav(target)
            else:
                yield title, target


def build_site(config_file: Path, site_dir: Path) -> None:
    """Build the site of `config_file` into `site_dir` with `mkdocs build --strict`."""
    command = [
        sys.executable,
        "-m",
        "mkdocs",
        "build",
        "--strict",
        "--clean",
        "--config-file",
        os.fspath(config_file),
        "--site-dir",
        os.fspath(site_dir),
    ]
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1", "PYTHONDONTWRITEBYTECODE": "1"}
    log.debug("building %s into %s", config_file, site_dir)
    result = subprocess.run(
        command,
        cwd=config_file.parent,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        said = [
            line
            for line in result.stdout.splitlines()
            if line.startswith(("WARNING", "ERROR", "Aborted", "Error", "Traceback"))
        ]
        details = "\n  ".join(said) or result.stdout.strip()[-2000:]
        raise SiteBuildError(
            f"`mkdocs build --strict -f {config_file}` failed; fix what it reports:\n  {details}"
        )


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    """Serves files without printing a line per request into the test output."""

    def log_message(self, format, *args):
        log.debug("served: " + format, *args)


@contextmanager
def serve(site_dir: Path) -> Iterator[str]:
    """Serve `site_dir` on a free port of 127.0.0.1; yields the site's base URL."""
    handler = functools.partial(_QuietHandler, directory=os.fspath(site_dir))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, name="site-server", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
