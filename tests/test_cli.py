"""The command line on good input, `new`, and what only a real process shows.

Bad input is tested case by case in test_robust.py, in-process. Three tests here start a real
`python -m generator` process, because the process is what they test: the module runs, an unexpected
exception ends it with exit 2 and a one-line "internal error" (no traceback), and Ctrl-C in the middle
of a build leaves the previous outputs as they were.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from generator import cli as cli_module
from tests.conftest import CONTENT, ROOT, break_writer, digests, note_file, studykit

PYTHON = [sys.executable, "-m", "generator"]
HTML = "dl-interview-51-65.html"


def test_version_from_a_real_process() -> None:
    version = subprocess.run([*PYTHON, "--version"], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert version.returncode == 0 and re.search(r"studykit, version \d+\.\d+", version.stdout)


def test_help() -> None:
    for command in ([], ["build"], ["check"]):
        shown = studykit(*command, "--help")
        assert shown.exit_code == 0 and "Usage:" in shown.stdout, command


def test_check_passes_on_the_shipped_content() -> None:
    result = studykit("check", "--content", ROOT / "content")
    assert result.exit_code == 0, result.stderr
    assert "15 notes" in result.stdout


def test_build_one_output_quiet_and_verbose(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(CONTENT)  # a deck folder is a content folder: --content .
    quiet = studykit("build", "html", "-q", "--content", ".", "--output", tmp_path)
    assert quiet.exit_code == 0, quiet.stderr
    assert quiet.stdout == ""
    assert [p.name for p in tmp_path.iterdir()] == [HTML]
    verbose = studykit("build", "html", "-v", "--content", ".", "--output", tmp_path)
    assert verbose.exit_code == 0
    assert [p.name for p in tmp_path.iterdir()] == [HTML]
    for stage in ("read", "markdown", "math", "html"):
        assert re.search(rf"time: {stage}\s+\d+\.\d+ s", verbose.stderr), verbose.stderr


def test_duplicate_ids_and_numbers_name_both_files(content_copy: Path) -> None:
    source = note_file(content_copy, 63)
    (content_copy / "99-copy.md").write_text(source.read_text(encoding="utf-8"), encoding="utf-8")
    result = studykit("check", "--content", content_copy)
    assert result.exit_code == 1
    assert "duplicate id" in result.stderr and "duplicate number" in result.stderr
    assert str(source) in result.stderr


def test_missing_content_folder(tmp_path: Path) -> None:
    result = studykit("check", "--content", tmp_path / "nowhere")
    assert result.exit_code == 1 and "no such content folder" in result.stderr
    assert "Traceback" not in result.stderr


def test_new_creates_a_valid_note_with_the_next_number(content_copy: Path) -> None:
    result = studykit(
        "new", "What is dropout, and why does it work?", "--content", content_copy, "--tag", "regularization"
    )
    assert result.exit_code == 0, result.stderr
    created = next(content_copy.glob("66-*.md"))
    assert f"created {created}" in result.stdout
    text = created.read_text(encoding="utf-8")
    assert "number: 66" in text and "## Key points" in text and "## Full answer" in text
    assert re.search(r"(?m)^id: [0-9a-f]{12}$", text)
    assert studykit("check", "--content", content_copy).exit_code == 0
    second = studykit("new", "Another one?", "--content", content_copy)
    assert "67-another-one.md" in second.stdout
    ids = {
        re.search(r"(?m)^id: (\S+)$", p.read_text(encoding="utf-8")).group(1)  # type: ignore[union-attr]
        for p in content_copy.glob("6[67]-*.md")
    }
    assert len(ids) == 2


# --- the process boundary -------------------------------------------------------------------------

BROKEN_WRITER = """
import sys
import dataclasses
from generator import cli, writers

def write(*args, **kwargs):
    raise RuntimeError("a writer bug")

writers.WRITERS["html"] = dataclasses.replace(writers.WRITERS["html"], write=write)
sys.argv = ["studykit", *sys.argv[1:]]
cli.main()
"""


def test_an_unexpected_exception_is_exit_2_with_one_line_and_no_traceback(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "STUDYKIT_DEBUG"}
    arguments = ["build", "html", "--content", str(ROOT / "content"), "--output", str(tmp_path / "out")]
    result = subprocess.run(
        [sys.executable, "-c", BROKEN_WRITER, *arguments],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=300,
    )
    assert result.returncode == 2, result.stderr
    assert result.stderr == (
        "studykit: internal error: RuntimeError: a writer bug\n"
        "This is a bug in studykit; rerun with STUDYKIT_DEBUG=1 to see the traceback.\n"
    )
    assert result.stdout == ""
    assert not any((tmp_path / "out").iterdir()), "nothing written"


def test_studykit_debug_lets_the_traceback_through(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    def write(*args: object, **kwargs: object) -> None:
        raise RuntimeError("a writer bug")

    break_writer(monkeypatch, "html", write)
    monkeypatch.setenv("STUDYKIT_DEBUG", "1")
    monkeypatch.setattr(sys, "argv", ["studykit", "build", "html", "--content", str(ROOT / "content")])
    monkeypatch.chdir(tmp_path)
    with pytest.raises(RuntimeError, match="a writer bug"):
        cli_module.main()


def test_ctrl_c_during_a_build_keeps_the_previous_outputs(content_copy: Path, previous_build: Path) -> None:
    # A real change, so that a build that went through would have replaced every output.
    note = note_file(content_copy, 63)
    note.write_text(note.read_text(encoding="utf-8").replace("question:", "question: Really,", 1), encoding="utf-8")
    before = digests(previous_build)
    command = [*PYTHON, "build", "--content", str(content_copy), "--output", str(previous_build), "--jobs", "1"]
    process = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        # A shell starts background jobs with SIGINT ignored, and Python keeps an ignored SIGINT ignored:
        # the build must start with the default, as when run from a terminal.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    try:
        deadline = time.monotonic() + 240
        # The outputs are being written once their temporary files exist beside the previous ones.
        while not any(p.name.endswith(".tmp") for p in previous_build.iterdir()):
            assert process.poll() is None, process.communicate()
            assert time.monotonic() < deadline, "the build never started writing"
            time.sleep(0.01)
        process.send_signal(signal.SIGINT)
        stdout, stderr = process.communicate(timeout=120)
    finally:
        process.kill()
    assert process.returncode == 1, (process.returncode, stderr)
    assert "Aborted!" in stderr and "Traceback" not in stderr, stderr
    assert "wrote" not in stdout
    assert digests(previous_build) == before, "an interrupted build changed or left files in the output folder"
