"""Cached PDF parts found by their signatures (`rendercache.PartSignatures`), without making their HTML.

The cheat sheet, the booklet and the flashcards keep each part by the hash of its HTML; a rebuild finds a part by
the signature of what that HTML is made of, and makes the HTML only of the parts whose signature it does not know.
Here, for each of the three: a rebuild with nothing changed makes no part's HTML (nor opens a part to count its
pages), an edit makes only the edited note's part's, and each thing the HTML is made of, changed, makes the parts
it shows in again; every rebuild writes the bytes a build from an empty cache writes.

The parts are small (two notes a part of the sheet, two cards a sheet) so that a few shipped notes make several.
The changes are built with notes read afresh (as `studykit serve` reads them): a note the store gave has a key
that also names the deck's other files (deck.yaml, images, templates), which would hide a signature that
forgot them.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from generator import build as pipeline
from generator import pdfjoin, reader, templating
from generator.context import BuildOptions
from generator.model import Deck, Note
from generator.writers import booklet, cards, sheet
from tests.conftest import EPOCH, content_with, link_tree, note_file

# Parts of two notes on the sheet, two cards a sheet.
SMALL_PARTS: tuple[tuple[Any, str, int], ...] = (
    (sheet, "_PART_MIN", 2),
    (sheet, "_PART_SPREAD", 1),
    (sheet, "_PART_MAX", 2),
    (cards, "CARDS_PER_SHEET", 2),
)
# Each output's notes: the sheet's parts are 51-52, 56-57 and 58; the booklet's 52-53 and 54 (54 opens a page);
# the cards' sheets 52-56 and 57-58. Figures: 52's and 53's key points show one each.
NOTES = {"pdf": (51, 52, 56, 57, 58), "full": (52, 53, 54), "cards": (52, 56, 57, 58)}
PARTS = {"pdf": ((51, 52), (56, 57), (58,)), "full": ((52, 53), (54,)), "cards": ((52, 56), (57, 58))}
# A note edited in each, and the notes of the part that holds it.
EDITED = {"pdf": (56, {56, 57}), "full": (54, {54}), "cards": (57, {57, 58})}
STYLESHEETS = {"pdf": "cheatsheet.css", "full": "booklet.css", "cards": "cards.css"}


def _small_parts(patch: pytest.MonkeyPatch) -> None:
    for module, name, value in SMALL_PARTS:
        patch.setattr(module, name, value)


def _build(
    content: Path,
    output: Path,
    cache: Path,
    name: str,
    *,
    store: bool = True,
    paper: str = "a4",
    templates: Path = templating.TEMPLATES_DIR,
) -> Path:
    """One output built with `cache` as the cache; its drawn formulas linked from the session's (the math is not what
    is tested here). Without `store`, the notes are read afresh (`reader.NoteCache`), not from the note store."""
    session = Path(os.environ["STUDYKIT_CACHE_DIR"]) / "math"
    if session.is_dir() and not (cache / "math").exists():
        link_tree(session, cache / "math")
    with pytest.MonkeyPatch.context() as patch:
        _small_parts(patch)
        patch.setenv("STUDYKIT_CACHE_DIR", str(cache))
        patch.setenv("SOURCE_DATE_EPOCH", str(EPOCH))
        notes = None if store else reader.NoteCache()
        options = BuildOptions(content, output, (name,), templates, paper, notes=notes)
        (path,) = pipeline.run(options).written
    return path


def _cold(content: Path, folder: Path, name: str, **options: Any) -> bytes:
    """The output built from an empty cache (but the session's formulas)."""
    shutil.rmtree(folder, ignore_errors=True)
    return _build(content, folder / "out", folder / "cache", name, **options).read_bytes()


def _html_made(monkeypatch: pytest.MonkeyPatch) -> list[tuple[int, ...]]:
    """From now on, the notes (by number) of each part whose HTML the writers make."""
    made: list[tuple[int, ...]] = []

    def numbers(notes: Any) -> tuple[int, ...]:
        return tuple(note.number for note in notes)

    sheet_part, booklet_part, cards_html = sheet.part_html, booklet.part_html, cards.html_of

    def sheet_part_html(deck: Deck, notes: list[Note], *rest: Any) -> str:
        made.append(numbers(notes))
        return sheet_part(deck, notes, *rest)

    def booklet_part_html(deck: Deck, notes: tuple[Note, ...], *rest: Any) -> str:
        made.append(numbers(notes))
        return booklet_part(deck, notes, *rest)

    def cards_html_of(deck: Deck, *rest: Any, **options: Any) -> str:
        made.append(numbers(deck.notes))
        return cards_html(deck, *rest, **options)

    monkeypatch.setattr(sheet, "part_html", sheet_part_html)
    monkeypatch.setattr(booklet, "part_html", booklet_part_html)
    monkeypatch.setattr(cards, "html_of", cards_html_of)
    return made


@dataclass
class FirstBuilds:
    """Each output built once from an empty cache (notes from the store), and once more with notes read afresh.

    Its content folder is where every test of that output builds: a part's signature names the deck's folder (every
    field of the deck does), so a copy elsewhere would make every part's HTML again. Each test starts from the
    folder as it was first built (`copy`).
    """

    folder: Path
    built: dict[tuple[str, bool], Path] = field(default_factory=dict)  # the cache of each (output, store)
    outputs: dict[str, bytes] = field(default_factory=dict)  # what each first build wrote

    def copy(self, name: str, store: bool, folder: Path) -> tuple[Path, Path]:
        """The output's content folder as it was first built, and a cache of the test's own as the first build of
        `name` left it (with notes from the store or read afresh)."""
        content, pristine = self.folder / name / "content", self.folder / name / "pristine"
        if (name, True) not in self.built:
            shutil.copytree(content_with(self.folder / name / "shipped", NOTES[name]), pristine)
        shutil.rmtree(content, ignore_errors=True)
        shutil.copytree(pristine, content)  # times kept: the same files as far as a build can tell
        if (name, True) not in self.built:
            built = _build(content, self.folder / name / "out", self.folder / name / "cache", name)
            self.outputs[name] = built.read_bytes()
            self.built[name, True] = self.folder / name / "cache"
        if (name, store) not in self.built:
            # The store's keys and fresh notes' are other signatures for the same parts: found, not laid out.
            cache = self.folder / name / "fresh-cache"
            link_tree(self.built[name, True], cache)
            _build(content, self.folder / name / "fresh-out", cache, name, store=False)
            self.built[name, store] = cache
        link_tree(self.built[name, store], folder / "cache")  # a build replaces a cache file, never writes into one
        return content, folder / "cache"


@pytest.fixture(scope="module")
def first_builds(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FirstBuilds]:
    yield FirstBuilds(tmp_path_factory.mktemp("first-builds"))


def _edit_key_points(content: Path, number: int, line: str = "- One more point.") -> None:
    path = note_file(content, number)
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace("## Key points\n", f"## Key points\n\n{line}\n", 1), encoding="utf-8")


@pytest.mark.parametrize("name", ["pdf", "full", "cards"])
def test_a_rebuild_makes_the_html_of_the_edited_notes_part_only(
    name: str, first_builds: FirstBuilds, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    content, cache = first_builds.copy(name, True, tmp_path)
    made = _html_made(monkeypatch)
    opened: list[Path] = []
    pages_in = pdfjoin.pages_in
    monkeypatch.setattr(pdfjoin, "pages_in", lambda path: opened.append(path) or pages_in(path))
    unchanged = _build(content, tmp_path / "unchanged", cache, name)
    assert made == [], "nothing changed: every part is found by its signature, no HTML made"
    assert unchanged.read_bytes() == first_builds.outputs[name]
    saved = json.loads(next((cache / "pdf").glob(f"*+{name}-signatures.json")).read_text(encoding="utf-8"))
    parts = set(saved["names"].values())
    assert len(parts) == len(PARTS[name])
    assert not [path for path in opened if path.name in parts], "no part opened to count its pages: remembered"

    number, part = EDITED[name]
    _edit_key_points(content, number)
    made.clear()
    edited = _build(content, tmp_path / "edited", cache, name)
    notes = {number for numbers in made for number in numbers}
    assert number in notes and notes <= part, f"only the HTML of the part holding {number} is made: {made}"
    assert edited.read_bytes() == _cold(content, tmp_path / "cold", name)


@dataclass(frozen=True)
class Change:
    """Something a part's HTML is made of, changed in the content folder; the build's options it asks for."""

    name: str
    change: Callable[[Path, Path], dict[str, Any]]  # (content, a scratch folder) -> options for `_build`
    parts: set[int] | None = None  # the notes whose parts must be made again; None: all
    before: Callable[[Path], None] | None = None  # what the content holds first (built, then `change`d)


def _deck_field(key: str, value: str) -> Callable[[Path, Path], dict[str, Any]]:
    def change(content: Path, scratch: Path) -> dict[str, Any]:
        path = content / "deck.yaml"
        text, count = re.subn(rf"(?m)^{key}: .*$", f"{key}: {value}", path.read_text(encoding="utf-8"))
        path.write_text(text if count else text + f"{key}: {value}\n", encoding="utf-8")
        return {}

    return change


def _own_stylesheet(name: str) -> Callable[[Path, Path], dict[str, Any]]:
    """The deck's own copy of the output's stylesheet, its questions in another colour."""

    def change(content: Path, scratch: Path) -> dict[str, Any]:
        css = templating.read(templating.TEMPLATES_DIR, STYLESHEETS[name])
        (content / "templates").mkdir(exist_ok=True)
        (content / "templates" / STYLESHEETS[name]).write_text(css + "\nh2 { color: #a0522d; }\n", encoding="utf-8")
        return {}

    return change


def _own_template_showing_the_last_question(content: Path) -> None:
    """The deck's own cheat-sheet template, which shows the deck's last question in every part."""
    template = templating.read(templating.TEMPLATES_DIR, "cheatsheet.html.j2")
    shown = template.replace("<body>\n", '<body>\n<p class="credit">Last: {{ deck.notes[-1].question }}</p>\n', 1)
    assert shown != template
    (content / "templates").mkdir(exist_ok=True)
    (content / "templates" / "cheatsheet.html.j2").write_text(shown, encoding="utf-8")


def _last_question_edited(content: Path, scratch: Path) -> dict[str, Any]:
    """The deck's last question edited: its note is in the last part only."""
    path = note_file(content, 58)
    text = path.read_text(encoding="utf-8")
    path.write_text(re.sub(r"(?m)^question: .*$", "question: What is the chain rule, again?", text, count=1), "utf-8")
    return {}


def _packaged_stylesheet(name: str) -> Callable[[Path, Path], dict[str, Any]]:
    """Another folder of packaged templates (`--templates`), the output's stylesheet changed in it."""

    def change(content: Path, scratch: Path) -> dict[str, Any]:
        templates = scratch / "templates"
        shutil.copytree(templating.TEMPLATES_DIR, templates)
        with (templates / STYLESHEETS[name]).open("a", encoding="utf-8") as css:
            css.write("\nh2 { color: #2e8b57; }\n")
        return {"templates": templates}

    return change


def _letter(content: Path, scratch: Path) -> dict[str, Any]:
    return {"paper": "letter"}


def _edit(number: int) -> Callable[[Path, Path], dict[str, Any]]:
    def change(content: Path, scratch: Path) -> dict[str, Any]:
        _edit_key_points(content, number)
        return {}

    return change


def _redraw(figure: str) -> Callable[[Path, Path], dict[str, Any]]:
    """The figure's bytes changed (its first colour another), the notes untouched."""

    def change(content: Path, scratch: Path) -> dict[str, Any]:
        path = content / "figures" / figure
        svg = path.read_text(encoding="utf-8")
        redrawn = re.sub(r"#[0-9a-fA-F]{6}\b", "#ff00ff", svg, count=1)
        assert redrawn != svg, f"{figure} has no colour to change"
        path.write_text(redrawn, encoding="utf-8")
        return {}

    return change


def _add(number: int) -> Callable[[Path, Path], dict[str, Any]]:
    """A shipped note added to the deck."""

    def change(content: Path, scratch: Path) -> dict[str, Any]:
        shipped = content_with(scratch / "shipped", (number,))
        shutil.copy2(note_file(shipped, number), content)
        return {}

    return change


def _remove(*numbers: int) -> Callable[[Path, Path], dict[str, Any]]:
    def change(content: Path, scratch: Path) -> dict[str, Any]:
        for number in numbers:
            note_file(content, number).unlink()  # their figures stay, unused (a warning each)
        return {}

    return change


CHANGES = {
    "pdf": [
        Change("title", _deck_field("title", "Another title")),
        Change("own stylesheet", _own_stylesheet("pdf")),
        Change(
            "own template reading every note", _last_question_edited, before=_own_template_showing_the_last_question
        ),
        Change("packaged stylesheet", _packaged_stylesheet("pdf")),
        Change("paper", _letter),
        Change("a note", _edit(56), {56, 57}),
        Change("an image", _redraw("bbox_regression.svg"), {51, 52}),
        # The first part's heading counts the questions; the note joins the last part.
        Change("a note added", _add(59), {51, 52, 58, 59}),
    ],
    "full": [
        Change("footer", _deck_field("footer", "Another footer")),
        Change("own stylesheet", _own_stylesheet("full")),
        Change("packaged stylesheet", _packaged_stylesheet("full")),
        Change("a note", _edit(54), {54}),
        Change("an image", _redraw("selective_search.svg"), {52, 53}),
        # 54 the first question: its part, its notes unchanged, no longer opens with the room a later question takes.
        Change("the first notes removed", _remove(52, 53), {54}),
    ],
    "cards": [
        Change("title", _deck_field("title", "Another title")),
        Change("own stylesheet", _own_stylesheet("cards")),
        Change("a note", _edit(57), {57, 58}),
        Change("an image", _redraw("bbox_regression.svg"), {52, 56}),
        # Every sheet's foot counts the sheets: a third.
        Change("a note added", _add(59)),
    ],
}


@pytest.mark.parametrize(
    ("name", "change"),
    [pytest.param(name, change, id=f"{name}-{change.name}") for name, changes in CHANGES.items() for change in changes],
)
def test_what_the_html_is_made_of_changed_makes_its_parts_again(
    name: str, change: Change, first_builds: FirstBuilds, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    content, cache = first_builds.copy(name, False, tmp_path)
    if change.before is not None:
        change.before(content)
        _build(content, tmp_path / "before", cache, name, store=False)
    options = change.change(content, tmp_path)
    made = _html_made(monkeypatch)
    rebuilt = _build(content, tmp_path / "rebuilt", cache, name, store=False, **options)
    notes = {number for numbers in made for number in numbers}
    every = {int(path.name.split("-")[0]) for path in content.glob("*.md")}
    wanted = every if change.parts is None else change.parts
    assert wanted <= notes, f"the parts of {sorted(wanted - notes)} are found by their old signature: {made}"
    assert rebuilt.read_bytes() == _cold(content, tmp_path / "cold", name, store=False, **options)
