"""The fault matrix: the harness keeps its promises when pages, commands or the engine go wrong.

Each case writes a small sample site of its own (tests/faults/site.py), runs
the harness over it in a subprocess against the real engine, and asserts what
a contributor would see: the message, naming the page and line and saying
what to do next, and the exit status. Around every run, a container and an
image of the user's, made directly on the engine beforehand, must still be
there afterwards, and nothing the run made may be left: no container, image,
network or volume, and no file in the run's temporary folder.

The last tests look at the images the course's own Dockerfiles build: they
run as a user who is not root, and their layers carry nothing of the build
machine and nothing that .dockerignore keeps out.
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import docker
import pytest

from tests.faults.images import Built, added_files, base_image, build, remove_built
from tests.faults.objects import (
    EngineState,
    NoStaticBusybox,
    Sentinels,
    import_tiny_image,
    left_behind,
    remove,
)
from tests.faults.site import REPO, HarnessRun, SampleSite
from tests.harness.engine import EngineUnavailable, connect

pytestmark = pytest.mark.docker

# Text that would show a report coming from the harness's own code, not the page.
HARNESS_TRACES = ("Traceback", "tests/harness/", "pagerun.py", "plugin.py", "shell.py")

INTERRUPTED = int(pytest.ExitCode.INTERRUPTED)
FAILED = int(pytest.ExitCode.TESTS_FAILED)


@pytest.fixture(scope="session")
def api():
    """A client of the engine itself, not of the harness's proxy; fails if none answers."""
    try:
        return connect().api
    except EngineUnavailable as error:
        problem = str(error)
    pytest.fail(problem, pytrace=False)


@pytest.fixture(scope="session")
def tiny_image(api):
    """The busybox image all sample pages run, under a tag of its own: (name, ID)."""
    name = f"course-faults-busybox:{secrets.token_hex(4)}"
    try:
        image_id = import_tiny_image(api, *name.split(":"))
    except NoStaticBusybox as error:
        problem = str(error)
    else:
        yield name, image_id
        api.remove_image(image_id, noprune=True)
        return
    pytest.fail(problem, pytrace=False)


@dataclass
class Case:
    """One case's site, its token, and the engine as it was before the run."""

    api: docker.APIClient
    site: SampleSite
    token: str
    image_id: str
    sentinels: Sentinels
    before: EngineState

    def assert_nothing_lost_or_left(self) -> None:
        assert self.sentinels.missing(self.api) == [], "the run removed the user's objects"
        left = [str(item) for item in left_behind(self.api, self.before, self.image_id, self.token)]
        assert left == [], "the run left Docker objects behind"
        assert self.site.temporary_files() == [], "the run left files in its temporary folder"


@pytest.fixture
def case(api, tiny_image, tmp_path):
    """A sample site, with a container and an image of the user's on the engine beside it."""
    image, image_id = tiny_image
    token = f"faults-{secrets.token_hex(4)}"
    run_tmp = Path(tempfile.mkdtemp(prefix="faults-"))
    site = SampleSite(tmp_path / "site", run_tmp, {"image": image, "token": token})
    sentinels = Sentinels.make(api, image_id, token)
    case = Case(api, site, token, image_id, sentinels, EngineState.read(api))

    yield case

    remove(api, left_behind(api, case.before, image_id, token))
    sentinels.remove(api)
    shutil.rmtree(run_tmp, ignore_errors=True)


def report(run: HarnessRun, page: str, line: int) -> str:
    """The failure report of the block at `page`:`line`, from its first line on."""
    first = f"docs/{page}:{line}: "
    assert first in run.output, f"no report for docs/{page}:{line}:\n{run.output}"
    text = run.output[run.output.index(first) :]
    end = min((text.find(rule) for rule in ("\n___", "\n===") if rule in text), default=len(text))
    return text[:end]


def assert_no_harness_frames(run: HarnessRun) -> None:
    for trace in HARNESS_TRACES:
        assert trace not in run.output, f"{trace!r} in the output:\n{run.output}"


def test_a_failing_command_is_reported_at_its_line_with_its_status_and_output(case):
    case.site.page(
        "failing.md",
        """
        # A command that fails

        ```bash
        docker run --name {{ token }}-failing {{ image }} sh -c 'echo starting; exit 3'
        ```

        ```bash
        echo never run
        ```
        """,
    )

    run = case.site.run()

    assert run.status == FAILED, run.output
    text = report(run, "failing.md", 3)
    assert text.startswith("docs/failing.md:3: exited with status 3; ")
    assert "put <!-- test: exit-status 3 --> before it" in text
    assert "    starting" in text.splitlines()
    assert (
        "SKIPPED [1] docs/failing.md:7: not run: docs/failing.md:3 failed before it" in run.output
    )
    assert_no_harness_frames(run)
    case.assert_nothing_lost_or_left()


def test_a_command_past_its_deadline_is_killed_and_reported_and_its_container_removed(case):
    case.site.page(
        "hanging.md",
        """
        # A command that hangs

        <!-- test: timeout 2 -->
        ```bash
        docker run --name {{ token }}-hanging {{ image }} sleep 600
        ```
        """,
    )

    run = case.site.run()

    assert run.status == FAILED, run.output
    text = report(run, "hanging.md", 4)
    assert text.startswith(
        "docs/hanging.md:4: did not finish within its deadline of 2 s and was killed"
    )
    assert "raise it with <!-- test: timeout SECONDS -->" in text
    assert "exit status:\n    none (killed)" in text
    assert run.seconds < 20, f"the run took {run.seconds:.0f} s"
    assert_no_harness_frames(run)
    case.assert_nothing_lost_or_left()


def test_a_block_expected_to_fail_that_succeeds_fails_naming_the_status_it_expects(case):
    case.site.page(
        "expected.md",
        """
        # A failure that does not come

        <!-- test: exit-status 1 -->
        ```bash
        docker run --rm --name {{ token }}-fine {{ image }} true
        ```
        """,
    )

    run = case.site.run()

    assert run.status == FAILED, run.output
    text = report(run, "expected.md", 4)
    assert text.startswith(
        "docs/expected.md:4: exited with status 0, and the page expects 1 "
        "(<!-- test: exit-status 1 -->); "
    )
    assert "remove the directive" in text
    assert_no_harness_frames(run)
    case.assert_nothing_lost_or_left()


def test_a_port_in_use_fails_the_block_that_publishes_it_naming_the_port(case):
    api, token = case.api, case.token
    # One port is held by the user's own container, one by another program.
    config = api.create_host_config(port_bindings={80: None})
    users = api.create_container(
        case.image_id, ["sleep", "600"], ports=[80], host_config=config, name=f"{token}-users-web"
    )
    api.start(users)
    taken = api.inspect_container(users)["NetworkSettings"]["Ports"]["80/tcp"][0]["HostPort"]
    case.site.extra["taken"] = int(taken)
    page = """
        # A port someone else holds

        ```bash
        docker run -d --name {{ token }}-web -p {{ port }}:80 {{ image }} httpd -f -p 80
        ```
        """
    case.site.page("container.md", page.replace("{{ port }}", "{{ taken }}"))
    case.site.page("program.md", page)

    with socket.create_server(("0.0.0.0", 0)) as holder:
        port = holder.getsockname()[1]
        case.site.extra["port"] = port
        run = case.site.run()

    assert run.status == FAILED, run.output
    for page_name, held, engine_says in (
        ("container.md", taken, f"Bind for 0.0.0.0:{taken} failed: port is already allocated"),
        ("program.md", port, f"0.0.0.0:{port}: bind: address already in use"),
    ):
        text = report(run, page_name, 3)
        assert text.startswith(
            f"docs/{page_name}:3: exited with status 125: port {held} is in use on this machine"
        )
        assert f"docker ps for a container, ss -ltnp 'sport = :{held}' for a program" in text
        assert engine_says in text
    assert api.inspect_container(users)["State"]["Running"], "the user's container was stopped"
    assert_no_harness_frames(run)
    api.remove_container(users, force=True)
    case.assert_nothing_lost_or_left()


def test_ctrl_c_in_the_middle_of_a_page_ends_the_run_at_once_and_removes_what_it_made(case):
    started = case.site.tmp / "sleeping"
    case.site.extra["started"] = str(started)
    case.site.page(
        "interrupted.md",
        """
        # Interrupted

        ```bash
        docker network create {{ token }}-net
        ```

        ```bash
        docker volume create {{ token }}-vol
        ```

        ```bash
        docker run -d --name {{ token }}-busy --network {{ token }}-net -v {{ token }}-vol:/data {{ image }} sleep 600
        ```

        ```bash
        docker commit {{ token }}-busy {{ token }}-committed:1
        ```

        ```bash
        touch {{ started }} && sleep 600
        ```
        """,  # noqa: E501
    )

    process = case.site.start()
    deadline = time.monotonic() + 60
    while not started.exists() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert started.exists(), "the page never reached its last block"
    started.unlink()
    interrupted = time.monotonic()
    process.send_signal(signal.SIGINT)
    output, _ = process.communicate(timeout=30)
    seconds = time.monotonic() - interrupted

    assert process.returncode == INTERRUPTED, output
    assert "KeyboardInterrupt" in output
    assert "docs/interrupted.md ...." in output
    assert seconds < 10, f"the run took {seconds:.1f} s to end after Ctrl-C"
    case.assert_nothing_lost_or_left()


def test_an_unclosed_fence_stops_the_run_naming_its_line(case):
    case.site.page(
        "unclosed.md",
        """
        # An unclosed fence

        Some prose.

        ```bash
        echo the fence is never closed

        More prose, read as the block's content.
        """,
    )

    run = case.site.run()

    assert run.status == INTERRUPTED, run.output
    assert (
        "docs/unclosed.md:5: this fence (```) is never closed, so the rest of the page would be "
        "read as its content; close it with a line of ```"
    ) in run.output
    assert_no_harness_frames(run)
    case.assert_nothing_lost_or_left()


def test_an_unknown_macro_a_missing_sample_file_and_a_missing_region_each_name_their_page(case):
    case.site.app_file(
        "app.py",
        """
        # --8<-- [start:setup]
        print("set up")
        # --8<-- [end:setup]
        """,
    )
    case.site.page("macro.md", "# Macro\n\nText.\n\n{{ no_such_macro('x') }}\n")
    case.site.page("file.md", '# File\n\nText.\n\n{{ include("missing.py") }}\n')
    case.site.page("region.md", '# Region\n\nText.\n\n{{ include("app.py", "teardown") }}\n')

    run = case.site.run()

    assert run.status == INTERRUPTED, run.output
    assert "docs/macro.md:5: 'no_such_macro' is undefined: every name a page uses" in run.output
    assert "docs/file.md: there is no file sample_app/missing.py; files there: app.py" in run.output
    assert (
        "docs/region.md: the region 'teardown' is not in sample_app/app.py; regions there: setup"
    ) in run.output
    assert "3 errors during collection" in run.output
    assert_no_harness_frames(run)
    case.assert_nothing_lost_or_left()


def test_an_unknown_directive_and_one_missing_its_argument_each_name_their_line(case):
    block = "```bash\necho hello\n```\n"
    case.site.page("unknown.md", f"# Unknown\n\n<!-- test: retry 3 -->\n{block}")
    case.site.page("missing.md", f"# Missing\n\n<!-- test: timeout -->\n{block}")

    run = case.site.run()

    assert run.status == INTERRUPTED, run.output
    assert (
        "docs/unknown.md:3: unknown directive 'retry'; directives: timeout, wait-for, "
        "exit-status, skip, check, requires, prose-only"
    ) in run.output
    assert (
        "docs/missing.md:3: timeout: it takes 1 word, not 0; write <!-- test: timeout SECONDS -->"
    ) in run.output
    assert_no_harness_frames(run)
    case.assert_nothing_lost_or_left()


def test_a_page_with_nothing_to_run_that_is_not_marked_prose_only_stops_the_run(case):
    case.site.page("prose.md", "# Only prose\n\nNothing here runs.\n\n```\nan illustration\n```\n")

    run = case.site.run()

    assert run.status == INTERRUPTED, run.output
    assert (
        "docs/prose.md:1: docs/prose.md has no block to run; add one or mark it "
        '<!-- test: prose-only reason="..." -->'
    ) in run.output
    assert_no_harness_frames(run)
    case.assert_nothing_lost_or_left()


def test_an_engine_that_stops_between_pages_fails_the_next_page_at_once_with_one_line(case):
    forwarder_socket = case.site.tmp.parent / f"{case.token}.sock"
    forwarder = subprocess.Popen(
        [sys.executable, "-m", "tests.faults.forward", str(forwarder_socket), engine_socket()],
        cwd=Path(__file__).resolve().parents[1],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert forwarder.stdout.readline() == "listening\n"
        case.site.extra["forwarder"] = forwarder.pid
        case.site.page(
            "first.md",
            """
            # The last page the engine answers

            ```bash
            docker version > /dev/null && echo the engine answers
            ```

            ```bash
            kill {{ forwarder }}
            ```
            """,
        )
        case.site.page(
            "second.md",
            """
            # The engine has gone

            ```bash
            docker run --rm {{ image }} true
            ```

            ```bash
            echo the second block
            ```
            """,
        )

        run = case.site.run(DOCKER_HOST=f"unix://{forwarder_socket}")
    finally:
        forwarder.kill()
        forwarder.wait()
        forwarder_socket.unlink(missing_ok=True)

    assert run.status == FAILED, run.output
    assert "docs/first.md .." in run.output
    errors = [line for line in run.output.splitlines() if line.startswith("ERROR docs/second.md")]
    assert len(errors) == 2, run.output
    engine_line = f"no Docker engine answers at unix://{forwarder_socket}"
    assert run.output.count(engine_line) >= 2, run.output
    assert "start it (on Debian: sudo provision/engine.sh)" in run.output
    assert run.seconds < 15, f"the run took {run.seconds:.0f} s"
    assert_no_harness_frames(run)
    case.assert_nothing_lost_or_left()


def engine_socket() -> str:
    address = os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")
    return address.removeprefix("unix://")


def test_an_output_block_that_does_not_match_shows_a_diff(case):
    case.site.page(
        "mismatch.md",
        """
        # Output that changed

        ```bash
        docker run --rm --name {{ token }}-echo {{ image }} echo hello from busybox
        ```

        ```text title="Output"
        hello from the course
        ```
        """,
    )

    run = case.site.run()

    assert run.status == FAILED, run.output
    text = report(run, "mismatch.md", 7)
    assert text.startswith(
        "docs/mismatch.md:7: the output of the command at line 3 does not match the page; "
    )
    assert "put a wildcard" in text
    lines = text.splitlines()
    assert "    -hello from the course" in lines
    assert "    +hello from busybox" in lines
    assert_no_harness_frames(run)
    case.assert_nothing_lost_or_left()


def test_commands_that_stray_from_the_scratch_project_fail_where_they_change_the_checkout(case):
    # What the harness can promise: it cannot stop a command from writing
    # wherever its user may, so the block (or the page, for its Python)
    # during which the checkout changed fails, naming the paths, and what
    # was written stays there for the contributor to see. What a command
    # writes beside the scratch project, after a `cd ..`, goes with the
    # page's temporary folder.
    site = case.site
    site.extra["checkout"] = str(site.root)
    site.app_file("app.txt", "the learner's file\n")
    site.page(
        "leaving.md",
        """
        # Commands that stray from the project

        ```bash
        cd - > /dev/null 2>&1; echo stray > where-cd-dash-leads.txt
        ```

        ```bash
        cd .. && echo stray > beside-the-project.txt && cd project
        ```

        ```bash
        cd {{ checkout }} && echo stray > stray.txt && echo more >> sample_app/app.txt
        ```

        ```bash
        echo never run
        ```
        """,
    )
    # A page's Python runs in the scratch project too, but in pytest's own
    # process, so nothing stops it from writing into the checkout by name.
    site.page(
        "python.md",
        """
        # Python that writes into the checkout

        ```python
        from pathlib import Path

        Path("CHECKOUT/written-by-python.txt").write_text("stray\\n")
        ```
        """.replace("CHECKOUT", str(site.root)),
    )
    site.page("after.md", "# The next page\n\n```bash\necho the next page runs\n```\n")
    site.write_config()
    git = ["git", "-c", "user.name=faults", "-c", "user.email=faults@example.invalid"]
    subprocess.run(["git", "init", "-q"], cwd=site.root, check=True)
    subprocess.run(["git", "add", "-A"], cwd=site.root, check=True)
    subprocess.run([*git, "commit", "-qm", "the sample site"], cwd=site.root, check=True)

    # Started from the checkout, as a contributor does, whose shell then
    # hands on an OLDPWD there: `cd -` must not lead a page into it.
    run = site.run(OLDPWD=str(site.root))

    assert run.status == FAILED, run.output
    text = report(run, "leaving.md", 11)
    assert text.startswith(
        f"docs/leaving.md:11: the checkout {site.root} changed while this block ran: "
        "sample_app/app.txt, stray.txt; "
    )
    assert "the harness does not undo the change" in text
    assert f"git -C {site.root} status" in text
    assert "SKIPPED [1] docs/leaving.md:15: not run: docs/leaving.md:11 failed before it" in (
        run.output
    )
    assert (
        f"docs/python.md: the checkout {site.root} changed while the page ran: "
        "written-by-python.txt; "
    ) in run.output
    assert "docs/after.md .  " in run.output, "the page after a reported one did not run"
    assert_no_harness_frames(run)
    case.assert_nothing_lost_or_left()


COURSE_DOCKERFILES = pytest.mark.parametrize("dockerfile", ["Dockerfile", "Dockerfile.multi"])

# What this machine trusts: Debian's bundle, and the certificates added to
# it here, such as an intercepting proxy's, which no public bundle holds.
MACHINE_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")
LOCAL_CERTIFICATES = Path("/usr/local/share/ca-certificates")
PEM_CERTIFICATE = re.compile(rb"-----BEGIN CERTIFICATE-----(.+?)-----END CERTIFICATE-----", re.S)
MACHINE_FILES = re.compile(
    r"(^|/)(pip\.conf|\.netrc|\.pypirc|\.env|ca-certificates\.crt|id_(rsa|ecdsa|ed25519)[^/]*"
    r"|[^/]*\.(pem|key|crt))$"
)
# What .dockerignore keeps out of the build context, anywhere in it.
IGNORED_IN_CONTEXT = re.compile(r"(^|/)(\.git|node_modules|__pycache__)(/|$)|\.(pyc|log)$")
PRIVATE_KEY = re.compile(rb"-----BEGIN ([A-Z]+ )?PRIVATE KEY-----")
SECRET_NAMES = re.compile(r"PROXY|TOKEN|SECRET|PASSWORD|AUTH", re.IGNORECASE)


@pytest.fixture(scope="module")
def course_images(api, tmp_path_factory):
    """Both Dockerfiles of sample_app/ built, under tags of their own, from a copy full of traps.

    The copy holds what a learner's folder may hold and .dockerignore must
    keep out: a git checkout with a token in its remote, bytecode, a log, a
    node_modules folder and a .env file, each carrying the same secret.
    """
    secret = f"course-faults-secret-{secrets.token_hex(8)}"
    context = tmp_path_factory.mktemp("course-images") / "simple-app"
    shutil.copytree(REPO / "sample_app", context, ignore=shutil.ignore_patterns("__pycache__"))
    traps = {
        ".git/config": f'[remote "origin"]\n\turl = https://x:{secret}@example.invalid/app.git\n',
        "__pycache__/main.cpython-311.pyc": secret,
        "debug.log": f"login token={secret}\n",
        "node_modules/left-pad/index.js": f"// {secret}\n",
        ".env": f"API_TOKEN={secret}\n",
    }
    for relative, text in traps.items():
        (context / relative).parent.mkdir(parents=True, exist_ok=True)
        (context / relative).write_text(text)

    tag = f"course-faults-app:{secrets.token_hex(4)}"
    built = {}
    try:
        for dockerfile in ("Dockerfile", "Dockerfile.multi"):
            built[dockerfile] = build(api, context, dockerfile, f"{tag}-{dockerfile.lower()}")
        yield CourseImages(context, secret, built)
    finally:
        for image in built.values():
            remove_built(api, image)


@dataclass(frozen=True)
class CourseImages:
    context: Path
    secret: str
    built: dict[str, Built]


def certificates_in(data: bytes) -> set[bytes]:
    """The PEM certificates in `data`, each as its base64 text without line breaks."""
    return {b"".join(body.split()) for body in PEM_CERTIFICATE.findall(data)}


def machine_certificates() -> set[bytes]:
    """Every certificate this machine trusts."""
    paths = [MACHINE_BUNDLE, *sorted(LOCAL_CERTIFICATES.glob("*.crt"))]
    return set().union(*(certificates_in(path.read_bytes()) for path in paths if path.is_file()))


def test_the_final_image_of_the_course_runs_its_app_as_a_user_who_is_not_root(api, course_images):
    image = course_images.built["Dockerfile.multi"]
    user = api.inspect_image(image.id)["Config"]["User"]
    assert user.split(":")[0] not in ("", "0", "root"), f"USER is {user!r}"

    container = api.create_container(image.id, name=f"course-faults-{secrets.token_hex(4)}")
    try:
        api.start(container)
        deadline = time.monotonic() + 30
        processes = []
        while not processes and time.monotonic() < deadline:
            top = api.top(container)
            processes = top.get("Processes") or []
            time.sleep(0.1)
        uid = top["Titles"].index("UID")
        assert processes, "the app did not start"
        assert [process[uid] for process in processes] == [user.split(":")[0]] * len(processes)
    finally:
        api.remove_container(container, force=True)


@COURSE_DOCKERFILES
def test_the_layers_a_course_dockerfile_adds_hold_nothing_of_the_machine_or_the_context(
    api, course_images, dockerfile, tmp_path
):
    base = base_image(REPO / "sample_app" / dockerfile)
    image = course_images.built[dockerfile]
    config = api.inspect_image(image.id)["Config"]
    workdir = config["WorkingDir"].rstrip("/") + "/"
    files = added_files(api, image.id, base, tmp_path)
    secret = course_images.secret.encode()
    certificates = machine_certificates()

    def found(condition) -> list[str]:
        return [str(file) for file in files if condition(file)]

    assert files, f"{dockerfile} adds no layer to {base}"
    assert found(lambda f: MACHINE_FILES.search(f.path)) == [], "files of the build machine"
    assert (
        found(
            lambda f: (
                f.path.startswith(workdir) and IGNORED_IN_CONTEXT.search(f.path[len(workdir) :])
            )
        )
        == []
    ), "files of the context that .dockerignore keeps out"
    assert found(lambda f: secret in f.data) == [], "the context's secret reached the image"
    assert found(lambda f: PRIVATE_KEY.search(f.data)) == [], "private keys"
    assert found(lambda f: certificates_in(f.data) & certificates) == [], "the machine's CAs"

    secret_settings = [v for v in config["Env"] if SECRET_NAMES.search(v.split("=")[0])]
    assert secret_settings == [], "the image's environment holds secrets"
    history = [step["CreatedBy"] for step in api.history(image.id)]
    leaks = [step for step in history if course_images.secret in step or "PROXY=" in step]
    assert leaks == [], "the image's history holds secrets"
