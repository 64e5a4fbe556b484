"""Issue 14, "pay only for what is asked": an output that draws no math lays none out, and nothing outlives a build.

The Anki deck and its text export carry TeX (Anki draws it on the card); a build of only those checks that each
formula reads (MathJax's parse, no layout), with the same messages as drawing it would give.
"""

from __future__ import annotations

import multiprocessing
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from multiprocessing import resource_tracker
from pathlib import Path

import pytest

from generator import build as pipeline
from generator import mathrender, processes, rendercache, writers
from generator.engines import mathjax
from generator.errors import BuildFailed
from generator.mathrender import MathRenderError
from tests.conftest import ROOT

CORPUS = ROOT / "tests" / "corpus" / "formulas" / "formulas.tsv"

# Formulas MathJax refuses, each for its own reason: what a check says must be what drawing says.
BAD = [
    ("a & b", False),
    ("\\nabal f", False),
    ("\\frac{a}{b", True),
    ("x}", False),
    ("x^^2", False),
    ("a_b_c", False),
    ("\\left( x", True),
    ("\\begin{foo} x \\end{foo}", True),
    ("\\begin{matrix} a", True),
    ("\\end{aligned}", True),
    ("\\sqrt[3", False),
    ("\\require{physics} \\dv{f}{x}", False),
    ("\\require{}", False),
    ("#1", False),
    ("\\def\\x{", False),
    ("\\newcommand{\\x}[2]{#1#2} \\x{a}", False),
    ("\\color{red", False),
    ("\\text{a", False),
    ("x\x01y", False),
    ("\\frac", False),
    ("\\hbox{", False),
    ("\\mathrm{", False),
]


def _unescape(field: str) -> str:
    return re.sub(r"\\(.)", lambda match: {"n": "\n", "t": "\t"}.get(match.group(1), match.group(1)), field)


def _corpus() -> list[tuple[str, bool]]:
    lines = CORPUS.read_text(encoding="utf-8").splitlines()[1:]
    return [(_unescape(fields[4]), fields[3] == "1") for fields in (line.split("\t") for line in lines)]


def _message(outcome: object) -> str | None:
    return str(outcome) if isinstance(outcome, MathRenderError) else None


def test_a_check_fails_exactly_where_drawing_fails_and_says_the_same() -> None:
    formulas = BAD + _corpus()[::5]  # every formula of the corpus agrees too; a fifth keeps this test fast
    checked = [_message(outcome) for outcome in mathjax.check_many(formulas)]
    drawn = [_message(outcome) for outcome in mathjax.render_many(formulas)]
    assert all(checked[: len(BAD)]), "every bad formula is refused by the check"
    assert checked == drawn


def test_one_check_is_the_batch_check() -> None:
    for tex, display in BAD[:4]:
        with pytest.raises(MathRenderError) as caught:
            mathjax.check(tex, display)
        assert [str(caught.value)] == [str(error) for error in mathjax.check_many([(tex, display)])]


def test_only_the_pdfs_and_the_page_draw_math() -> None:
    drawing = {writer.name for writer in writers.WRITERS.values() if writer.draws_math}
    assert drawing == {"pdf", "html", "full", "cards"}


@pytest.fixture
def empty_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    cache = tmp_path / "cache"
    monkeypatch.setenv("STUDYKIT_CACHE_DIR", str(cache))
    mathrender.render.cache_clear()
    yield cache
    mathrender.render.cache_clear()


def _no_drawing(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*_: object) -> None:
        raise AssertionError("a formula was drawn")

    for name in ("render", "render_many"):
        monkeypatch.setattr(mathrender.engine(), name, refuse)


def test_an_anki_build_checks_formulas_without_drawing_them(
    content_copy: Path, tmp_path: Path, empty_cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _no_drawing(monkeypatch)
    report = pipeline.build(content_copy, tmp_path / "out", ("apkg", "tsv"), jobs=1)
    assert (tmp_path / "out" / f"{report.deck.slug}.apkg").is_file()
    checked = list((empty_cache / "math" / "checked").iterdir())
    assert len(checked) == len({(f.tex, f.display) for f in report.deck.formulas})
    assert not list((empty_cache / "math").glob("*.json")), "a checked formula is not stored as a drawn one"
    # Checked already: a second build asks the engine nothing.
    monkeypatch.setattr(mathrender.engine(), "check_many", lambda formulas: pytest.fail("checked again"))
    pipeline.build(content_copy, tmp_path / "out", ("apkg",), jobs=1)
    assert pipeline.check(content_copy).deck.notes


def test_a_checked_formula_is_still_drawn_for_an_output_that_draws(
    content_copy: Path, tmp_path: Path, empty_cache: Path
) -> None:
    deck = pipeline.build(content_copy, tmp_path / "out", ("apkg",), jobs=1).deck
    formula = deck.formulas[0]
    assert mathrender.is_checked(formula.tex, formula.display)
    assert not mathrender.is_cached(formula.tex, formula.display)
    pipeline.build(content_copy, tmp_path / "out", ("html",), jobs=1)
    assert mathrender.is_cached(formula.tex, formula.display)


def test_a_bad_formula_stops_an_anki_build_with_the_engines_words(
    content_copy: Path, tmp_path: Path, empty_cache: Path
) -> None:
    note = sorted(content_copy.glob("*.md"))[0]
    text = note.read_text(encoding="utf-8")
    note.write_text(text.replace("## Full answer\n", "## Full answer\n\nA bad one: $\\frac{a}{b$.\n", 1), "utf-8")
    for _ in range(2):  # failures are not kept as checked: the second build says it again
        with pytest.raises(BuildFailed) as caught:
            pipeline.build(content_copy, tmp_path / "out", ("apkg",), jobs=1)
        (problem,) = caught.value.problems
        assert "formula does not render: Missing close brace" in problem.message
        assert problem.location.path == note


def _children() -> list[int]:
    """This process's child processes, from /proc (whatever started them)."""
    found: list[int] = []
    for task in Path(f"/proc/{os.getpid()}/task").iterdir():
        with open(task / "children", encoding="ascii") as listing:
            found += [int(pid) for pid in listing.read().split()]
    return found


@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="reads /proc")
def test_no_math_worker_outlives_the_build(
    content_copy: Path, tmp_path: Path, empty_cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    before, started = set(_children()), set(multiprocessing.active_children())  # the session's own helpers
    monkeypatch.setattr(mathrender, "_PARALLEL_THRESHOLD", 1)
    monkeypatch.setattr(mathrender, "_PARALLEL_CHECK_THRESHOLD", 1)
    monkeypatch.setattr(mathrender, "_BATCH", 8)
    monkeypatch.setattr(mathrender, "_CHECK_BATCH", 8)
    tracker_was_running = getattr(resource_tracker._resource_tracker, "_pid", None) is not None
    pipeline.build(content_copy, tmp_path / "out", ("apkg",), jobs=2)
    assert (empty_cache / "math" / "checked").is_dir()
    pipeline.build(content_copy, tmp_path / "out", ("html",), jobs=2)
    assert list((empty_cache / "math").glob("*.json")), "the workers drew the formulas"
    assert set(multiprocessing.active_children()) <= started
    assert set(_children()) <= before
    if not tracker_was_running:
        assert getattr(resource_tracker._resource_tracker, "_pid", None) is None


@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="reads /proc")
def test_no_pdf_worker_outlives_its_documents(tmp_path: Path) -> None:
    before, started = set(_children()), set(multiprocessing.active_children())
    documents = [
        (tmp_path / f"{name}.pdf", lambda name=name: f"<html><body><p>{name}</p></body></html>") for name in "ab"
    ]
    errors = rendercache.render_all(documents, tmp_path.as_uri() + "/", [tmp_path], {}, jobs=2)
    assert errors == []
    assert all(path.stat().st_size > 0 for path, _ in documents)
    assert set(multiprocessing.active_children()) <= started
    assert set(_children()) <= before


def test_a_pool_is_ended_even_when_its_work_fails() -> None:
    before = set(multiprocessing.active_children())
    with pytest.raises(ZeroDivisionError), processes.worker_pool(1) as pool:
        pool.submit(divmod, 1, 0).result()
    assert set(multiprocessing.active_children()) <= before


# What only another output, or a formula not drawn yet, needs: genanki (the Anki deck; it pulls in asyncio) and V8
# through mini-racer (MathJax drawing or checking a formula).
_NOT_FOR_A_PAGE = ("genanki", "py_mini_racer", "asyncio")


def test_a_page_build_after_an_edit_imports_neither_genanki_nor_v8(
    content_copy: Path, tmp_path: Path, own_cache: Path
) -> None:
    """`studykit build html` after an edit of a note's words, every formula drawn already, as a user runs it (a
    process of its own): the modules it imported are read from its sys.modules."""
    pipeline.build(content_copy, tmp_path / "out", ("html",), jobs=1)  # every formula drawn, into the cache
    note = sorted(content_copy.glob("*.md"))[0]
    note.write_text(note.read_text(encoding="utf-8").replace("## Key points\n\n- ", "## Key points\n\n- Edited. ", 1))
    program = (
        "import sys\n"
        "from pathlib import Path\n"
        "from generator.cli import main\n"
        f"names = {_NOT_FOR_A_PAGE!r}\n"
        f"sys.argv = ['studykit', 'build', '--content', {str(content_copy)!r}, '--output', {str(tmp_path / 'out')!r}, "
        "'-q', 'html']\n"
        "try:\n"
        "    main()\n"
        "except SystemExit as end:\n"
        "    assert not end.code, end.code\n"
        "print(' '.join(name for name in names if name in sys.modules))\n"
    )
    env = {**os.environ, "STUDYKIT_CACHE_DIR": str(own_cache)}
    done = subprocess.run(
        [sys.executable, "-c", program], cwd=ROOT, env=env, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    assert "Edited." in (tmp_path / "out" / "dl-interview-51-65.html").read_text(encoding="utf-8"), "the page was built"
    assert done.stdout.split() == [], f"imported by a page build: {done.stdout.strip()}"


_KILLED_PARENT = """
import os, time
from generator import processes
with processes.worker_pool(1) as pool:
    print(pool.submit(os.getpid).result(), flush=True)
    time.sleep(120)
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the kernel's parent-death signal is Linux's")
def test_a_worker_ends_when_its_build_is_killed_outright() -> None:
    """SIGKILL gives the build no chance to end its pool: the worker ends anyway (the kernel signals it)."""
    # stderr away: the killed build's resource tracker reports the semaphores it cleans up after it.
    command = [sys.executable, "-c", _KILLED_PARENT]
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, cwd=ROOT) as build:
        try:
            assert build.stdout is not None
            worker = int(build.stdout.readline())
            os.kill(build.pid, signal.SIGKILL)
            build.wait()
            deadline = time.monotonic() + 10
            while _running(worker) and time.monotonic() < deadline:
                time.sleep(0.05)
            assert not _running(worker), f"worker {worker} still running after its build was killed"
        finally:
            build.kill()


def _running(pid: int) -> bool:
    """Whether `pid` is a process that has not ended (a zombie has ended: its parent is gone and init reaps it)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="utf-8") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except OSError:
        return False
