"""Issue 14, target 3: the study page keeps each note's fragments in the cache folder (`page/`), and a build after
a one-note edit makes only that note's fragments again; the page is byte for byte the one a cold build writes.

Every build runs in this process; which fragments are made is seen by wrapping the page writer's own
`_self_contained` (it still does the work).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from generator import build as pipeline
from generator import markup, mathrender
from generator.model import Note
from generator.writers import page
from tests.conftest import TEMPLATES, link_tree, note_file

EDITED = 58


@pytest.fixture
def made(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The number of the note of every fragment the page writer makes from now on (the real work, counted)."""
    numbers: list[int] = []
    real = page._self_contained

    def counting(fragment: str, note: Note, glyphs: page.Glyphs) -> str:
        numbers.append(note.number)
        return real(fragment, note, glyphs)

    monkeypatch.setattr(page, "_self_contained", counting)
    return numbers


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A cache of the test's own holding the session's drawn formulas, and no page fragment."""
    folder = tmp_path / "cache"
    link_tree(Path(os.environ["STUDYKIT_CACHE_DIR"]) / "math", folder / "math")
    monkeypatch.setenv("STUDYKIT_CACHE_DIR", str(folder))
    yield folder


def _page(content: Path, output: Path, templates: Path = TEMPLATES) -> bytes:
    report = pipeline.build(content, output, ("html",), templates_dir=templates, jobs=1)
    return (output / f"{report.deck.slug}.html").read_bytes()


def _edit(content: Path, number: int = EDITED) -> None:
    path = note_file(content, number)
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace("## Key points\n\n- ", "## Key points\n\n- Added by a test. ", 1), encoding="utf-8")


def test_a_warm_page_after_an_edit_is_the_cold_page(
    content_copy: Path, tmp_path: Path, cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = _page(content_copy, tmp_path / "out")
    assert list((cache / "page").glob("*.pickle")), "the fragments are kept"
    (tmp_path / "out" / "dl-interview-51-65.html").unlink()
    assert _page(content_copy, tmp_path / "out") == first, "a page made of kept fragments is the cold page"
    _edit(content_copy)
    warm = _page(content_copy, tmp_path / "out")
    assert warm != first and b"Added by a test." in warm
    # Cold: an empty cache, formulas drawn afresh (none kept in memory either).
    monkeypatch.setenv("STUDYKIT_CACHE_DIR", str(tmp_path / "empty"))
    mathrender.render.cache_clear()
    try:
        assert _page(content_copy, tmp_path / "cold") == warm
    finally:
        mathrender.render.cache_clear()


def test_only_the_edited_notes_fragment_is_made_again(
    content_copy: Path, tmp_path: Path, cache: Path, made: list[int]
) -> None:
    _page(content_copy, tmp_path / "out")
    assert sorted(set(made)) == list(range(51, 66)) and len(made) == 30, "cold: both fragments of every note"
    made.clear()
    _edit(content_copy)
    _page(content_copy, tmp_path / "out")
    assert made == [EDITED], "only the edited section (its key points) of the edited note"
    made.clear()
    (tmp_path / "out" / "dl-interview-51-65.html").unlink()
    _page(content_copy, tmp_path / "out")
    assert made == [], "nothing changed: every fragment is kept"


def test_a_changed_template_makes_every_fragment_again(
    content_copy: Path, tmp_path: Path, cache: Path, made: list[int]
) -> None:
    templates = tmp_path / "templates"
    shutil.copytree(TEMPLATES, templates)
    _page(content_copy, tmp_path / "out", templates)
    made.clear()
    template = templates / "page.html.j2"
    template.write_text(template.read_text(encoding="utf-8") + "{# changed #}\n", encoding="utf-8")
    _page(content_copy, tmp_path / "out", templates)
    assert len(made) == 30, "a new template: no fragment kept"
    made.clear()
    stylesheet = templates / "page.css"
    stylesheet.write_text(stylesheet.read_text(encoding="utf-8") + "\n/* changed */\n", encoding="utf-8")
    _page(content_copy, tmp_path / "out", templates)
    assert len(made) == 30, "a new stylesheet: no fragment kept"


def test_a_kept_fragment_whose_glyph_id_names_another_outline_is_made_again(
    content_copy: Path, tmp_path: Path, cache: Path, made: list[int]
) -> None:
    """A fragment kept with a glyph that the page already has under the same id, drawn otherwise, is not taken
    as kept: its formulas keep their own outlines, as they do on a page made without the cache."""
    deck = pipeline.build(content_copy, tmp_path / "out", ("html",), jobs=1).deck
    note = next(note for note in deck.notes if markup.MATH_SPAN.search(note.key_points_html))
    file = tmp_path / "fragments.pickle"
    making = page.Fragments(file, "test", deck.content_dir)
    first = page.Glyphs()
    shared = first.fragment(note.key_points_html, note, making)
    making.save()
    glyph = next(iter(first.symbols))
    assert '<img class="math"' not in shared, "its formulas share their glyphs"
    kept = page.Fragments(file, "test", deck.content_dir)
    assert kept.get(kept.key(note.key_points_html, note)) == page._Fragment(shared, tuple(first.symbols.items()))

    def clashing() -> page.Glyphs:
        glyphs = page.Glyphs()
        glyphs.symbols[glyph] = f'<path id="{glyph}" d="M0 0"></path>'  # an earlier formula's other outline
        return glyphs

    made.clear()
    again = clashing().fragment(note.key_points_html, note, kept)
    assert made == [note.number], "made again, not taken from the cache"
    assert again == page._self_contained(note.key_points_html, note, clashing())
    assert '<img class="math"' in again, "the clashing formula keeps its own outlines"
