"""The booklet laid out in parts (runs of questions that start at the top of a page), cached and joined.

Joined, the parts give the pages the whole booklet laid out as one document gives, character for character;
an edit lays out only the edited note's part; and a rebuild after an edit writes the bytes a build from an
empty cache writes, also when the edit moves where the parts begin.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import re
import shutil
from pathlib import Path
from typing import Any

import pikepdf
import pytest

from generator import build as pipeline
from generator import pdfengine
from generator.writers import booklet
from tests import pdfread
from tests.conftest import CONTENT, EPOCH, content_with, link_tree, note_file

ZH = CONTENT.parent / "dl-interview-51-65-zh"


def _placed_characters(path: Path) -> list[list[tuple[str, float, float]]]:
    """Each page's characters with where they are drawn (to half a point)."""
    return [
        sorted((char["text"], round(char["x0"] * 2) / 2, round(char["top"] * 2) / 2) for char in page.chars)
        for page in pdfread.read(path)
    ]


def _destinations(path: Path) -> dict[str, int]:
    """Each named destination (`#q57`) by the page it points at."""
    with pikepdf.open(path) as pdf:
        pages = {page.obj.objgen: index for index, page in enumerate(pdf.pages)}
        return {
            str(name): pages[destination[0].objgen]
            for name, destination in pikepdf.NameTree(pdf.Root.Names.Dests).items()
        }


def _contents_links(path: Path) -> list[str]:
    """The destinations of the contents page's links, in order (an entry's number, text and leader are links
    of their own)."""
    with pikepdf.open(path) as pdf:
        return [str(annotation.Dest) for annotation in pdf.pages[1].obj.get("/Annots", []) if "/Dest" in annotation]


def _whole(content: Path, target: Path) -> Path:
    """The booklet laid out whole, as one document."""
    deck = pipeline.check(content).deck
    context = pipeline.context_for(deck, pipeline.BuildOptions(content))
    pdfengine.write(booklet.html_of(deck, context), content, context.pdf_roots(content), target)
    return target


def assert_page_for_page(parted: Path, content: Path, whole_target: Path) -> None:
    """The booklet `parted` (laid out in parts and joined) has, page for page, the characters where the booklet
    laid out whole as one document has them, and its contents link to every question where the whole one's do."""
    whole = _whole(content, whole_target)
    parted_pages, whole_pages = _placed_characters(parted), _placed_characters(whole)
    assert len(parted_pages) == len(whole_pages)
    for number, (ours, theirs) in enumerate(zip(parted_pages, whole_pages, strict=True), start=1):
        assert ours == theirs, f"page {number}: {sorted(set(ours) ^ set(theirs))[:10]}"
    questions = [f"q{note.number}" for note in pipeline.check(content).deck.notes]
    links = _contents_links(parted)
    assert links == _contents_links(whole)
    assert list(dict.fromkeys(links)) == questions
    assert _destinations(parted) == _destinations(whole)


# Three notes of the shipped deck: the booklet's parts are 52-53 and 54 (54 opens a page).
NOTES = (52, 53, 54)


def _booklet(content: Path, output: Path, cache: Path) -> Path:
    """The booklet built with `cache` as the cache: its PDF parts are that folder's own; the drawn formulas
    are the session's (hard links), since what is tested here is the parts, not the math."""
    session = Path(os.environ["STUDYKIT_CACHE_DIR"]) / "math"
    if session.is_dir() and not (cache / "math").exists():
        link_tree(session, cache / "math")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SOURCE_DATE_EPOCH", str(EPOCH))
        patch.setenv("STUDYKIT_CACHE_DIR", str(cache))
        (path,) = pipeline.build(content, output, ("full",)).written
    return path


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _parts_laid_out(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The booklet's parts laid out from now on, each by its first question."""
    laid_out: list[str] = []
    real = pdfengine.layout

    def layout(document: str, *arguments: Any) -> Any:
        laid_out.extend(re.findall(r'data-question="(\d+)"', document)[:1])  # none: the title page and contents
        return real(document, *arguments)

    monkeypatch.setattr(pdfengine, "layout", layout)
    return laid_out


@dataclasses.dataclass(frozen=True)
class FirstBuild:
    """The three notes' booklet built once from an empty cache, for every test here to start from."""

    content: Path
    cache: Path
    booklet: Path
    digest: str
    laid_out: tuple[str, ...]
    parts: int

    def copy(self, folder: Path) -> tuple[Path, Path]:
        """A content folder and a cache of the test's own, as the first build left them (the cache's files
        are hard links: a build replaces a cache file, never writes into one)."""
        shutil.copytree(self.content, folder / "content")
        link_tree(self.cache, folder / "cache")
        return folder / "content", folder / "cache"


@pytest.fixture(scope="module")
def first_build(tmp_path_factory: pytest.TempPathFactory) -> FirstBuild:
    folder = tmp_path_factory.mktemp("first-build")
    content, cache = content_with(folder, NOTES), folder / "cache"
    with pytest.MonkeyPatch.context() as patch:
        laid_out = _parts_laid_out(patch)
        path = _booklet(content, folder / "out", cache)
    parts = len(sorted((cache / "pdf").glob("*+full-*.pdf")))
    return FirstBuild(content, cache, path, _digest(path), tuple(laid_out), parts)


def test_parts_joined_are_the_whole_booklet_page_for_page(first_build: FirstBuild, tmp_path: Path) -> None:
    """The English edition; tests/test_booklet_page_for_page.py checks the Chinese one."""
    assert_page_for_page(first_build.booklet, first_build.content, tmp_path / "whole.pdf")


def test_a_part_cut_short_in_the_cache_is_laid_out_again(
    first_build: FirstBuild, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A cached part is trusted without being opened when it ends as a whole PDF does; one cut short (a build killed
    mid-write where renaming is not atomic) is laid out again, and the booklet is the first build's bytes."""
    content, cache = first_build.copy(tmp_path)
    parts = sorted((cache / "pdf").glob("*+full-*.pdf"), key=lambda part: part.stat().st_size)
    damaged = parts[-1]  # the largest: a part of questions, not the contents or the page numbers
    kept = damaged.read_bytes()
    damaged.unlink()  # a hard link shared with the first build: replaced, not written into
    damaged.write_bytes(kept[: len(kept) // 2])
    laid_out = _parts_laid_out(monkeypatch)
    assert _digest(_booklet(content, tmp_path / "again", cache)) == first_build.digest
    assert len(laid_out) == 1, laid_out
    assert damaged.read_bytes() == kept


def _edit(content: Path, number: int, change: Any) -> None:
    path = note_file(content, number)
    path.write_text(change(path.read_text(encoding="utf-8")), encoding="utf-8")


def test_an_edit_lays_out_its_part_and_gives_the_bytes_of_a_cold_build(
    first_build: FirstBuild, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert first_build.laid_out == ("52",), (
        "a first build lays its notes out together and cuts them where questions open pages"
    )
    assert first_build.parts == 4, "two parts, the contents and the page numbers"
    content, cache = first_build.copy(tmp_path)
    laid_out = _parts_laid_out(monkeypatch)
    assert _digest(_booklet(content, tmp_path / "two", cache)) == first_build.digest
    assert laid_out == [], "nothing changed: nothing laid out"

    _edit(content, 52, lambda text: text.rstrip("\n") + "\n\nOne more sentence at the end of the answer.\n")
    edited = _booklet(content, tmp_path / "three", cache)
    assert laid_out == ["52"], "only the part holding question 52 is laid out again"
    assert "One more sentence at the end of the answer." in "".join(page.text for page in pdfread.read(edited))
    assert len(sorted((cache / "pdf").glob("*+full-*.pdf"))) == 4, "the edited part's old file left the cache"
    assert _digest(edited) == _digest(_booklet(content, tmp_path / "cold", tmp_path / "empty"))


def test_a_first_build_saves_only_the_parts_it_uses_and_lays_its_contents_out_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A first build lays the notes out in chunks (here of one note: 52, 53, 54); 52's run goes on into 53, so it
    is laid out again with what follows, and its first layout is never saved. The contents' page count is guessed
    right: laid out once."""
    saved: list[Path] = []
    contents = 0
    real_save, real_layout = pdfengine.save_atomically, pdfengine.layout

    def save_atomically(laid_out: Any, path: Path) -> None:
        saved.append(path)
        real_save(laid_out, path)

    def layout(document: str, *arguments: Any) -> Any:
        nonlocal contents, questions
        contents += 'class="toc"' in document
        questions += document.count('data-question="')
        return real_layout(document, *arguments)

    questions = 0
    monkeypatch.setattr(pdfengine, "save_atomically", save_atomically)
    monkeypatch.setattr(pdfengine, "layout", layout)
    monkeypatch.setattr(booklet, "_FIRST_GUESS", 1)
    content, cache = content_with(tmp_path, NOTES), tmp_path / "cache"
    deck = pipeline.check(content).deck
    _booklet(content, tmp_path / "out", cache)
    assert questions > len(deck.notes), "no run laid out again: the test does not see a run that goes on"
    kept = set((cache / "pdf").glob("*+full-*.pdf"))
    assert saved, "nothing saved: the test saw no part laid out"
    assert set(saved) <= kept, f"saved and then dropped from the cache: {sorted(set(saved) - kept)}"
    assert len(saved) == len(set(saved)), "a part saved twice"
    assert contents == 1, f"the title page and contents laid out {contents} times"


_FILLER = "This sentence fills the line with plain words so that the answer takes room on the page. "


def test_a_run_that_goes_on_is_laid_out_again_from_its_last_question_that_opens_a_page(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A first build in chunks of two notes of six (answers of 14, 14, 14, 4, 2, 2 sentences: 3 and 5 open pages,
    no id begins a part, so all six are one part). 1-2 goes on into 3-4, laid out again whole (its only question
    that opens a page is its first); 1-4 goes on into 5-6, laid out again from 3, the pages of 1-2 kept. The
    booklet is the bytes of one layout of all six."""
    content = tmp_path / "content"
    content.mkdir()
    shutil.copy(CONTENT / "deck.yaml", content / "deck.yaml")
    for number, sentences in enumerate((14, 14, 14, 4, 2, 2), start=1):
        (content / f"{number:02d}-q.md").write_text(
            f"---\nid: flow{number:02d}\nnumber: {number}\nquestion: Question {number}?\ntags: [t]\n---\n\n"
            f"## Key points\n\n- A point.\n\n## Full answer\n\n{_FILLER * sentences}\n",
            encoding="utf-8",
        )
    assert not any(booklet._begins_part(note) for note in pipeline.check(content).deck.notes)

    monkeypatch.setattr(booklet, "_FIRST_GUESS", 6)
    whole = _booklet(content, tmp_path / "whole", tmp_path / "cache-whole")

    questions: list[str] = []
    real = pdfengine.layout

    def layout(document: str, *arguments: Any) -> Any:
        questions.extend(re.findall(r'data-question="(\d+)"', document))
        return real(document, *arguments)

    monkeypatch.setattr(pdfengine, "layout", layout)
    monkeypatch.setattr(booklet, "_FIRST_GUESS", 2)
    chunked = _booklet(content, tmp_path / "chunked", tmp_path / "cache-chunked")
    assert _digest(chunked) == _digest(whole)
    assert questions == ["1", "2", "1", "2", "3", "4", "3", "4", "5", "6"], questions


_SHORT = "## Key points\n\n- A single point.\n\n## Full answer\n\nA short answer.\n"


def test_an_edit_that_moves_where_parts_begin_gives_the_bytes_of_a_cold_build(
    first_build: FirstBuild, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Question 53 cut short: 54 follows on from it, so the two parts become one; then put back."""
    content, cache = first_build.copy(tmp_path)
    original = note_file(content, 53).read_text(encoding="utf-8")
    _edit(content, 53, lambda text: text.split("## Key points", 1)[0] + _SHORT)
    laid_out = _parts_laid_out(monkeypatch)
    shorter = _booklet(content, tmp_path / "two", cache)
    # The edited part, which now leaves room under 53; then with the part after it, which follows on.
    assert laid_out == ["52", "52"]
    assert _digest(shorter) == _digest(_booklet(content, tmp_path / "cold", tmp_path / "empty"))
    answers = pdfread.read(shorter)[2:]
    assert any(re.search(r"(?m)^53\b", page.text) and re.search(r"(?m)^54\b", page.text) for page in answers), (
        "54 follows on from 53"
    )

    note_file(content, 53).write_text(original, encoding="utf-8")
    assert _digest(_booklet(content, tmp_path / "three", cache)) == first_build.digest


def test_remembered_parts_laid_out_on_two_processes_give_the_bytes_of_one(
    first_build: FirstBuild, tmp_path: Path
) -> None:
    """A stylesheet change: every part the last build found is laid out again, on worker processes."""
    content, cache = first_build.copy(tmp_path)
    (content / "templates").mkdir()
    stylesheet = (Path(booklet.__file__).parents[2] / "templates" / "booklet.css").read_text(encoding="utf-8")
    (content / "templates" / "booklet.css").write_text(stylesheet.replace("#132a57", "#132a58"), encoding="utf-8")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SOURCE_DATE_EPOCH", str(EPOCH))
        patch.setenv("STUDYKIT_CACHE_DIR", str(cache))
        (parallel,) = pipeline.build(content, tmp_path / "two", ("full",), jobs=2).written
    assert _digest(parallel) == _digest(_booklet(content, tmp_path / "cold", tmp_path / "empty"))
    assert len(sorted((cache / "pdf").glob("*+full-*.pdf"))) == 4, "two parts, the contents and the page numbers"


def test_a_question_opens_a_page_when_none_of_the_one_before_is_on_it() -> None:
    # Three questions: the second starts on the page the first ends on, the third on a page of its own.
    layout = booklet.PartLayout(pages=6, starts=(0, 2, 4), ends=(2, 3, 5), rooms_mm=(120.0, 30.0, 200.0))
    assert layout.opens_page == (2,)
    assert layout.slice(0, 2) == booklet.PartLayout(4, (0, 2), (2, 3), (120.0, 30.0))
    assert layout.slice(2, 3) == booklet.PartLayout(2, (0,), (1,), (200.0,))
    assert layout.room_mm == 200.0


def test_the_room_a_question_needs_is_read_from_the_stylesheet() -> None:
    stylesheet = (Path(booklet.__file__).parents[2] / "templates" / "booklet.css").read_text(encoding="utf-8")
    assert booklet.flow_on_room_mm(stylesheet) == pytest.approx(80 + 6 - 0.5), "the spacer and the gap, less rounding"
    # A deck's own stylesheet without the spacer: every run is laid out with the next question to see.
    assert booklet.flow_on_room_mm("body { margin: 0; }") == 0.0
