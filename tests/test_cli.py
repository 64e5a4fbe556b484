"""The command line on good and bad input: exit codes, file:line messages, outputs kept intact."""

from __future__ import annotations

import hashlib
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT

STUDYKIT = [sys.executable, "-m", "generator"]


def run(*args: str | Path, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*STUDYKIT, *map(str, args)], capture_output=True, text=True, cwd=cwd, timeout=300)


def digests(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


def note_file(content: Path, number: int) -> Path:
    return next(content.glob(f"{number}-*.md"))


def test_version_and_help() -> None:
    version = run("--version")
    assert version.returncode == 0 and re.search(r"studykit, version \d+\.\d+", version.stdout)
    for command in ([], ["build"], ["check"]):
        shown = run(*command, "--help")
        assert shown.returncode == 0 and "Usage:" in shown.stdout, command


def test_check_passes_on_the_shipped_content() -> None:
    result = run("check", "--content", ROOT / "content" / "dl-interview-51-65")
    assert result.returncode == 0, result.stderr
    assert "15 notes" in result.stdout


def test_build_one_output(tmp_path: Path) -> None:
    result = run("build", "html", "--output", tmp_path)  # content/ holds two decks: each gets its page
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dl-interview-51-65-zh.html", "dl-interview-51-65.html"]


BREAKAGES = {
    "broken formula": (
        52,
        lambda text: text.replace("## Full answer", "## Full answer\n\nSee $\\frac{a}{b$ here.", 1),
        "formula does not render",
    ),
    "unknown command": (
        53,
        lambda text: text.replace("## Key points", "## Key points\n\n- $\\notacommand x$", 1),
        "unknown LaTeX command \\notacommand",
    ),
    "missing field": (54, lambda text: re.sub(r"(?m)^question:.*\n", "", text, count=1), "`question` is missing"),
    "bad front matter": (55, lambda text: re.sub(r"(?m)^id: .*$", "id: [unclosed", text, count=1), "invalid YAML"),
    "bad tags": (55, lambda text: re.sub(r"(?m)^tags: \[", "tags: [oops: ", text, count=1), "`tags` must be a list"),
    "no front matter": (56, lambda text: text.split("---", 2)[2], "no front matter"),
    "missing section": (57, lambda text: text.replace("## Key points", "## Summary", 1), "unexpected section"),
    "unclosed dollar": (
        58,
        lambda text: text.replace("## Full answer", "## Full answer\n\nOops $x + y here.", 1),
        "never closes",
    ),
}


def expected_line(text: str, needle: str) -> int:
    return text[: text.index(needle)].count("\n") + 1


@pytest.mark.parametrize("case", sorted(BREAKAGES))
def test_bad_note_fails_with_file_line_and_keeps_outputs(
    case: str, content_copy: Path, tmp_path: Path, outputs: dict[str, Path]
) -> None:
    output = tmp_path / "out"
    shutil.copytree(outputs["apkg"].parent, output)  # a previous good build
    before = digests(output)

    number, breaking, message = BREAKAGES[case]
    path = note_file(content_copy, number)
    path.write_text(breaking(path.read_text(encoding="utf-8")), encoding="utf-8")

    for command in (["check"], ["build"]):
        extra = ["--output", output] if command == ["build"] else []
        result = run(*command, "--content", content_copy, *extra)
        assert result.returncode == 1, (case, command, result.stdout, result.stderr)
        assert "Traceback" not in result.stderr
        assert message in result.stderr, result.stderr
        assert re.search(rf"{re.escape(str(path))}:\d+: error:", result.stderr), result.stderr
    assert digests(output) == before, "a failed build changed the previous outputs"


def test_formula_error_names_the_formula_line(content_copy: Path) -> None:
    path = note_file(content_copy, 59)
    text = path.read_text(encoding="utf-8").replace("## Full answer", "## Full answer\n\nA bad one: $x^{2$.", 1)
    path.write_text(text, encoding="utf-8")
    result = run("check", "--content", content_copy)
    assert result.returncode == 1
    assert f"{path}:{expected_line(text, 'A bad one')}: error: formula does not render" in result.stderr


def test_every_problem_reported_in_one_run(content_copy: Path) -> None:
    for number in (60, 61, 62):
        path = note_file(content_copy, number)
        path.write_text(re.sub(r"(?m)^number:.*\n", "", path.read_text(encoding="utf-8"), count=1), encoding="utf-8")
    result = run("check", "--content", content_copy)
    assert result.returncode == 1
    assert result.stderr.count("`number` is missing") == 3
    assert "3 problems found" in result.stderr


def test_duplicate_ids_and_numbers(content_copy: Path) -> None:
    source = note_file(content_copy, 63)
    (content_copy / "99-copy.md").write_text(source.read_text(encoding="utf-8"), encoding="utf-8")
    result = run("check", "--content", content_copy)
    assert result.returncode == 1
    assert "duplicate id" in result.stderr and "duplicate number" in result.stderr
    assert str(source) in result.stderr


def test_missing_content_folder(tmp_path: Path) -> None:
    result = run("check", "--content", tmp_path / "nowhere")
    assert result.returncode == 1 and "no such content folder" in result.stderr
    assert "Traceback" not in result.stderr


def test_new_creates_a_valid_note_with_the_next_number(content_copy: Path) -> None:
    result = run("new", "What is dropout, and why does it work?", "--content", content_copy, "--tag", "regularization")
    assert result.returncode == 0, result.stderr
    created = next(content_copy.glob("66-*.md"))
    text = created.read_text(encoding="utf-8")
    assert "number: 66" in text and "## Key points" in text and "## Full answer" in text
    assert re.search(r"(?m)^id: [0-9a-f]{12}$", text)
    assert run("check", "--content", content_copy).returncode == 0
    second = run("new", "Another one?", "--content", content_copy)
    assert "67-another-one.md" in second.stdout
    ids = {
        re.search(r"(?m)^id: (\S+)$", p.read_text(encoding="utf-8")).group(1) for p in content_copy.glob("6[67]-*.md")
    }  # type: ignore[union-attr]
    assert len(ids) == 2


def test_quiet_and_verbose(tmp_path: Path) -> None:
    quiet = run("build", "html", "-q", "--output", tmp_path)
    assert quiet.returncode == 0 and quiet.stdout == ""
    verbose = run("build", "html", "-v", "--output", tmp_path)
    assert verbose.returncode == 0
    for stage in ("read", "markdown", "math", "html"):
        assert re.search(rf"time: {stage}\s+\d+\.\d+ s", verbose.stderr), verbose.stderr
