"""Bad input, case by case: every problem is reported at its file and line with a hint, and nothing is lost.

Each case breaks a private copy of the shipped content in one way, then runs the command line
in-process (`check`, and `build` into a folder holding a previous good build). Both must exit 1
with no exception escaping, name the offending file and the line to look at (computed from the text
the case wrote), print a hint under the error, and leave the previous outputs byte-identical with no
temporary file behind. The line numbers are computed from the broken text, never written down by hand.
"""

from __future__ import annotations

import errno
import importlib
import re
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from generator import build as pipeline
from generator import mathrender, reader
from generator.cli import cli
from generator.errors import OutputError
from tests.conftest import break_writer, digests, line_of, note_file, studykit


def last_line(text: str) -> int:
    return len(text.splitlines())


def replace_line(text: str, prefix: str, new: str | None) -> str:
    """Replace (or, with None, delete) the first line starting with `prefix`."""
    pattern = rf"(?m)^{re.escape(prefix)}.*\n"
    assert re.search(pattern, text), prefix
    return re.sub(pattern, "" if new is None else new + "\n", text, count=1)


@dataclass(frozen=True)
class Expected:
    """Where the error must point: a file, the line in it (None for a folder-level problem), and what it says."""

    path: Path
    line: int | None
    message: str


Breaker = Callable[[Path], Expected]
CASES: dict[str, Breaker] = {}


def case(function: Breaker) -> Breaker:
    CASES[function.__name__.replace("_", " ")] = function
    return function


def rewrite(content: Path, number: int, change: Callable[[str], str]) -> tuple[Path, str]:
    path = note_file(content, number)
    text = change(path.read_text(encoding="utf-8"))
    path.write_text(text, encoding="utf-8")
    return path, text


# --- front matter ---------------------------------------------------------------------------------


@case
def yaml_unquoted_colon(content: Path) -> Expected:
    path, text = rewrite(content, 51, lambda t: replace_line(t, "question:", "question: Fine-tuning: what is it?"))
    return Expected(path, line_of(text, "question:"), "invalid YAML")


@case
def yaml_unclosed_bracket(content: Path) -> Expected:
    path, text = rewrite(content, 52, lambda t: replace_line(t, "tags:", "tags: [detection, cnn"))
    return Expected(path, line_of(text, "tags:"), "invalid YAML")


@case
def missing_id(content: Path) -> Expected:
    path, text = rewrite(content, 53, lambda t: replace_line(t, "id:", None))
    return Expected(path, line_of(text, "---"), "`id` is missing")


@case
def empty_id(content: Path) -> Expected:
    path, text = rewrite(content, 54, lambda t: replace_line(t, "id:", "id:"))
    return Expected(path, line_of(text, "id:"), "`id` is empty")


@case
def missing_number(content: Path) -> Expected:
    path, text = rewrite(content, 55, lambda t: replace_line(t, "number:", None))
    return Expected(path, line_of(text, "---"), "`number` is missing")


@case
def number_not_an_integer(content: Path) -> Expected:
    path, text = rewrite(content, 56, lambda t: replace_line(t, "number:", "number: fifty"))
    return Expected(path, line_of(text, "number: fifty"), "not a positive whole number")


@case
def missing_question(content: Path) -> Expected:
    path, text = rewrite(content, 54, lambda t: replace_line(t, "question:", None))
    return Expected(path, line_of(text, "---"), "`question` is missing")


@case
def tags_holding_a_mapping(content: Path) -> Expected:
    # `[oops: a, b]` is a list whose first item is a mapping: YAML reads it, the check does not take it.
    path, text = rewrite(content, 55, lambda t: re.sub(r"(?m)^tags: \[", "tags: [oops: ", t, count=1))
    return Expected(path, line_of(text, "tags: [oops: "), "`tags` must be a list")


@case
def no_front_matter(content: Path) -> Expected:
    path, _ = rewrite(content, 56, lambda t: t.split("---", 2)[2])
    return Expected(path, 1, "no front matter")


@case
def empty_question(content: Path) -> Expected:
    path, text = rewrite(content, 57, lambda t: replace_line(t, "question:", "question:   "))
    return Expected(path, line_of(text, "question:"), "`question` is empty")


@case
def tags_not_a_list(content: Path) -> Expected:
    path, text = rewrite(content, 58, lambda t: replace_line(t, "tags:", "tags: {topic: optimisation}"))
    return Expected(path, line_of(text, "tags:"), "`tags` must be a list")


@case
def front_matter_never_closes(content: Path) -> Expected:
    # Without its closing `---` (and with no other `---` line below) the front matter runs to the end of the file.
    def unclose(text: str) -> str:
        front, body = text.split("\n---\n", 1)
        assert "\n---" not in body and "\n..." not in body
        return front + "\n" + body

    path, text = rewrite(content, 59, unclose)
    return Expected(path, line_of(text, "---"), "front matter never closed")


# --- sections -------------------------------------------------------------------------------------


@case
def empty_key_points(content: Path) -> Expected:
    path, text = rewrite(
        content, 60, lambda t: re.sub(r"(?s)## Key points\n.*?(?=## Full answer)", "## Key points\n\n", t, count=1)
    )
    return Expected(path, line_of(text, "## Key points"), "`## Key points` is empty")


@case
def missing_full_answer(content: Path) -> Expected:
    path, text = rewrite(content, 61, lambda t: t[: t.index("## Full answer")])
    return Expected(path, last_line(text), "`## Full answer` is missing")


@case
def key_points_after_full_answer(content: Path) -> Expected:
    def swap(text: str) -> str:
        head, rest = text.split("## Key points\n", 1)
        key_points, answer = rest.split("## Full answer\n", 1)
        return f"{head}## Full answer\n{answer.rstrip()}\n\n## Key points\n{key_points}"

    path, text = rewrite(content, 62, swap)
    return Expected(path, line_of(text, "## Key points"), "must come before")


@case
def unexpected_section(content: Path) -> Expected:
    path, text = rewrite(content, 57, lambda t: t.replace("## Key points", "## Summary", 1))
    return Expected(path, line_of(text, "## Summary"), "unexpected section")


@case
def key_points_headed_in_english_and_in_chinese(content: Path) -> Expected:
    path, text = rewrite(content, 58, lambda t: t.replace("## Full answer", "## 要点\n\n- again\n\n## Full answer", 1))
    return Expected(path, line_of(text, "## 要点"), "appears twice")


# --- math -----------------------------------------------------------------------------------------


def add_to_answer(paragraph: str) -> Callable[[str], str]:
    return lambda text: text.replace("## Full answer\n", f"## Full answer\n\n{paragraph}\n", 1)


@case
def unclosed_dollar(content: Path) -> Expected:
    path, text = rewrite(content, 63, add_to_answer("The cost is $x + y for every sample."))
    return Expected(path, line_of(text, "The cost is $x"), "never closes")


@case
def unclosed_display_math(content: Path) -> Expected:
    # An opening `$$` with no closing one: the line to show is the `$$` itself, not the paragraph before it.
    path, text = rewrite(content, 64, add_to_answer("Consider this.\n\n$$\nz = x + y\n\nThat is all."))
    return Expected(path, line_of(text, "$$\nz = x + y"), "never closes")


@case
def formula_fails_to_render(content: Path) -> Expected:
    path, text = rewrite(content, 65, add_to_answer("A superscript with no base nor exponent: $x^$ here."))
    return Expected(path, line_of(text, "A superscript with no base"), "formula does not render")


@case
def formula_with_an_unclosed_brace(content: Path) -> Expected:
    path, text = rewrite(content, 59, add_to_answer("A bad one: $x^{2$."))
    return Expected(path, line_of(text, "A bad one"), "formula does not render")


@case
def unknown_latex_command(content: Path) -> Expected:
    path, text = rewrite(content, 51, lambda t: t.replace("## Key points\n", "## Key points\n\n- $\\nosuchthing x$", 1))
    return Expected(path, line_of(text, "\\nosuchthing"), "Undefined control sequence \\nosuchthing")


@case
def bar_inside_math_in_a_table(content: Path) -> Expected:
    # Markdown splits table cells at every `|`, formulas included: `$|x|$` would silently vanish.
    table = "| value | magnitude |\n| --- | --- |\n| $x$ | $|x|$ |"
    path, text = rewrite(content, 52, add_to_answer(table))
    return Expected(path, line_of(text, "| $x$ | $|x|$ |"), "splits this table cell")


# --- files ----------------------------------------------------------------------------------------


@case
def missing_image(content: Path) -> Expected:
    path, text = rewrite(content, 52, add_to_answer("![A figure that is not there](figures/not-there.svg)"))
    return Expected(path, line_of(text, "figures/not-there.svg"), "not-there.svg")


@case
def not_utf8(content: Path) -> Expected:
    path = note_file(content, 53)
    raw = path.read_bytes()
    middle = raw.index(b"\n", len(raw) // 2) + 1  # the start of a line in the middle of the note
    broken = raw[:middle] + b"caf\xff\xfe latte\n" + raw[middle:]
    path.write_bytes(broken)
    return Expected(path, broken[: broken.index(b"\xff")].count(b"\n") + 1, "not UTF-8")


@case
def huge_note(content: Path) -> Expected:
    path = note_file(content, 54)
    text = path.read_text(encoding="utf-8")
    path.write_text(text + ("Padding paragraph. " * 60 + "\n\n") * 9000, encoding="utf-8")
    assert path.stat().st_size > 10_000_000
    return Expected(path, 1, "over the limit")


@case
def no_notes(content: Path) -> Expected:
    for note in content.glob("*.md"):
        note.unlink()
    shutil.rmtree(content / "figures")
    assert [p.name for p in content.iterdir()] == ["deck.yaml"]
    return Expected(content, None, "no notes")


@case
def no_deck_file(content: Path) -> Expected:
    (content / "deck.yaml").unlink()
    return Expected(content / "deck.yaml", None, "deck file missing")


# --- uniqueness -----------------------------------------------------------------------------------


@case
def duplicate_id(content: Path) -> Expected:
    source = note_file(content, 55).read_text(encoding="utf-8")
    copy = content / "99-copy.md"
    text = replace_line(source, "number:", "number: 99")
    copy.write_text(text, encoding="utf-8")
    return Expected(copy, line_of(text, "id:"), "duplicate id")


@case
def duplicate_number(content: Path) -> Expected:
    source = note_file(content, 56).read_text(encoding="utf-8")
    copy = content / "99-copy.md"
    text = replace_line(source, "id:", "id: 0123456789ab")
    copy.write_text(text, encoding="utf-8")
    return Expected(copy, line_of(text, "number:"), "duplicate number")


# --- the checks -----------------------------------------------------------------------------------


def run_both(content: Path, output: Path, *extra: str, outputs: tuple[str, ...] = ()) -> dict[str, Result]:
    """`check`, then `build` into `output`, on the same content."""
    return {
        "check": studykit("check", "--content", content, *extra),
        "build": studykit("build", *outputs, "--content", content, "--output", output, *extra),
    }


def assert_reported(stderr: str, expected: Expected) -> None:
    """The error names the file (and line), and the next line of the report is a hint."""
    lines = stderr.splitlines()
    where = f"{expected.path}:{expected.line}: error: " if expected.line is not None else f"{expected.path}: "
    matching = [i for i, line in enumerate(lines) if where in line and expected.message in line]
    assert matching, f"expected {where!r} … {expected.message!r} in:\n{stderr}"
    following = lines[matching[0] + 1] if matching[0] + 1 < len(lines) else ""
    assert following.strip().startswith("hint: "), f"no hint line under the error:\n{stderr}"


@pytest.mark.parametrize("name", list(CASES))
def test_bad_input_is_reported_at_its_line_and_keeps_outputs(
    name: str, content_copy: Path, previous_build: Path
) -> None:
    before = digests(previous_build)
    expected = CASES[name](content_copy)
    for command, result in run_both(content_copy, previous_build).items():
        assert result.exit_code == 1, (name, command, result.stdout, result.stderr)
        assert "Traceback" not in result.stderr and "internal error" not in result.stderr, result.stderr
        assert_reported(result.stderr, expected)
    assert digests(previous_build) == before, "a failed build changed or added files in the output folder"


def test_every_problem_in_every_file_in_one_run(content_copy: Path, previous_build: Path) -> None:
    before = digests(previous_build)
    expected: list[Expected] = []
    # 51: three problems in one file (two in the front matter, one in the body).
    path, text = rewrite(
        content_copy,
        51,
        lambda t: replace_line(replace_line(t, "id:", None), "number:", "number: fifty").replace(
            "## Full answer", "## Full answer\n\n## Full answer", 1
        ),
    )
    expected += [
        Expected(path, line_of(text, "---"), "`id` is missing"),
        Expected(path, line_of(text, "number: fifty"), "not a positive whole number"),
        Expected(path, line_of(text, "## Full answer", text.index("## Full answer") + 1), "appears twice"),
    ]
    # 52: two formulas that do not render, and an unclosed `$`.
    path, text = rewrite(
        content_copy, 52, add_to_answer("First $\\nosuchthing$ then\n$\\frac{a}{b$ and\n\nan open $x + y here.")
    )
    expected += [
        Expected(path, line_of(text, "First $\\nosuchthing"), "Undefined control sequence"),
        Expected(path, line_of(text, "$\\frac{a}{b$"), "formula does not render"),
        Expected(path, line_of(text, "an open $x"), "never closes"),
    ]
    # 53: a missing image.
    path, text = rewrite(content_copy, 53, add_to_answer("![gone](figures/gone.png)"))
    expected.append(Expected(path, line_of(text, "figures/gone.png"), "gone.png"))
    # 54: not UTF-8.
    path = note_file(content_copy, 54)
    raw = path.read_bytes()
    path.write_bytes(raw[:40] + b"\xff" + raw[40:])
    expected.append(Expected(path, raw[:40].count(b"\n") + 1, "not UTF-8"))
    # 55: bad YAML.
    path, text = rewrite(content_copy, 55, lambda t: replace_line(t, "question:", "question: a: b"))
    expected.append(Expected(path, line_of(text, "question:"), "invalid YAML"))

    for command, result in run_both(content_copy, previous_build).items():
        assert result.exit_code == 1, (command, result.stderr)
        assert "Traceback" not in result.stderr
        for problem in expected:
            assert_reported(result.stderr, problem)
        assert result.stderr.count(": error: ") == len(expected), result.stderr
        assert f"{len(expected)} problems found" in result.stderr, result.stderr
    assert digests(previous_build) == before


def test_strict_turns_a_warning_into_a_failure(content_copy: Path, previous_build: Path) -> None:
    path, text = rewrite(content_copy, 57, lambda t: replace_line(t, "tags:", None))
    warning = f"{path}:{line_of(text, '---')}: warning: note has no tags"
    before = digests(previous_build)

    for command, result in run_both(content_copy, previous_build, "--strict").items():
        assert result.exit_code == 1, (command, result.stderr)
        assert "Traceback" not in result.stderr
        assert_reported(result.stderr.replace(": warning: ", ": error: "), Expected(path, 1, "note has no tags"))
        assert warning in result.stderr
        assert "1 problem found" in result.stderr
    assert digests(previous_build) == before

    for command, result in run_both(content_copy, previous_build, outputs=("html",)).items():
        assert result.exit_code == 0, (command, result.stderr)
        assert warning in result.stderr, result.stderr
        assert "hint: " in result.stderr
        assert warning not in result.stdout
    after = digests(previous_build)
    assert set(after) == set(before), "the build left extra files"
    changed = {name for name in after if after[name] != before[name]}
    assert changed == {name for name in after if name.endswith(".html")}, "without --strict the page is rewritten"


# --- an interrupted build -------------------------------------------------------------------------


def temporaries(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.name.startswith(".") or p.suffix == ".tmp")


@pytest.mark.parametrize(
    "failure",
    [
        OSError(errno.ENOSPC, "No space left on device"),
        KeyboardInterrupt(),  # Ctrl-C in the middle of writing
        RuntimeError("a writer bug"),
    ],
    ids=["disk full", "interrupted", "writer bug"],
)
def test_a_writer_failing_midway_leaves_the_previous_outputs(
    failure: BaseException, content_copy: Path, previous_build: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A real change, so that a build that went through would have replaced every output.
    rewrite(content_copy, 63, lambda t: replace_line(t, "question:", "question: Why softmax, really?"))
    before = digests(previous_build)
    seen: list[Path] = []

    def failing_write(*args: object, **kwargs: object) -> None:
        # The apkg (first) is already complete in its temporary file when the page (last) is written.
        staged = [p for p in temporaries(previous_build) if ".apkg." in p.name]
        assert len(staged) == 1 and staged[0].stat().st_size > 0, temporaries(previous_build)
        seen.extend(staged)
        raise failure

    break_writer(monkeypatch, "html", failing_write)
    expected: type[BaseException] = OutputError if isinstance(failure, OSError) else type(failure)
    with pytest.raises(expected) as raised:
        pipeline.build(content_copy, previous_build, ("apkg", "html"))
    if isinstance(failure, OSError):
        assert "No space left on device" in str(raised.value)
    assert seen, "the failing writer never ran"
    assert temporaries(previous_build) == [], "temporary files were left in the output folder"
    assert digests(previous_build) == before


def test_a_writer_failing_midway_through_the_cli(
    content_copy: Path, previous_build: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = digests(previous_build)

    def failing_write(*args: object, **kwargs: object) -> None:
        raise OSError(errno.EIO, "Input/output error", str(previous_build / "page.tmp"))

    break_writer(monkeypatch, "html", failing_write)
    arguments = ["build", "apkg", "html", "--content", str(content_copy), "--output", str(previous_build)]
    result = CliRunner().invoke(cli, arguments)
    assert result.exit_code == 1, result.output
    assert isinstance(result.exception, SystemExit)
    assert "cannot write output: Input/output error" in result.output
    assert "Traceback" not in result.output
    assert digests(previous_build) == before


# --- front-matter values YAML would misread, and messages that must say what is wrong ---------------


def test_an_id_that_looks_like_a_number_is_kept_as_written(content_copy: Path) -> None:
    # YAML reads 000000000000 as 0 and 012345670123 as an octal number: the id must stay the text written.
    written = {51: "000000000000", 52: "012345670123", 53: "123456789012"}
    for number, note_id in written.items():
        rewrite(content_copy, number, lambda t, note_id=note_id: replace_line(t, "id:", f"id: {note_id}"))
    deck = reader.read_deck(content_copy).deck
    assert {note.number: note.id for note in deck.notes if note.number in written} == written


def test_front_matter_keys_yaml_reads_as_other_types(content_copy: Path) -> None:
    # `true:` is the key True and `null:` the key None to YAML; `<<:` merges keys that have no line of their own.
    path, text = rewrite(
        content_copy, 54, lambda t: replace_line(t, "tags:", "tags: [detection]\ntrue: 1\nnull: x\n<<: {extra: 2}")
    )
    result = CliRunner().invoke(cli, ["check", "--content", str(content_copy), "--jobs", "1"])
    assert result.exit_code == 0, result.output
    assert f"{path}:{line_of(text, 'true: 1')}: warning: unknown front-matter field `True`" in result.output
    assert f"{path}:{line_of(text, 'null: x')}: warning: unknown front-matter field `None`" in result.output
    assert "unknown front-matter field `extra`" in result.output


def test_math_in_tables_without_bars_is_fine(content_copy: Path) -> None:
    table = "| a | b |\n| --- | --- |\n| $x$ | $\\lvert x \\rvert$ and \\$5 |"
    rewrite(content_copy, 52, add_to_answer(table))
    deck = pipeline.check(content_copy).deck
    note = next(n for n in deck.notes if n.number == 52)
    assert "\\lvert x \\rvert" in note.answer_html


@pytest.mark.parametrize(
    ("engine", "tex", "message"),
    [
        # MathJax's own words, as a card would show them.
        ("mathjax", "a & b", "Misplaced &"),
        ("mathjax", "x\x01y", "control character U+0001"),
        ("mathjax", "\\nabal f", "Undefined control sequence \\nabal; did you mean \\nabla?"),
        ("mathjax", "\\frac{a}{b", "Missing close brace"),
        # ziamath itself only says "not well-formed (invalid token): line 1, column 87".
        ("ziamath", "a & b", "`&` outside a matrix or aligned environment"),
        ("ziamath", "\\text{Q&A}", "`&` outside a matrix or aligned environment"),
        ("ziamath", "x\x01y", "control character U+0001"),
    ],
)
def test_formula_errors_say_what_is_wrong(engine: str, tex: str, message: str) -> None:
    drawing = importlib.import_module(f"generator.engines.{engine}")
    with pytest.raises(mathrender.MathRenderError, match=re.escape(message)):
        drawing.render(tex, False)


@pytest.mark.parametrize("engine", ["mathjax", "ziamath"])
@pytest.mark.parametrize(
    "tex", ["a \\& b", "\\begin{pmatrix} a & b \\\\ c & d \\end{pmatrix}", "\\begin{aligned} a &= b \\end{aligned}"]
)
def test_ampersands_that_are_fine_still_render(engine: str, tex: str) -> None:
    assert importlib.import_module(f"generator.engines.{engine}").render(tex, False).width_em > 0


# --- known bugs in files this suite does not own -----------------------------------------------------


def test_an_overlong_image_path_is_an_error_not_a_crash(content_copy: Path) -> None:
    path, text = rewrite(content_copy, 55, add_to_answer(f"![a figure](figures/{'a' * 300}.svg)"))
    result = CliRunner().invoke(cli, ["check", "--content", str(content_copy), "--jobs", "1"])
    assert not isinstance(result.exception, OSError), "crashed: studykit would print `internal error`"
    assert result.exit_code == 1
    assert f"{path}:{line_of(text, 'aaaa')}: error: " in result.output


@pytest.mark.parametrize("src", ["data:image/gif;base64,R0lGODlhAQABAAAAACw=", "#figure"])
def test_an_image_that_check_accepts_also_builds(src: str, content_copy: Path, tmp_path: Path) -> None:
    rewrite(content_copy, 56, add_to_answer(f"![an inline image]({src})"))
    checked = CliRunner().invoke(cli, ["check", "--content", str(content_copy), "--jobs", "1"])
    built = CliRunner().invoke(
        cli, ["build", "html", "--content", str(content_copy), "--output", str(tmp_path / "out"), "--jobs", "1"]
    )
    assert checked.exit_code == built.exit_code, (checked.output, built.output)
