"""The include() macro and the shared names: what pages show, and how a bad include fails."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml

from macros import define_env
from macros.include import IncludeError, language_for, region_names, render_include

ROOT = Path(__file__).resolve().parent.parent
SAMPLE_APP = ROOT / "sample_app"


class FakeEnv:
    """The part of mkdocs-macros' env that define_env uses, for one page."""

    def __init__(self, project: Path, page: str):
        self.project_dir = str(project)
        self.conf = {"docs_dir": str(project / "docs")}
        self.page = SimpleNamespace(file=SimpleNamespace(src_path=page))
        self.macros = {}

    def macro(self, function, name=""):
        self.macros[name or function.__name__] = function
        return function


@pytest.fixture
def include():
    """include() as the course's pages call it, on docs/exercise-2.md."""
    env = FakeEnv(ROOT, "exercise-2.md")
    define_env(env)
    return env.macros["include"]


@pytest.fixture
def app_dir(tmp_path):
    """A sample_app folder with one file holding two regions."""
    folder = tmp_path / "sample_app"
    folder.mkdir()
    (folder / "app.py").write_text(
        "import os\n"
        "# --8<-- [start:outer]\n"
        "def a():\n"
        "    # --8<-- [start:inner]\n"
        "    return 1\n"
        "    # --8<-- [end:inner]\n"
        "# --8<-- [end:outer]\n"
        "print(a())\n"
    )
    return folder


@pytest.fixture(scope="module")
def extra():
    """The shared names under `extra:` in mkdocs.yml."""
    return yaml.safe_load((ROOT / "mkdocs.yml").read_text())["extra"]


@pytest.mark.parametrize(
    ("name", "language"),
    [
        ("Dockerfile", "dockerfile"),
        ("Dockerfile.multi", "dockerfile"),
        ("main.py", "python"),
        ("requirements.txt", "text"),
        (".dockerignore", "text"),
        ("config/settings.yml", "yaml"),
        ("NOTES", "text"),
    ],
)
def test_language_follows_the_file_name(name, language):
    assert language_for(name) == language


def test_whole_file_is_fenced_with_its_name_and_without_markers(app_dir):
    block = render_include(app_dir, "app.py", None, "docs/page.md")

    assert block == ('```python title="app.py"\nimport os\ndef a():\n    return 1\nprint(a())\n```')


def test_region_shows_only_its_lines_untitled_so_it_is_not_taken_for_the_file(app_dir):
    block = render_include(app_dir, "app.py", "outer", "docs/page.md")

    assert block == "```python\ndef a():\n    return 1\n```"


def test_region_keeps_its_indentation(app_dir):
    block = render_include(app_dir, "app.py", "inner", "docs/page.md")

    assert block == "```python\n    return 1\n```"


def test_fence_outgrows_backticks_in_the_file(tmp_path):
    (tmp_path / "README.txt").write_text("a ```` run\n")

    block = render_include(tmp_path, "README.txt", None, "docs/page.md")

    assert block.startswith('`````text title="README.txt"\n')
    assert block.endswith("\n`````")


def test_missing_file_names_the_page_and_the_files_there(include):
    with pytest.raises(IncludeError) as error:
        include("Dockerfile.slim")

    assert str(error.value) == (
        "docs/exercise-2.md: there is no file sample_app/Dockerfile.slim; files there: "
        ".dockerignore, Dockerfile, Dockerfile.multi, main.py, requirements.txt"
    )


def test_missing_region_names_the_page_and_the_regions_there(include):
    with pytest.raises(IncludeError) as error:
        include("Dockerfile.multi", "deps")

    assert str(error.value) == (
        "docs/exercise-2.md: the region 'deps' is not in sample_app/Dockerfile.multi; "
        "regions there: build, runtime"
    )


def test_file_without_regions_says_so(include):
    with pytest.raises(IncludeError, match="regions there: none$"):
        include("requirements.txt", "pins")


def test_path_outside_sample_app_is_refused(include):
    with pytest.raises(IncludeError, match="shows files of sample_app/ only"):
        include("../mkdocs.yml")


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("# --8<-- [start:a]\nx\n", "starts but never ends"),
        ("x\n# --8<-- [end:a]\n", "ends before it starts"),
        ("# --8<-- [start:a]\n# --8<-- [end:a]\n# --8<-- [start:a]\n# --8<-- [end:a]\n", "twice"),
    ],
)
def test_broken_markers_are_reported(tmp_path, text, problem):
    (tmp_path / "f.py").write_text(text)

    with pytest.raises(IncludeError, match=problem):
        render_include(tmp_path, "f.py", "a", "docs/page.md")


def test_regions_are_listed_in_the_order_they_start(app_dir):
    assert region_names((app_dir / "app.py").read_text()) == ["outer", "inner"]


def instructions(dockerfile: Path, keyword: str) -> list[str]:
    """The arguments of every `keyword` instruction of a Dockerfile, continuations joined."""
    joined = dockerfile.read_text().replace("\\\n", " ")
    return [
        line.split(None, 1)[1]
        for line in joined.splitlines()
        if line.split(None, 1)[:1] == [keyword] and len(line.split(None, 1)) > 1
    ]


def env_value(dockerfile: Path, name: str) -> str | None:
    for arguments in instructions(dockerfile, "ENV"):
        for pair in arguments.split():
            key, _, value = pair.partition("=")
            if key == name:
                return value.strip('"')
    return None


def test_single_stage_dockerfile_agrees_with_the_shared_names(extra):
    dockerfile = SAMPLE_APP / "Dockerfile"

    assert instructions(dockerfile, "FROM") == [extra["base_full"]]
    assert env_value(dockerfile, "APP_VERSION") == extra["tag_single"]
    assert instructions(dockerfile, "EXPOSE") == [str(extra["port"])]


def test_multi_stage_dockerfile_agrees_with_the_shared_names(extra):
    dockerfile = SAMPLE_APP / "Dockerfile.multi"

    assert instructions(dockerfile, "FROM") == [
        f"{extra['base_full']} AS build",
        f"{extra['base_slim']} AS runtime",
    ]
    assert env_value(dockerfile, "APP_VERSION") == extra["tag_multi"]
    assert instructions(dockerfile, "EXPOSE") == [str(extra["port"])]


def test_shared_names_are_strings_where_pages_expect_text(extra):
    textual = [key for key, value in extra.items() if key not in ("port", "registry_port")]

    assert all(isinstance(extra[key], str) for key in textual), extra


@pytest.fixture
def site(tmp_path):
    """A copy of the course's site (config, macros, sample app) with an empty docs folder."""
    shutil.copy(ROOT / "mkdocs.yml", tmp_path)
    shutil.copytree(
        ROOT / "macros", tmp_path / "macros", ignore=shutil.ignore_patterns("__pycache__")
    )
    shutil.copytree(
        SAMPLE_APP, tmp_path / "sample_app", ignore=shutil.ignore_patterns("__pycache__")
    )
    docs = tmp_path / "docs"
    docs.mkdir()
    for page in ("index.md", "exercise-1.md", "exercise-2.md", "exercise-3.md"):
        (docs / page).write_text("# A page\n\nNothing to see.\n")
    return tmp_path


def build(site: Path) -> subprocess.CompletedProcess:
    mkdocs = Path(sys.executable).parent / "mkdocs"
    return subprocess.run(
        [str(mkdocs), "build", "--strict", "-d", str(site / "out")],
        cwd=site,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_site_builds_when_every_include_resolves(site):
    (site / "docs" / "exercise-2.md").write_text(
        '# A page\n\n{{ include("Dockerfile.multi", "build") }}\n'
    )

    result = build(site)

    assert result.returncode == 0, result.stderr


def test_build_fails_on_a_missing_region_and_names_the_page(site):
    (site / "docs" / "exercise-2.md").write_text(
        '# A page\n\n{{ include("Dockerfile.multi", "deps") }}\n'
    )

    result = build(site)

    assert result.returncode != 0
    assert (
        "docs/exercise-2.md: the region 'deps' is not in sample_app/Dockerfile.multi; "
        "regions there: build, runtime"
    ) in result.stderr


def test_build_fails_on_an_unknown_name(site):
    (site / "docs" / "exercise-1.md").write_text("# A page\n\nRun {{ imagee }}.\n")

    result = build(site)

    assert result.returncode != 0
    assert "'imagee' is undefined" in result.stderr
    assert "exercise-1.md" in result.stderr
