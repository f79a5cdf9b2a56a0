"""The benchmark's pure parts: pages as plain scripts, build output, context sizes, the table.

The benchmark itself needs minutes and a Docker engine, so it is not run
here; `python -m bench` runs it. These tests run bash and curl, nothing else.
"""

from __future__ import annotations

import http.server
import socket
import subprocess
import tarfile
import threading
from pathlib import Path

import pytest

from bench.build import context_bytes, parse_steps
from bench.cache import dependency_steps
from bench.context import needed_files, tar_bytes
from bench.projects import CONFIG, SAMPLE_APP
from bench.report import Figure, Section, human_bytes, table
from bench.script import heredoc_marker, named_objects, page_script
from course.parse import parse_markdown, parse_page
from course.render import nav_pages, render_pages

FENCE = "```"


def page(*parts: str):
    """A page made of the Markdown `parts`, joined by blank lines."""
    return parse_markdown("\n\n".join(parts) + "\n", "sample.md")


def bash(*lines: str) -> str:
    return "\n".join([f"{FENCE}bash", *lines, FENCE])


def output(*lines: str) -> str:
    return "\n".join([f'{FENCE}text title="Output"', *lines, FENCE])


def run_script(script: str, folder: Path) -> subprocess.CompletedProcess:
    script_file = folder.parent / f"{folder.name}.sh"
    script_file.write_text(script)
    return subprocess.run(
        ["bash", "--noprofile", "--norc", str(script_file)],
        cwd=folder,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=30,
    )


@pytest.fixture
def project(tmp_path) -> Path:
    """An empty project folder for a script to run in."""
    folder = tmp_path / "project"
    folder.mkdir()
    return folder


def test_bash_block_runs_as_it_stands_and_its_output_block_is_not_compared(project):
    script = page_script(page(bash("echo hello > greeting.txt"), output("something else")))

    done = run_script(script, project)

    assert done.returncode == 0, done.stderr
    assert (project / "greeting.txt").read_text() == "hello\n"
    assert "something else" not in script


def test_a_failing_block_stops_the_script_naming_its_page_and_line(project):
    sample = page(bash("false"), bash("touch not-reached"))

    done = run_script(page_script(sample), project)

    assert done.returncode == 1
    assert "docs/sample.md:1 exited with status 1, not 0" in done.stderr
    assert not (project / "not-reached").exists()


def test_exit_status_directive_makes_that_status_the_expected_one(project):
    sample = page("<!-- test: exit-status 3 -->\n" + bash("(exit 3)"), bash("touch reached"))

    done = run_script(page_script(sample), project)

    assert done.returncode == 0, done.stderr
    assert (project / "reached").exists()


def test_file_block_is_written_byte_for_byte_however_shell_like_it_looks(project):
    text = 'echo "$HOME" `id` $(date)\n\\n\nBENCH_FILE\nlast line\n'
    sample = page(f'{FENCE}sh title="tools/run.sh"\n{text}{FENCE}')

    done = run_script(page_script(sample), project)

    assert done.returncode == 0, done.stderr
    assert (project / "tools" / "run.sh").read_text() == text


def test_skipped_block_is_left_out_as_the_harness_leaves_it_out(project):
    skipped = '<!-- test: skip reason="an alternative" -->\n' + bash("touch skipped")
    sample = page(bash("touch ran"), skipped)

    done = run_script(page_script(sample), project)

    assert done.returncode == 0, done.stderr
    assert sorted(path.name for path in project.iterdir()) == ["ran"]


def test_python_fence_of_the_page_is_run_by_python(project):
    sample = page(f"{FENCE}python\nopen('made-by-python', 'w').write('yes')\n{FENCE}")

    done = run_script(page_script(sample).replace("python -", "python3 -"), project)

    assert done.returncode == 0, done.stderr
    assert (project / "made-by-python").read_text() == "yes"


def test_wait_for_text_runs_the_block_again_until_its_output_holds_it(project):
    counting = 'echo x >> runs; [ "$(wc -l < runs)" -ge 2 ] && echo ready || echo starting'
    sample = page("<!-- test: wait-for text=ready timeout=10 -->\n" + bash(counting))

    done = run_script(page_script(sample), project)

    assert done.returncode == 0, done.stderr
    assert (project / "runs").read_text() == "x\nx\n"
    assert done.stdout.strip() == "ready"


def test_wait_for_url_waits_until_the_url_answers(project):
    server = http.server.HTTPServer(("127.0.0.1", 0), http.server.SimpleHTTPRequestHandler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_port}/"
    sample = page(f"<!-- test: wait-for url={url} timeout=5 -->\n" + bash("touch after-wait"))

    try:
        done = run_script(page_script(sample), project)
    finally:
        server.shutdown()

    assert done.returncode == 0, done.stderr
    assert (project / "after-wait").exists()


def test_wait_for_url_that_never_answers_stops_the_script(project):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"http://127.0.0.1:{port}/"
    sample = page(f"<!-- test: wait-for url={url} timeout=1 -->\n" + bash("touch not-reached"))

    done = run_script(page_script(sample), project)

    assert done.returncode == 1
    assert f"{url} did not answer within 1 s" in done.stderr
    assert not (project / "not-reached").exists()


def test_heredoc_marker_is_no_line_of_the_text():
    assert heredoc_marker("a\nEOF\nEOF_1\n", "EOF") == "EOF_2"
    assert heredoc_marker("a EOF\n", "EOF") == "EOF"


def test_named_objects_come_from_run_build_tag_and_pull():
    sample = page(
        bash("docker build -f Dockerfile.multi -t simple-app:0.2.0 ."),
        bash("docker run -d --name web -p 8080:8080 simple-app:0.2.0"),
        bash("docker container run --rm --name=probe alpine true"),
        bash("docker tag simple-app:0.2.0 localhost:5000/simple-app:0.2.0"),
        bash("docker pull registry:2"),
        '<!-- test: skip reason="an alternative" -->\n' + bash("docker run --name skipped x"),
    )

    named = named_objects([sample])

    assert named.containers == ("web", "probe")
    assert named.images == (
        "simple-app:0.2.0",
        "localhost:5000/simple-app:0.2.0",
        "registry:2",
    )


@pytest.fixture(scope="module")
def course_pages() -> dict:
    """Every page of the course, rendered and parsed once for this module."""
    return {rendered.path: parse_page(rendered) for rendered in render_pages(CONFIG)}


@pytest.mark.parametrize("name", nav_pages(CONFIG))
def test_every_page_of_the_course_becomes_a_script_bash_can_read(name, course_pages, tmp_path):
    script = tmp_path / "page.sh"
    script.write_text(page_script(course_pages[name]))

    checked = subprocess.run(["bash", "-n", str(script)], capture_output=True, text=True)

    assert checked.returncode == 0, checked.stderr


LEGACY_BUILD = """\
Sending build context to Docker daemon  8.704kB
Step 1/4 : FROM python:3.11-slim-bookworm AS runtime
 ---> cb9a205bce68
Step 2/4 : RUN useradd app
 ---> Using cache
 ---> 7210cc35be29
Step 3/4 : COPY main.py .
 ---> 8da12e3f19dd
Step 4/4 : CMD ["python", "main.py"]
 ---> Running in 0a1b2c3d4e5f
Removing intermediate container 0a1b2c3d4e5f
 ---> f3e100965e36
Successfully built f3e100965e36
Successfully tagged simple-app:0.2.0
Successfully tagged simple-app:latest
"""


def test_legacy_build_output_gives_steps_cache_hits_and_context_size():
    steps = parse_steps(LEGACY_BUILD)

    assert [(s.number, s.cached, s.image) for s in steps] == [
        (1, False, "cb9a205bce68"),
        (2, True, "7210cc35be29"),
        (3, False, "8da12e3f19dd"),
        (4, False, "f3e100965e36"),
    ]
    assert context_bytes(LEGACY_BUILD) == 8704


def test_dependency_steps_are_those_before_the_code_is_copied():
    steps = parse_steps(LEGACY_BUILD)

    assert [step.instruction for step in dependency_steps(steps, "main.py")] == ["RUN useradd app"]


def test_needed_files_are_the_copy_sources_that_come_from_the_context():
    assert needed_files(SAMPLE_APP / "Dockerfile.multi") == ["requirements.txt", "main.py"]


def test_context_size_is_that_of_a_tar_without_record_padding(tmp_path):
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "a.txt").write_text("a" * 513)
    (tmp_path / "b.txt").write_text("")
    entries = ["b.txt", "sub", "sub/a.txt"]
    archive = tmp_path.parent / "context.tar"
    with tarfile.open(archive, "w", format=tarfile.USTAR_FORMAT) as tar:
        for entry in entries:
            tar.add(tmp_path / entry, arcname=entry, recursive=False)
    # Python pads the archive to a 10240-byte record; the docker CLI does not.
    unpadded = archive.read_bytes().rstrip(b"\0")

    assert tar_bytes(tmp_path, entries) == -(-len(unpadded) // 512) * 512 + 1024


def test_a_missed_target_is_shown_and_listed_at_the_end():
    section = Section(1, "overhead")
    section.add(
        Figure("full run: harness / plain", 1.12, "x", 1.05),
        Figure("one page: harness / plain", 1.04, "x", 1.10),
    )

    printed = table([section])

    rows = {line.split(":")[0].strip(): line.split() for line in printed.splitlines()}
    assert rows["full run"][-4:] == ["1.120", "≤", "1.05", "MISS"]
    assert rows["one page"][-4:] == ["1.040", "≤", "1.1", "PASS"]
    assert printed.count("MISSED 1 of 2 targets: 1. full run: harness / plain") == 1


def test_a_figure_that_could_not_be_measured_is_a_miss_with_its_reason():
    section = Section(3, "cache reuse")
    section.failed([("rebuild / cold", "x", 0.2)], "the cold build exited with status 1")

    printed = table([section])

    assert "MISS" in printed
    assert "Not measured: the cold build exited with status 1" in printed


def test_bytes_are_shown_in_decimal_units_as_docker_shows_them():
    assert [human_bytes(n) for n in (999, 8704, 134_972_333, 1_020_000_000)] == [
        "999 B",
        "8.704 kB",
        "135 MB",
        "1.02 GB",
    ]
