"""The course's mkdocs-macros module: include() and nothing else.

The shared names (image, tags, ports, container names) are plain variables
under `extra:` in mkdocs.yml, which mkdocs-macros hands to every page.
"""

from __future__ import annotations

from pathlib import Path

from .include import IncludeError, render_include

__all__ = ["IncludeError", "define_env"]

SAMPLE_APP = "sample_app"


def define_env(env) -> None:
    """Register the course's macros with mkdocs-macros."""
    project = Path(env.project_dir)

    @env.macro
    def include(path: str, region: str | None = None) -> str:
        """A file of sample_app/ (or its region `region`) as a titled fenced block."""
        return render_include(project / SAMPLE_APP, path, region, page_name(env, project))


def page_name(env, project: Path) -> str:
    """The page being rendered, as a path from the project root (docs/exercise-2.md)."""
    source = env.page.file.src_path
    docs_dir = Path(env.conf["docs_dir"])
    if docs_dir.is_absolute() and docs_dir.is_relative_to(project):
        return (docs_dir.relative_to(project) / source).as_posix()
    return source
