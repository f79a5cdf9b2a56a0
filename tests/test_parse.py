"""Parsing rendered pages: block kinds, directives, Verification, hints, and every error."""

from __future__ import annotations

import dataclasses
import re
import textwrap

import markdown
import pytest

from course.parse import Block, Directive, Page, PageError, parse_markdown, parse_page

FENCE = "```"


def parse(text: str) -> Page:
    """Parse a dedented sample page as docs/x.md."""
    return parse_markdown(textwrap.dedent(text), "x.md")


def page_error(text: str) -> PageError:
    """The PageError that parsing a dedented sample page as docs/x.md raises."""
    with pytest.raises(PageError) as caught:
        parse(text)
    return caught.value


def kinds(page: Page) -> list[str]:
    return [block.kind for block in page.blocks]


@pytest.mark.parametrize(
    ("fence", "kind", "language", "title"),
    [
        ("```bash", "shell", "bash", None),
        ("```sh", "shell", "sh", None),
        ("```shell", "shell", "shell", None),
        ("```python", "python", "python", None),
        ('```dockerfile title="Dockerfile"', "file", "dockerfile", "Dockerfile"),
        ('```python title="app/main.py"', "file", "python", "app/main.py"),
        (
            "```dockerfile title='Dockerfile.multi' linenums=\"1\"",
            "file",
            "dockerfile",
            "Dockerfile.multi",
        ),
        ('```{.dockerfile title="Dockerfile"}', "file", "dockerfile", "Dockerfile"),
        ("```text", "illustration", "text", None),
        ("```yaml", "illustration", "yaml", None),
        ("```", "illustration", "", None),
        ("~~~bash", "shell", "bash", None),
    ],
)
def test_a_fence_is_read_by_its_language_and_title(fence, kind, language, title):
    closing = fence[:3]
    page = parse(f"# T\n\n{fence}\ncontent\n{closing}\n\n{FENCE}bash\ntrue\n{FENCE}\n")

    block = page.blocks[0]
    assert (block.kind, block.language, block.title) == (kind, language, title)


def test_an_output_titled_fence_after_a_command_is_output():
    page = parse(
        f"""\
        {FENCE}bash
        echo hi
        {FENCE}

        {FENCE}text title="Output"
        hi
        {FENCE}
        """
    )

    assert kinds(page) == ["shell", "output"]
    assert page.blocks[1].text == "hi\n"


def test_a_block_keeps_its_text_exactly_and_its_opening_line():
    page = parse(
        f"""\
        # T

        Some prose.

        {FENCE}dockerfile title="Dockerfile"
        FROM x

          RUN y
        {FENCE}
        """
    )

    (block,) = page.blocks
    assert block.line == 5
    assert block.text == "FROM x\n\n  RUN y\n"


def test_a_block_knows_the_nearest_heading_above_it():
    page = parse(
        f"""\
        # Exercise

        ## Build the image

        ### Step one

        {FENCE}bash
        docker build .
        {FENCE}

        ## Run it

        {FENCE}bash
        docker run app
        {FENCE}
        """
    )

    assert [block.section for block in page.blocks] == ["Step one", "Run it"]


def test_a_fence_holding_fences_is_one_illustration_and_its_inner_fences_are_not_blocks():
    page = parse(
        f"""\
        ````markdown
        <!-- test: timeout 900 -->
        {FENCE}bash
        docker build .
        {FENCE}
        ````

        {FENCE}bash
        echo after
        {FENCE}
        """
    )

    assert kinds(page) == ["illustration", "shell"]
    assert page.blocks[0].text.count(FENCE) == 2
    assert page.blocks[1].directives == ()
    assert page.blocks[1].line == 8


def test_a_fence_in_a_numbered_step_is_a_block():
    page = parse(
        f"""\
        1. Build the image:

            {FENCE}bash
            docker build -t app .
            {FENCE}

        2. Run it.
        """
    )

    (block,) = page.blocks
    assert (block.kind, block.line, block.text) == ("shell", 3, "docker build -t app .\n")


@pytest.mark.parametrize("marker", ['!!! note "Before you start"', '=== "Linux"', "??? tip"])
def test_a_fence_in_an_admonition_or_content_tab_is_a_block(marker):
    page = parse(
        f"""\
        # T

        {marker}

            Run this:

            {FENCE}bash
            docker version
            {FENCE}

        After.
        """
    )

    (block,) = page.blocks
    assert (block.kind, block.line, block.text) == ("shell", 7, "docker version\n")


def test_a_fence_in_a_tab_inside_an_admonition_is_a_block():
    page = parse(
        f"""\
        !!! note

            === "macOS"

                {FENCE}bash
                uname
                {FENCE}
        """
    )

    (block,) = page.blocks
    assert (block.line, block.text) == (5, "uname\n")


@pytest.mark.parametrize(
    ("directive", "name", "args", "options"),
    [
        ("timeout 900", "timeout", ("900",), {}),
        (
            "wait-for url=http://localhost:8080/healthz timeout=30",
            "wait-for",
            (),
            {"url": "http://localhost:8080/healthz", "timeout": "30"},
        ),
        (
            'wait-for text="Serving on" timeout=30',
            "wait-for",
            (),
            {"text": "Serving on", "timeout": "30"},
        ),
        ("wait-for url=http://localhost:8080/", "wait-for", (), {"url": "http://localhost:8080/"}),
        ("exit-status 1", "exit-status", ("1",), {}),
        (
            'skip reason="installs into the reader\'s own Python"',
            "skip",
            (),
            {"reason": "installs into the reader's own Python"},
        ),
    ],
)
def test_a_next_block_directive_is_read_and_attached_to_the_next_block(
    directive, name, args, options
):
    page = parse(f"<!-- test: {directive} -->\n{FENCE}bash\nsleep 1\n{FENCE}\n")

    (block,) = page.blocks
    assert block.directives == (Directive(name, args, options, 1),)
    assert block.directive(name).options == options


def test_several_directives_in_a_row_all_attach_to_the_next_block():
    page = parse(
        f"""\
        <!-- test: timeout 60 -->
        <!-- test: exit-status 2 --> <!-- test: wait-for text=ready -->
        {FENCE}bash
        ./start.sh
        {FENCE}
        """
    )

    (block,) = page.blocks
    assert [(d.name, d.line) for d in block.directives] == [
        ("timeout", 1),
        ("exit-status", 2),
        ("wait-for", 2),
    ]


def test_a_directive_applies_to_the_next_fence_even_with_prose_between():
    page = parse(f"<!-- test: timeout 5 -->\n\nSome words.\n\n{FENCE}bash\ntrue\n{FENCE}\n")

    assert page.blocks[0].directive("timeout").args == ("5",)


def test_html_comments_that_are_not_directives_are_ignored():
    page = parse(
        f"<!-- a note for editors -->\n<!-- editor: reword -->\n{FENCE}bash\ntrue\n{FENCE}\n"
    )

    assert page.blocks[0].directives == ()


def test_a_directive_inside_a_paragraph_gets_its_own_line():
    page = parse(
        f"First line\nsecond line <!-- test: timeout 7 -->\n\n{FENCE}bash\ntrue\n{FENCE}\n"
    )

    assert page.blocks[0].directive("timeout").line == 2


def test_a_check_is_its_own_block_in_page_order():
    page = parse(
        f"""\
        {FENCE}bash
        docker build -t app:0.2.0 .
        {FENCE}

        <!-- test: check image-smaller app:0.2.0 than=app:0.1.0 -->
        {FENCE}bash
        docker images
        {FENCE}
        """
    )

    assert kinds(page) == ["shell", "check", "shell"]
    check = page.blocks[1]
    assert check.line == 5
    assert check.directives == (
        Directive("check", ("image-smaller", "app:0.2.0"), {"than": "app:0.1.0"}, 5),
    )
    assert page.blocks[2].directives == ()


def test_requires_and_prose_only_belong_to_the_page():
    page = parse(
        """\
        <!-- test: requires exercise-1.md -->
        <!-- test: requires exercise-2.md -->
        <!-- test: prose-only reason="the course's overview" -->
        # Overview
        """
    )

    assert page.requires == ("exercise-1.md", "exercise-2.md")
    assert page.prose_only == "the course's overview"
    assert page.blocks == ()


def test_an_unknown_directive_is_an_error_naming_it_and_the_known_ones():
    error = page_error(f"# T\n\n<!-- test: tiemout 5 -->\n{FENCE}bash\ntrue\n{FENCE}\n")

    assert str(error).startswith("docs/x.md:3: ")
    assert "'tiemout'" in str(error)
    assert "timeout, wait-for, exit-status, skip, check, requires, prose-only" in str(error)
    assert (error.location, error.line) == ("docs/x.md", 3)


@pytest.mark.parametrize("comment", ["<!-- tests: timeout 5 -->", "<!-- Test: timeout 5 -->"])
def test_a_misspelt_directive_prefix_is_an_error(comment):
    error = page_error(f"{comment}\n{FENCE}bash\ntrue\n{FENCE}\n")

    assert str(error).startswith("docs/x.md:1: write a directive as <!-- test: NAME ARGS -->")


@pytest.mark.parametrize(
    ("directive", "problem", "form"),
    [
        ("", "an empty directive", None),
        ("timeout", "takes 1 word, not 0", "timeout SECONDS"),
        ("timeout 0", "'0' is not a positive number", "timeout SECONDS"),
        ("timeout soon", "'soon' is not a positive number", "timeout SECONDS"),
        ("timeout 5 6", "takes 1 word, not 2", "timeout SECONDS"),
        ("timeout 5 reason=x", "takes no reason=", "timeout SECONDS"),
        ("wait-for", "needs one of url= or text=", "wait-for url=URL"),
        ("wait-for url=http://a text=b", "needs one of url= or text=", "wait-for url=URL"),
        ("wait-for url=localhost:8080", "must start with http://", "wait-for url=URL"),
        ('wait-for text=""', "text= must not be empty", "wait-for url=URL"),
        ("wait-for url=http://a timeout=-1", "'-1' is not a positive number", "wait-for url=URL"),
        ("wait-for http://a", "takes 0 words, not 1", "wait-for url=URL"),
        ("exit-status", "takes 1 word, not 0", "exit-status N"),
        ("exit-status one", "'one' is not an exit status", "exit-status N"),
        ("exit-status 256", "'256' is not an exit status", "exit-status N"),
        ("skip", "needs a reason=", "skip reason="),
        ('skip reason=""', "needs a reason=", "skip reason="),
        ('skip reason="  "', "needs a reason=", "skip reason="),
        ("skip because", "takes 0 words, not 1", "skip reason="),
        ("check", "needs the name of a check", "check NAME"),
        ("check Image-Smaller", "needs the name of a check", "check NAME"),
        ("check image-exists app hint=", "hint= must name a heading", "check NAME"),
        ("requires", "takes 1 word, not 0", "requires PAGE.md"),
        ("requires exercise-1", "is not a page", "requires PAGE.md"),
        ("prose-only", "needs a reason=", "prose-only reason="),
        ("timeout 5 timeout=6 timeout=7", "timeout= is given twice", "timeout SECONDS"),
        ('skip reason="unclosed', "cannot read this directive", None),
    ],
)
def test_a_directive_written_wrongly_says_what_is_wrong_and_the_right_form(
    directive, problem, form
):
    error = page_error(f"# T\n\n<!-- test: {directive} -->\n{FENCE}bash\ntrue\n{FENCE}\n")

    assert str(error).startswith("docs/x.md:3: ")
    assert problem in str(error)
    if form is not None:
        assert f"write <!-- test: {form}" in str(error)


def test_a_next_block_directive_with_no_fence_after_it_is_an_error():
    error = page_error(f"{FENCE}bash\ntrue\n{FENCE}\n\n<!-- test: timeout 5 -->\n")

    assert str(error).startswith("docs/x.md:5: timeout applies to the next fenced block")
    assert "move it just above the block it is for" in str(error)


@pytest.mark.parametrize(
    ("directive", "fence", "kind"),
    [
        ("skip reason=later", "```text", "an illustration"),
        ("timeout 5", '```dockerfile title="Dockerfile"', "a file"),
        ("exit-status 1", "```python", "a python"),
    ],
)
def test_a_directive_before_a_block_it_cannot_apply_to_is_an_error(directive, fence, kind):
    error = page_error(f"<!-- test: {directive} -->\n{fence}\nx\n```\n\n```bash\ntrue\n```\n")

    assert str(error).startswith("docs/x.md:1: ")
    assert f"the next block (line 2) is {kind} block" in str(error)
    assert "move the directive to the block it is for" in str(error)


def test_the_same_directive_twice_on_one_block_is_an_error():
    error = page_error(
        f"<!-- test: timeout 5 -->\n<!-- test: timeout 6 -->\n{FENCE}bash\ntrue\n{FENCE}\n"
    )

    assert str(error).startswith("docs/x.md:2: a second timeout for the block at line 3")


def test_a_page_with_nothing_to_run_is_an_error_saying_how_to_mark_it():
    error = page_error(f"# Overview\n\n{FENCE}text\njust a picture\n{FENCE}\n")

    assert str(error) == (
        "docs/x.md:1: docs/x.md has no block to run; add one or mark it "
        '<!-- test: prose-only reason="..." -->'
    )


def test_a_page_marked_prose_only_with_a_command_is_an_error():
    error = page_error(f'<!-- test: prose-only reason="none" -->\n\n{FENCE}bash\ntrue\n{FENCE}\n')

    assert str(error).startswith("docs/x.md:1: the page is marked prose-only but has a bash block")
    assert "remove the mark or the block" in str(error)


@pytest.mark.parametrize(
    ("before", "follows"),
    [
        ("", "nothing"),
        ('```dockerfile title="Dockerfile"\nFROM x\n```\n\n', "a file block (line 1)"),
    ],
)
def test_an_output_block_not_after_a_command_is_an_error(before, follows):
    text = f'{before}```text title="Output"\nhi\n```\n'
    line = text.split("\n").index('```text title="Output"') + 1

    error = page_error(text)

    assert str(error).startswith(f"docs/x.md:{line}: an Output block shows what the bash block")
    assert f"it follows {follows}; put it right after its command" in str(error)


def test_an_illustration_between_a_command_and_its_output_is_allowed():
    page = parse(
        f"""\
        {FENCE}bash
        echo hi
        {FENCE}

        {FENCE}text
        a note
        {FENCE}

        {FENCE}text title="Output"
        hi
        {FENCE}
        """
    )

    assert kinds(page) == ["shell", "illustration", "output"]


def test_the_output_of_a_skipped_command_must_be_skipped_too():
    error = page_error(
        f'<!-- test: skip reason="slow" -->\n{FENCE}bash\nsleep 1\n{FENCE}\n\n'
        f'{FENCE}text title="Output"\nhi\n{FENCE}\n'
    )

    assert str(error).startswith("docs/x.md:6: the command before this output (line 2) is skipped")


@pytest.mark.parametrize(
    ("text", "line"),
    [
        (f"# T\n\n{FENCE}bash\ntrue\n\n## Next\n\nMore.\n", 3),
        (f"# T\n\n{FENCE}bash\n", 3),
        (f"- step\n\n  {FENCE}bash\n  true\n- next step\n", 3),
        (f"````markdown\n{FENCE}bash\ntrue\n{FENCE}\n", 1),
    ],
    ids=["at the end of the page", "on the last line", "in a list item", "holding a fence"],
)
def test_an_unclosed_fence_is_an_error_at_the_line_it_opens(text, line):
    error = page_error(text)

    assert str(error).startswith(f"docs/x.md:{line}: this fence (")
    assert "is never closed" in str(error)


def test_a_fence_indented_as_code_is_an_error():
    error = page_error(f"# T\n\n    {FENCE}bash\n    docker ps\n    {FENCE}\n")

    assert str(error).startswith("docs/x.md:3: this fence is indented as code")


def test_fence_options_the_site_would_not_read_are_an_error():
    error = page_error(f"{FENCE}dockerfile title=Dockerfile\nFROM x\n{FENCE}\n")

    assert str(error).startswith("docs/x.md:1: the site would not read this fence's options")
    assert 'key="value"' in str(error)


@pytest.mark.parametrize("title", ["/etc/hosts", "../outside.txt", "my file.txt"])
def test_a_file_block_title_must_be_a_relative_path_in_the_project(title):
    error = page_error(f'{FENCE}text title="{title}"\nx\n{FENCE}\n')

    assert str(error).startswith(f'docs/x.md:1: title="{title}" must be the path of the file')


VERIFIED_PAGE = f"""\
# Exercise 2

{FENCE}bash
docker build -t app:0.2.0 .
{FENCE}

## Verification

- `app:0.2.0` is **smaller** than `app:0.1.0`.
  <!-- test: check image-smaller app:0.2.0 than=app:0.1.0 hint=cache-not-used -->
- The image runs as a user other than root.

  <!-- test: check image-user app:0.2.0 not=root -->
  <!-- test: check image-exists app:0.2.0 -->

## Common issues

### Cache not used

Docker rebuilt every layer: copy `requirements.txt` before the code.

More advice that is not the first paragraph.

### `pip` cannot reach the index

Check the proxy.
"""


def test_each_verification_bullet_has_its_text_line_and_checks():
    page = parse(VERIFIED_PAGE)

    first, second = page.verification
    assert first.text == "app:0.2.0 is smaller than app:0.1.0."
    assert first.line == 9
    assert [(c.args, dict(c.options)) for c in first.checks] == [
        (("image-smaller", "app:0.2.0"), {"than": "app:0.1.0", "hint": "cache-not-used"}),
    ]
    assert second.text == "The image runs as a user other than root."
    assert [c.args[0] for c in second.checks] == ["image-user", "image-exists"]
    assert [c.line for c in second.checks] == [13, 14]


def test_verification_checks_also_run_where_they_stand():
    page = parse(VERIFIED_PAGE)

    checks = [block for block in page.blocks if block.kind == "check"]
    assert [block.line for block in checks] == [10, 13, 14]
    assert {block.section for block in checks} == {"Verification"}
    assert [b.directives[0] for b in checks] == [
        c for bullet in page.verification for c in bullet.checks
    ]


def test_hints_map_each_common_issue_anchor_to_its_first_paragraph():
    page = parse(VERIFIED_PAGE)

    assert dict(page.hints) == {
        "cache-not-used": "Docker rebuilt every layer: copy requirements.txt before the code.",
        "pip-cannot-reach-the-index": "Check the proxy.",
    }


def test_a_verification_bullet_without_a_check_is_an_error():
    error = page_error(
        f"{FENCE}bash\ntrue\n{FENCE}\n\n## Verification\n\n- It works.\n- It is fast.\n"
    )

    assert str(error).startswith("docs/x.md:7: this Verification bullet has no check;")
    assert "<!-- test: check NAME ARGS -->" in str(error)


def test_a_hint_naming_no_common_issue_is_an_error_listing_those_there():
    text = VERIFIED_PAGE.replace("hint=cache-not-used", "hint=cache-unused")

    error = page_error(text)

    assert str(error).startswith("docs/x.md:10: hint=cache-unused names no heading")
    assert "headings there: cache-not-used, pip-cannot-reach-the-index" in str(error)


@pytest.mark.parametrize(
    "heading",
    [
        "Cache not used",
        "`docker` isn't found!",
        "Port 8080 is already in use (again)",
        "Déjà vu: the image exists",
        "Cache not used",
    ],
)
def test_hint_anchors_are_the_ids_python_markdown_gives_headings(heading):
    text = f"## Common issues\n\n### Cache not used\n\nFirst.\n\n### {heading}\n\nSecond.\n"
    html = markdown.markdown(text, extensions=["toc"])
    ids = re.findall(r'<h3 id="([^"]+)"', html)

    page = parse(f"{FENCE}bash\ntrue\n{FENCE}\n\n{text}")

    assert list(page.hints) == ids


def test_an_explicit_heading_id_is_the_hint_anchor():
    page = parse(
        f"{FENCE}bash\ntrue\n{FENCE}\n\n## Common issues\n\n### The cache {{ #cache }}\n\nFix.\n"
    )

    assert dict(page.hints) == {"cache": "Fix."}


def test_lines_come_from_the_line_map_and_macro_lines_mark_blocks_from_macros():
    text = textwrap.dedent(
        f"""\
        # T

        {FENCE}dockerfile title="Dockerfile"
        FROM x
        {FENCE}

        {FENCE}bash
        docker build .
        {FENCE}
        """
    )
    line_map = (4, 5, 7, 7, 7, 8, 9, 10, 11, 12)
    rendered = FakeRendered("x.md", "docs/x.md", text, line_map, frozenset({7}))

    page = parse_page(rendered)

    assert [(b.kind, b.line, b.from_macro) for b in page.blocks] == [
        ("file", 7, True),
        ("shell", 9, False),
    ]


def test_records_are_immutable_and_can_be_hashed():
    page = parse(VERIFIED_PAGE)
    block = page.blocks[1]

    with pytest.raises(dataclasses.FrozenInstanceError):
        block.line = 1
    with pytest.raises(TypeError):
        block.directives[0].options["hint"] = "other"
    with pytest.raises(TypeError):
        page.hints["x"] = "y"
    assert isinstance(page.blocks, tuple) and isinstance(page.verification, tuple)
    assert len({block, page.blocks[1]}) == 1
    assert hash(page) == hash(parse(VERIFIED_PAGE))


def test_a_block_returns_none_for_a_directive_it_does_not_have():
    block = Block("shell", "bash", 1, "true\n")

    assert block.directive("timeout") is None


@dataclasses.dataclass(frozen=True)
class FakeRendered:
    """The fields of a RenderedPage that parsing reads."""

    path: str
    location: str
    text: str
    line_map: tuple[int, ...]
    macro_lines: frozenset[int]
