"""`python -m course check 2` on a learner's work: a correct solution, and typical mistakes.

Each mistake is applied to a scratch copy of sample_app/, built and run under
the names the page's bullets check (simple-app:0.1.0 and 0.2.0, the
container simple-app-multi on port 8080), and must fail exactly the bullet
it breaks, with that bullet's hint from the page's Common issues. The real
names and port are shared with the docs harness, so these tests hold
/tmp/docs-ports.lock while they run, refuse to start when one of the names
is already taken (it may be the user's own), and remove all they create.
"""

from __future__ import annotations

import fcntl
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import docker
import docker.errors
import pytest
import yaml

from course.parse import parse_page
from course.render import render_pages

ROOT = Path(__file__).resolve().parent.parent
SAMPLE_APP = ROOT / "sample_app"
PORTS_LOCK = Path("/tmp/docs-ports.lock")
LOCK_PATIENCE_SECONDS = 900

NAMES = yaml.safe_load((ROOT / "mkdocs.yml").read_text())["extra"]
IMAGE = NAMES["image"]
SINGLE, MULTI = f"{IMAGE}:{NAMES['tag_single']}", f"{IMAGE}:{NAMES['tag_multi']}"
CONTAINER, PORT = NAMES["container_multi"], NAMES["port"]
# Keeps the correct 0.2.0 build, and its layers, while a mistake's build
# holds the tag: the next scenario then rebuilds from the cache, not from PyPI.
KEEP = "course-tests/learner-check:correct-0.2.0"

STEP_IMAGE_RE = re.compile(r"^ ---> ([0-9a-f]{12})$", re.MULTILINE)
STATUS_RE = re.compile(r"^  (pass|FAIL|not checked) +(.*)$")


def replaced(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, f"{path.name} no longer holds {old!r}; update this mistake"
    path.write_text(text.replace(old, new))


def no_dockerignore(project: Path) -> None:
    (project / ".dockerignore").unlink()


def copy_before_install(project: Path) -> None:
    dockerfile = project / "Dockerfile.multi"
    replaced(dockerfile, "COPY requirements.txt /tmp/requirements.txt", "WORKDIR /src\nCOPY . .")
    replaced(dockerfile, "-r /tmp/requirements.txt", "-r requirements.txt")


def bound_to_localhost(project: Path) -> None:
    replaced(project / "main.py", 'host="0.0.0.0"', 'host="127.0.0.1"')


def venv_left_out(project: Path) -> None:
    replaced(
        project / "Dockerfile.multi",
        "COPY --from=build /opt/venv /opt/venv",
        "COPY --from=build /opt/venv/bin /opt/venv/bin",
    )


@dataclass(frozen=True)
class Scenario:
    """A learner's state: the mistake applied to the files, and how the image was built."""

    name: str
    mistake: Callable[[Path], None] | None = None
    tagged: bool = True
    builds_again: bool = True
    runs: bool = True


CORRECT = Scenario("correct", builds_again=False)
SCENARIOS = {
    scenario.name: scenario
    for scenario in (
        CORRECT,
        # The image is the same as the correct one: COPY main.py is all it takes
        # from the context, so the missing file changes no layer.
        Scenario("no .dockerignore", no_dockerignore, builds_again=False),
        Scenario("COPY . . before the install", copy_before_install),
        Scenario("the app bound to 127.0.0.1", bound_to_localhost),
        Scenario("the dependencies left out of the copy", venv_left_out),
        # Built without -t: `docker run` of the page then finds no image and
        # starts nothing.
        Scenario("no tag", tagged=False, runs=False),
        Scenario("the container not started", builds_again=False, runs=False),
    )
}


@dataclass(frozen=True)
class Report:
    """What `python -m course check 2` printed and its exit status."""

    status: int
    stdout: str
    stderr: str

    def bullets(self) -> list[tuple[str, str]]:
        """(status, everything printed for the bullet, on one line) in page order."""
        found: list[tuple[str, list[str]]] = []
        for line in self.stdout.splitlines():
            match = STATUS_RE.match(line)
            if match:
                found.append((match.group(1), [match.group(2)]))
            elif found and line.startswith(" " * 15):
                found[-1][1].append(line.strip())
        return [(status, " ".join(lines)) for status, lines in found]


def check(project: Path, env: dict[str, str] | None = None, exercise: str = "2") -> Report:
    command = [sys.executable, "-m", "course", "check", exercise, "--project", str(project)]
    done = subprocess.run(
        command, cwd=project, env=env, capture_output=True, text=True, timeout=120
    )
    return Report(done.returncode, done.stdout, done.stderr)


def one_line(text: str) -> str:
    return " ".join(text.split())


@pytest.fixture(scope="module")
def page():
    """Exercise 2's page, rendered and parsed, for its bullets and hints."""
    (rendered,) = render_pages(ROOT / "mkdocs.yml", ["exercise-2.md"])
    return parse_page(rendered)


def bullet_with(page, check_name: str) -> int:
    """The index of the bullet that carries the check `check_name`."""
    for index, bullet in enumerate(page.verification):
        if any(directive.args[0] == check_name for directive in bullet.checks):
            return index
    raise AssertionError(f"no bullet of Exercise 2 carries check {check_name}")


def hint(page, bullet: int, check_name: str) -> str:
    directive = next(d for d in page.verification[bullet].checks if d.args[0] == check_name)
    return one_line(page.hints[directive.options["hint"]])


@pytest.fixture(scope="module")
def ports_lock() -> Iterator[None]:
    """/tmp/docs-ports.lock, held while the page's names and port 8080 are in use here."""
    inherited = _inherited_lock()
    if inherited is not None:
        # Run under `flock /tmp/docs-ports.lock pytest`: the lock is already ours.
        fcntl.flock(inherited, fcntl.LOCK_EX)
        yield
        return

    with PORTS_LOCK.open("a") as lock:
        deadline = time.monotonic() + LOCK_PATIENCE_SECONDS
        while True:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    pytest.fail(
                        f"{PORTS_LOCK} stayed locked for {LOCK_PATIENCE_SECONDS} s: another "
                        "run of the real pages uses port 8080; try again when it ends",
                        pytrace=False,
                    )
                time.sleep(1)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _inherited_lock() -> int | None:
    for fd in os.listdir("/proc/self/fd"):
        try:
            if os.readlink(f"/proc/self/fd/{fd}") == str(PORTS_LOCK):
                return int(fd)
        except OSError:
            continue
    return None


class Learner:
    """The learner's images and container on the engine, made and removed by these tests only."""

    def __init__(self, engine: docker.DockerClient, projects: Path) -> None:
        self.engine = engine
        self.projects = projects
        self.built: list[str] = []
        # Images that were there before: a build that reuses one from the cache
        # returns it, and it is not ours to remove.
        self.existing = {image.id for image in engine.images.list(all=True)}
        self.current: Scenario | None = None
        self.project: Path | None = None

    def names_taken(self) -> list[str]:
        taken = [ref for ref in (SINGLE, MULTI, KEEP) if self._image(ref)]
        if self._container():
            taken.append(f"the container {CONTAINER}")
        return taken

    def build_exercise_1(self) -> None:
        self._build(self._copy("exercise-1"), "Dockerfile", SINGLE)

    def set_up(self, scenario: Scenario) -> Path:
        """The project folder with the scenario's mistake; its image built, its container run."""
        if scenario == self.current:
            return self.project
        self._remove_container()
        if self._image(MULTI):
            self.engine.images.remove(MULTI, noprune=True)

        project = self._copy(scenario.name)
        if scenario.mistake:
            scenario.mistake(project)
        if not self._image(KEEP):
            self._build(self._copy("correct 0.2.0"), "Dockerfile.multi", KEEP)
        if scenario.builds_again:
            self._build(project, "Dockerfile.multi", MULTI if scenario.tagged else None)
        elif scenario.tagged:
            self.engine.images.get(KEEP).tag(MULTI)
        if scenario.runs:
            self._run()

        self.current, self.project = scenario, project
        return project

    def remove_everything(self) -> None:
        """Remove the container, the tags and every image a build made; nothing else."""
        self._remove_container()
        for ref in (MULTI, SINGLE, KEEP):
            if self._image(ref):
                self.engine.images.remove(ref, noprune=True)

        # Children before parents; without pruning, an image that was there
        # before, or that another build has reused meanwhile, stays.
        for image_id in reversed(self.built):
            image = self._image(image_id)
            if image is None or image.tags or image.id in self.existing:
                continue
            try:
                self.engine.images.remove(image.id, noprune=True)
            except docker.errors.APIError as error:
                if error.status_code != 409:
                    raise

    def _copy(self, name: str) -> Path:
        slug = re.sub(r"\W+", "-", name).strip("-")
        target = Path(tempfile.mkdtemp(prefix=f"{slug}-", dir=self.projects)) / "project"
        ignore = shutil.ignore_patterns("__pycache__", ".pytest_cache")
        return Path(shutil.copytree(SAMPLE_APP, target, ignore=ignore))

    def _build(self, project: Path, dockerfile: str, tag: str | None) -> None:
        try:
            image, log = self.engine.images.build(
                path=str(project), dockerfile=dockerfile, tag=tag, rm=True, forcerm=True
            )
        except docker.errors.BuildError as error:
            text = "".join(chunk.get("stream", "") for chunk in error.build_log)
            pytest.fail(f"building {dockerfile} of {project.name} failed:\n{text}", pytrace=False)

        # The builder makes an image per step; a build stage's last one is the
        # child of no image we tag, so it stays unless removed by its ID.
        text = "".join(chunk.get("stream", "") for chunk in log)
        self.built.extend(STEP_IMAGE_RE.findall(text))
        self.built.append(image.id)

    def _run(self) -> None:
        container = self.engine.containers.run(
            MULTI, detach=True, name=CONTAINER, ports={f"{PORT}/tcp": PORT}
        )
        deadline = time.monotonic() + 30
        while container.status == "created" and time.monotonic() < deadline:
            time.sleep(0.2)
            container.reload()

    def _image(self, ref: str):
        try:
            return self.engine.images.get(ref)
        except docker.errors.ImageNotFound:
            return None

    def _container(self):
        try:
            return self.engine.containers.get(CONTAINER)
        except docker.errors.NotFound:
            return None

    def _remove_container(self) -> None:
        container = self._container()
        if container is not None:
            container.remove(force=True)


@pytest.fixture(scope="module")
def learner(engine, ports_lock, tmp_path_factory) -> Iterator[Learner]:
    """The engine with Exercise 1's image built; each test sets up its own scenario on it."""
    learner = Learner(engine, tmp_path_factory.mktemp("learner"))
    taken = learner.names_taken()
    if taken:
        pytest.fail(
            f"{', '.join(taken)} already exist on this engine and may be yours; these tests "
            "would replace them. Remove them, or run the tests on another engine",
            pytrace=False,
        )

    try:
        learner.build_exercise_1()
        yield learner
    finally:
        learner.remove_everything()


def statuses(report: Report) -> list[str]:
    return [status for status, _ in report.bullets()]


@pytest.mark.docker
def test_a_correct_solution_passes_every_check(learner, page):
    project = learner.set_up(CORRECT)

    report = check(project)

    assert statuses(report) == ["pass"] * len(page.verification), report.stdout
    assert report.stdout.splitlines()[-1] == f"All {len(page.verification)} checks passed."
    assert report.status == 0


@pytest.mark.docker
def test_checking_changes_no_image_or_container_of_the_learner(learner, engine):
    project = learner.set_up(CORRECT)
    wait_for_a_fresh_health_check(engine)

    before = snapshot(engine)
    report = check(project)
    after = snapshot(engine)

    assert report.status == 0, report.stdout
    assert after == before


def snapshot(engine: docker.DockerClient) -> dict[str, object]:
    """`docker inspect` of the learner's images and container, and which of them exist."""
    api = engine.api
    return {
        "images": {ref: api.inspect_image(ref) for ref in (SINGLE, MULTI)},
        "container": api.inspect_container(CONTAINER),
        "tags": sorted(tag for image in engine.images.list(name=IMAGE) for tag in image.tags),
        "containers": sorted(
            c.name
            for c in engine.containers.list(all=True)
            if c.name.startswith(IMAGE) or c.attrs["Config"]["Image"].startswith(IMAGE)
        ),
    }


def wait_for_a_fresh_health_check(engine: docker.DockerClient) -> None:
    """Return just after Docker has run the container's health check, which it logs in inspect.

    The next one comes 10 s later, so a check that takes less sees the same
    health record before and after.
    """

    def last_probe() -> str:
        health = engine.api.inspect_container(CONTAINER)["State"].get("Health") or {}
        return (health.get("Log") or [{}])[-1].get("End", "")

    seen = last_probe()
    deadline = time.monotonic() + 30
    while last_probe() == seen:
        assert time.monotonic() < deadline, "the container's health check never ran"
        time.sleep(0.1)


# Each mistake, the check whose bullet it must fail (with that check's hint),
# and words the bullet's report must hold.
MISTAKES = [
    pytest.param(
        "no .dockerignore",
        "dockerignore-excludes",
        "there is no .dockerignore",
        id="no-dockerignore",
    ),
    pytest.param(
        "COPY . . before the install",
        "deps-before-code",
        "(COPY . .) copies",
        id="copy-before-install",
    ),
    pytest.param(
        "the app bound to 127.0.0.1", "responds", "nothing answers at", id="bound-to-127.0.0.1"
    ),
    pytest.param(
        "the dependencies left out of the copy",
        "container-running",
        "its log ends: ModuleNotFoundError: No module named 'flask'",
        id="dependencies-left-out",
    ),
]


@pytest.mark.docker
@pytest.mark.parametrize(("scenario", "failing_check", "detail"), MISTAKES)
def test_a_mistake_fails_exactly_its_bullet_with_its_hint(
    learner, page, scenario, failing_check, detail
):
    project = learner.set_up(SCENARIOS[scenario])
    failing = bullet_with(page, failing_check)

    report = check(project)

    expected = ["pass"] * len(page.verification)
    expected[failing] = "FAIL"
    assert statuses(report) == expected, report.stdout
    printed = report.bullets()[failing][1]
    assert detail in printed
    assert f"Hint: {hint(page, failing, failing_check)}" in printed
    assert report.stdout.splitlines()[-1] == f"1 of {len(page.verification)} checks failed."
    assert report.status == 1


@pytest.mark.docker
def test_a_missing_tag_fails_the_build_and_leaves_what_needs_the_image_not_checked(learner, page):
    project = learner.set_up(SCENARIOS["no tag"])
    build = bullet_with(page, "image-exists")
    needs_image = [bullet_with(page, "image-smaller"), bullet_with(page, "container-running")]

    report = check(project)

    expected = ["pass"] * len(page.verification)
    expected[build] = "FAIL"
    for index in needs_image:
        expected[index] = "not checked"
    assert statuses(report) == expected, report.stdout
    assert f"Hint: {hint(page, build, 'image-exists')}" in report.bullets()[build][1]
    for index in needs_image:
        assert f"It needs the image {MULTI}, which a check above" in report.bullets()[index][1]
    total = len(page.verification)
    assert report.stdout.splitlines()[-1] == f"1 of {total} checks failed, 2 not checked."
    assert report.status == 1


@pytest.mark.docker
def test_a_container_not_started_is_failed_with_the_command_that_starts_it(learner, page):
    project = learner.set_up(SCENARIOS["the container not started"])
    answers = bullet_with(page, "container-running")

    report = check(project)

    printed = report.bullets()[answers][1]
    assert report.bullets()[answers][0] == "FAIL", report.stdout
    assert printed.endswith(
        f"there is no container named {CONTAINER} Start it as the page does: docker run -d "
        f"--name {CONTAINER} -p {PORT}:{PORT} {MULTI}"
    )
    assert "Hint:" not in printed


def test_without_docker_the_check_says_to_start_it(tmp_path):
    project = Path(shutil.copytree(SAMPLE_APP, tmp_path / "project"))
    socket = tmp_path / "nothing-listens.sock"
    env = {**os.environ, "DOCKER_HOST": f"unix://{socket}"}

    report = check(project, env)

    assert report.status == 2
    assert report.stdout == ""
    assert report.stderr == (
        f"Docker is not running at unix://{socket} (the address in DOCKER_HOST): start "
        "Docker Desktop, or the engine (sudo systemctl start docker), or point DOCKER_HOST "
        "at a running engine, then check again\n"
    )


def test_outside_an_exercise_folder_the_check_says_where_to_run_it(tmp_path):
    report = check(tmp_path)

    assert report.status == 2
    assert report.stdout == ""
    assert report.stderr == (
        f"{tmp_path} is not an exercise folder: it has no main.py and no requirements.txt. "
        "Run the check from the folder where you build the image, or name it with "
        "--project DIR\n"
    )


@pytest.mark.parametrize("number", ["9", "two", "02"])
def test_an_unknown_exercise_number_lists_the_exercises(tmp_path, number):
    report = check(tmp_path, exercise=number)

    assert report.status == 2
    assert report.stdout == ""
    assert report.stderr == (
        f"there is no exercise {number}; the exercises are 1, 2, 3: python -m course check NUMBER\n"
    )
