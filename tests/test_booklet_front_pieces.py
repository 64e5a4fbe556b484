"""The booklet's title page and contents laid out in pieces (`booklet._Front`), cached and joined before the questions.

A piece is laid out from an entry that opens a page and keeps its pages before the last page an entry opens. Here
the pieces are forced small (`_FRONT_ENTRIES`), and the booklet must read, page for page, as the booklet whose front
is laid out whole: the same characters where they were, the same links to the questions, the same outline. A
rebuild with nothing changed lays nothing out; after an edit that moves page numbers, only the pieces holding an
entry whose number moved are laid out again, and the booklet is the bytes of a build from an empty cache.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
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
from tests.conftest import CONTENT, EPOCH, TEMPLATES, link_tree, note_file

# Entries a piece is laid out with here: a contents page holds about 25 of the bank's one- and two-line entries.
PIECE = 20
# More than any deck here has: the front laid out whole, as one piece.
WHOLE = 10_000
_WORDS = ("gradient", "softmax", "batch", "normalization", "anchor", "box", "regression", "convergence", "momentum")


def _question(number: int) -> str:
    """One line, two, or (every eleventh) seven: such an entry is split across pages at times."""
    length = 60 if number % 11 == 0 else 14 if number % 3 == 0 else 5
    return " ".join(_WORDS[(number + k) % len(_WORDS)] for k in range(length)).capitalize() + f" {number}?"


def _bank(folder: Path, count: int) -> Path:
    """A deck of `count` short notes: a contents of several pages, a booklet quick to lay out."""
    content = folder / "content"
    content.mkdir(parents=True)
    shutil.copy(CONTENT / "deck.yaml", content / "deck.yaml")
    for number in range(1, count + 1):
        (content / f"{number}-note.md").write_text(
            f"---\nid: front{number:04d}\nnumber: {number}\nquestion: {_question(number)}\ntags: [t]\n---\n\n"
            "## Key points\n\n- A point.\n\n## Full answer\n\nA short answer.\n",
            encoding="utf-8",
        )
    return content


def _booklet(content: Path, output: Path, cache: Path, entries: int) -> Path:
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SOURCE_DATE_EPOCH", str(EPOCH))
        patch.setenv("STUDYKIT_CACHE_DIR", str(cache))
        patch.setattr(booklet, "_FRONT_ENTRIES", entries)
        (path,) = pipeline.build(content, output, ("full",)).written
    return path


def _front_laid_out(monkeypatch: pytest.MonkeyPatch) -> list[list[int]]:
    """The pieces of the title page and contents laid out from now on, each as the entries it was laid out with."""
    laid_out: list[list[int]] = []
    real = pdfengine.layout

    def layout(document: str, *arguments: Any) -> Any:
        if 'class="toc"' in document:
            laid_out.append([int(number) for number in re.findall(r'<a href="#q(\d+)"', document)])
        return real(document, *arguments)

    monkeypatch.setattr(pdfengine, "layout", layout)
    return laid_out


def _laid_out(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every document laid out from now on (questions, contents), by its first 200 characters of body."""
    laid_out: list[str] = []
    real = pdfengine.layout

    def layout(document: str, *arguments: Any) -> Any:
        laid_out.append(document.split("<body>", 1)[-1][:200])
        return real(document, *arguments)

    monkeypatch.setattr(pdfengine, "layout", layout)
    return laid_out


def _front_pieces(cache: Path, slug: str = "") -> list[tuple[str, int, int, str, int]]:
    """What the last build remembers of its front's pieces (of the deck `slug` on A4, when the cache holds others):
    first question's id, entries, entries laid out, file, pages."""
    (memory,) = (cache / "pdf").glob(f"{slug}-a4+full-parts.json" if slug else "*+full-parts.json")
    return [tuple(piece) for piece in json.loads(memory.read_text(encoding="utf-8"))["front"]]  # type: ignore[misc]


def _links(path: Path) -> list[list[tuple[str, tuple[float, ...]]]]:
    """Each page's links: where each goes (`q57`, or a web address) and where it lies (to 0.01 pt)."""
    with pikepdf.open(path) as pdf:
        return [
            [
                (
                    str(annotation.Dest if "/Dest" in annotation else annotation.A.URI),
                    tuple(round(float(value), 2) for value in annotation.Rect),
                )
                for annotation in page.obj.get("/Annots", [])
            ]
            for page in pdf.pages
        ]


def _destinations(path: Path) -> dict[str, int]:
    """Each named destination (`#q57`) by the page it points at."""
    with pikepdf.open(path) as pdf:
        pages = {page.obj.objgen: index for index, page in enumerate(pdf.pages)}
        return {
            str(name): pages[destination[0].objgen]
            for name, destination in pikepdf.NameTree(pdf.Root.Names.Dests).items()
        }


def _outline(path: Path) -> list[tuple[str, int, int]]:
    """Every bookmark: its title, level and page."""
    with pikepdf.open(path) as pdf:
        pages = {page.obj.objgen: index for index, page in enumerate(pdf.pages)}
        found: list[tuple[str, int, int]] = []

        def walk(items: Any, level: int) -> None:
            for item in items:
                found.append((item.title, level, pages[item.destination[0].objgen]))
                walk(item.children, level + 1)

        with pdf.open_outline() as outline:
            walk(outline.root, 0)
        return found


def _characters(path: Path) -> list[tuple[str, list[tuple[str, float, float]]]]:
    """Each page's text (line by line) and its characters where they are drawn (to 0.01 pt)."""
    return [
        (page.text, sorted((char["text"], round(char["x0"], 2), round(char["top"], 2)) for char in page.chars))
        for page in pdfread.read(path)
    ]


def assert_same_pages(pieced: Path, whole: Path) -> None:
    """Page for page, the same text and characters where they were, links where they were going where they went,
    named destinations and outline."""
    ours, theirs = _characters(pieced), _characters(whole)
    assert len(ours) == len(theirs), "pages"
    for number, (one, other) in enumerate(zip(ours, theirs, strict=True), start=1):
        assert one[0] == other[0], f"page {number}'s text"
        assert one[1] == other[1], f"page {number}: {sorted(set(one[1]) ^ set(other[1]))[:10]}"
    assert _links(pieced) == _links(whole)
    assert _destinations(pieced) == _destinations(whole)
    assert _outline(pieced) == _outline(whole)


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@dataclasses.dataclass(frozen=True)
class Bank:
    """150 notes, and their booklet built once with the front laid out whole (its cache holds every question part)."""

    content: Path
    cache: Path
    whole: Path

    def copy(self, folder: Path) -> tuple[Path, Path]:
        """A content folder and a cache of the test's own, as the whole build left them (hard links)."""
        shutil.copytree(self.content, folder / "content")
        link_tree(self.cache, folder / "cache")
        return folder / "content", folder / "cache"


@pytest.fixture(scope="module")
def bank(tmp_path_factory: pytest.TempPathFactory) -> Bank:
    folder = tmp_path_factory.mktemp("front-bank")
    content = _bank(folder, 150)
    whole = _booklet(content, folder / "whole", folder / "cache", WHOLE)
    assert len(_front_pieces(folder / "cache")) == 1, "the front laid out whole"
    return Bank(content, folder / "cache", whole)


def test_a_contents_of_several_pages_in_pieces_reads_as_laid_out_whole(
    bank: Bank, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    content, cache = bank.copy(tmp_path)
    laid_out = _front_laid_out(monkeypatch)
    pieced = _booklet(content, tmp_path / "pieced", cache, PIECE)
    pieces = _front_pieces(cache)
    assert len(pieces) >= 4, pieces
    assert [first for first, *_ in pieces][:1] == ["front0001"]
    assert max(len(entries) for entries in laid_out) <= 4 * PIECE, "no piece laid out with the whole contents"
    assert_same_pages(pieced, bank.whole)

    # And as the whole booklet laid out as one document, its contents' numbers counted by WeasyPrint.
    deck = pipeline.check(content).deck
    context = pipeline.context_for(deck, pipeline.BuildOptions(content))
    roots = context.pdf_roots(content)
    one = tmp_path / "one-document.pdf"
    pdfengine.write(booklet.html_of(deck, context), content, roots, one)
    rounded = [[(text, round(x * 2) / 2, round(top * 2) / 2) for text, x, top in page] for _, page in _characters(one)]
    assert rounded == [
        [(text, round(x * 2) / 2, round(top * 2) / 2) for text, x, top in page] for _, page in _characters(pieced)
    ]
    front_pages = sum(pages for *_, pages in _front_pieces(cache))
    goes_to = [[target for target, _ in page] for page in _links(pieced)[:front_pages]]
    assert goes_to == [[target for target, _ in page] for page in _links(one)[:front_pages]]
    assert list(dict.fromkeys(target for page in goes_to for target in page if target.startswith("q"))) == [
        f"q{note.number}" for note in deck.notes
    ], "every entry links to its question, in order"
    assert _destinations(pieced) == _destinations(one)

    # The case that needs care is here: an entry split across two pages, the second of which begins with its end.
    front = pdfengine.layout(
        booklet.front_html(deck, {note.number: 100 for note in deck.notes}, context), content, roots, one
    )
    assert any(entry.first_page < entry.last_page for entry in pdfengine.placed(front, "data-entry"))


def test_a_rebuild_lays_nothing_out_and_an_edit_only_the_pieces_whose_entries_changed(
    bank: Bank, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    content, cache = bank.copy(tmp_path)
    first = _booklet(content, tmp_path / "first", cache, PIECE)
    pieces = _front_pieces(cache)

    laid_out = _laid_out(monkeypatch)
    assert _digest(_booklet(content, tmp_path / "again", cache, PIECE)) == _digest(first)
    assert laid_out == [], "nothing changed: nothing laid out"

    # Question 140 a page longer: the page numbers of 141 to 150 move, and only their entries change.
    note = note_file(content, 140)
    note.write_text(note.read_text(encoding="utf-8") + "\n" + "A longer answer. " * 400 + "\n", encoding="utf-8")
    front = _front_laid_out(monkeypatch)
    edited = _booklet(content, tmp_path / "edited", cache, PIECE)
    # A piece is cut from a layout of more entries than it keeps: the pieces whose layouts held no entry from 141
    # on are kept; the first whose layout did, and every one after it, is laid out again.
    windows = {int(first.removeprefix("front")): window for first, _, window, _, _ in pieces}
    kept = [start for start, window in windows.items() if start + window <= 141]
    changed = min(start for start, window in windows.items() if start + window > 141)
    assert len(kept) >= 2, f"the test keeps too few pieces to see: {pieces}"
    assert front, "no piece laid out again"
    assert min(entries[0] for entries in front) == changed, f"laid out again: {[entries[0] for entries in front]}"
    assert _digest(edited) == _digest(_booklet(content, tmp_path / "cold", tmp_path / "empty", PIECE))

    # A first build whose guess of the front's pages is wrong lays the pieces out again with the numbers moved, and
    # keeps only the pieces it joined.
    monkeypatch.setattr(booklet, "_front_pages_guess", lambda *_: 2)
    del front[:]
    guessed = _booklet(content, tmp_path / "guessed", tmp_path / "guessed-cache", PIECE)
    assert sum(entries[0] == 1 for entries in front) >= 2, "the title page laid out once: the guess was not wrong"
    assert _digest(guessed) == _digest(edited)
    front_files = {name for *_, name, _ in _front_pieces(tmp_path / "guessed-cache")}
    questions = {
        name for name in booklet._Memory(next((tmp_path / "guessed-cache" / "pdf").glob("*parts.json"))).layouts
    }
    cached = {path.name for path in (tmp_path / "guessed-cache" / "pdf").glob("*+full-*.pdf")}
    assert len(cached - front_files - questions) == 1, "the front's pieces, the questions' parts and the page numbers"


def test_the_shipped_decks_front_in_pieces_reads_as_laid_out_whole(
    tmp_path: Path, own_cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Its contents is one page: no entry after the first opens a page, so the piece is laid out with more entries
    until it holds them all, and it is the front whole."""
    whole = _booklet(CONTENT, tmp_path / "whole", own_cache, WHOLE)
    laid_out = _front_laid_out(monkeypatch)
    pieced = _booklet(CONTENT, tmp_path / "pieced", own_cache, 4)
    assert laid_out[0] == [51, 52, 53, 54], laid_out
    assert laid_out[-1] == list(range(51, 66)), laid_out
    assert len(_front_pieces(own_cache, "dl-interview-51-65")) == 1
    assert_same_pages(pieced, whole)


@pytest.mark.parametrize("change", ["entries not marked", "every piece with a title page"])
def test_a_deck_template_that_does_not_lay_its_front_out_in_pieces_gets_it_whole(
    bank: Bank, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, change: str
) -> None:
    """A deck's own booklet.html.j2, written for a booklet that laid its contents out whole: no error, the front
    laid out whole (an unmarked one without laying a piece out first)."""
    content, cache = bank.copy(tmp_path)
    packaged = (TEMPLATES / "booklet.html.j2").read_text(encoding="utf-8")
    if change == "entries not marked":
        own = packaged.replace(' data-entry="{{ entry.number }}"', "")
    else:
        own = packaged.replace("{% if not continued %}", "{% if true %}")
    assert own != packaged
    (content / "templates").mkdir()
    (content / "templates" / "booklet.html.j2").write_text(own, encoding="utf-8")
    laid_out = _front_laid_out(monkeypatch)
    pieced = _booklet(content, tmp_path / "pieced", cache, PIECE)
    assert laid_out[-1] == list(range(1, 151)), "the front laid out whole"
    if change == "entries not marked":
        assert len(laid_out) == 1, laid_out
    assert len(_front_pieces(cache)) == 1
    assert_same_pages(pieced, bank.whole)


def test_an_entrys_top_margin_dropped_at_a_page_break_is_dropped_at_the_top_of_a_later_piece(
    bank: Bank, tmp_path: Path
) -> None:
    """WeasyPrint drops a margin at an unforced page break but keeps it at the top of a document: a later piece
    would start its first entry lower than the whole contents does (and be laid out whole instead)."""
    content, cache = bank.copy(tmp_path)
    stylesheet = (TEMPLATES / "booklet.css").read_text(encoding="utf-8")
    (content / "templates").mkdir()
    (content / "templates" / "booklet.css").write_text(
        stylesheet + "\n.toc li { margin-top: 2mm; }\n", encoding="utf-8"
    )
    whole = _booklet(content, tmp_path / "whole", cache, WHOLE)
    pieced = _booklet(content, tmp_path / "pieced", cache, PIECE)
    assert len(_front_pieces(cache)) >= 4
    assert_same_pages(pieced, whole)
