"""Issue 14, fast no-op builds: what an earlier build read and wrote is reused while nothing it came from changed.

Notes are kept read (parsed, converted, checked) in the cache folder by their file's bytes; each output is
recorded with the fingerprint of its inputs and the hash of the file written, and left alone by a build whose
fingerprint is the same while the file still holds those bytes. Every test builds in this process, as a second
`studykit build` would in a new one: the kept notes and records are read back from the cache folder.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from generator import build as pipeline
from generator import markup, mathrender, reader, stamps
from generator.writers import anki, tsv
from tests.conftest import ROOT, link_tree


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    folder = tmp_path / "cache"
    # The formulas drawn and checked are the session's (hard links): what is tested here is the notes and outputs kept.
    link_tree(Path(os.environ["STUDYKIT_CACHE_DIR"]) / "math", folder / "math")
    monkeypatch.setenv("STUDYKIT_CACHE_DIR", str(folder))
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    mathrender.render.cache_clear()
    yield folder
    mathrender.render.cache_clear()


@pytest.fixture
def conversions(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The Markdown texts converted from now on."""
    seen: list[str] = []
    html = markup.Converter.html

    def counting(self: markup.Converter, text: str, context: object = None) -> str:
        seen.append(text)
        return html(self, text, context)  # type: ignore[arg-type]

    monkeypatch.setattr(markup.Converter, "html", counting)
    return seen


def _edit(content: Path, number: int = 52) -> Path:
    note = next(content.glob(f"{number}-*.md"))
    note.write_text(
        note.read_text(encoding="utf-8").replace("## Full answer\n", "## Full answer\n\nNew.\n", 1), "utf-8"
    )
    return note


def test_a_second_read_converts_no_markdown_and_gives_the_same_deck(
    content_copy: Path, cache: Path, conversions: list[str]
) -> None:
    first = reader.read_deck(content_copy)
    assert conversions, "the first read converts every note"
    conversions.clear()
    second = reader.read_deck(content_copy)
    assert conversions == []
    assert second.deck == first.deck and second.warnings == first.warnings
    assert second.fingerprint == first.fingerprint != ""


def test_an_edit_reads_that_note_again_and_only_it(content_copy: Path, cache: Path, conversions: list[str]) -> None:
    first = reader.read_deck(content_copy)
    conversions.clear()
    _edit(content_copy)
    second = reader.read_deck(content_copy)
    assert any("New." in text for text in conversions)
    assert len(conversions) <= 3, "the key points, the answer and its clozes of one note"
    changed = [n.number for n, m in zip(first.deck.notes, second.deck.notes, strict=True) if n != m]
    assert changed == [52]
    assert second.fingerprint != first.fingerprint


def test_a_kept_note_says_its_warnings_again(content_copy: Path, cache: Path) -> None:
    note = next(content_copy.glob("53-*.md"))
    note.write_text(note.read_text(encoding="utf-8").replace("---\n", "---\nextra: 1\n", 1), encoding="utf-8")
    first = reader.read_deck(content_copy).warnings
    assert any("extra" in warning.message for warning in first)
    assert reader.read_deck(content_copy).warnings == first


def test_a_damaged_note_cache_is_read_afresh(content_copy: Path, cache: Path, conversions: list[str]) -> None:
    expected = reader.read_deck(content_copy).deck
    (kept,) = (cache / "notes").glob("*.pickle")
    kept.write_bytes(b"not a pickle")
    conversions.clear()
    assert reader.read_deck(content_copy).deck == expected
    assert conversions


def test_a_copy_elsewhere_reuses_the_notes_it_shares_and_names_its_own_files(
    content_copy: Path, tmp_path: Path, cache: Path, conversions: list[str]
) -> None:
    """The kept notes belong to the deck, not the folder: a copy of it (times kept, as a clone or `cp -p` keeps
    them) reads only the note it changed, and every place in the deck and its warnings is in the copy."""
    note = next(content_copy.glob("53-*.md"))
    note.write_text(note.read_text(encoding="utf-8").replace("---\n", "---\nextra: 1\n", 1), encoding="utf-8")
    reader.read_deck(content_copy)
    copy = tmp_path / "elsewhere" / "deck"
    shutil.copytree(content_copy, copy)
    _edit(copy)
    conversions.clear()
    moved = reader.read_deck(copy)
    assert any("New." in text for text in conversions)
    assert len(conversions) <= 3, "only the edited note is read again"
    conversions.clear()
    cold = reader.read_deck(copy, stored=False)
    assert moved.deck == cold.deck and moved.warnings == cold.warnings
    places = [note.location.path for note in moved.deck.notes] + [w.location.path for w in moved.warnings]
    assert places and all(path.is_relative_to(copy) for path in places), places


def test_kept_notes_name_their_files_as_this_build_is_given_them(
    content_copy: Path, cache: Path, monkeypatch: pytest.MonkeyPatch, conversions: list[str]
) -> None:
    reader.read_deck(content_copy.resolve())
    monkeypatch.chdir(content_copy.parent)
    conversions.clear()
    relative = reader.read_deck(Path(content_copy.name))
    assert conversions == []
    assert all(not note.location.path.is_absolute() for note in relative.deck.notes)
    assert relative.deck == reader.read_deck(Path(content_copy.name), stored=False).deck


def test_a_note_whose_report_names_the_folder_is_not_kept(
    content_copy: Path, cache: Path, conversions: list[str]
) -> None:
    """An OS error's message holds the file's full path: kept, a copy of the deck would be told of this folder."""
    note = next(content_copy.glob("54-*.md"))
    too_long = "figures/" + "x" * 300 + ".svg"
    note.write_text(note.read_text(encoding="utf-8") + f"\n![a figure]({too_long})\n", encoding="utf-8")
    with pytest.raises(reader.BuildFailed) as failed:
        reader.read_deck(content_copy)
    assert any(str(content_copy) in problem.message for problem in failed.value.problems)
    conversions.clear()
    with pytest.raises(reader.BuildFailed):
        reader.read_deck(content_copy)
    assert conversions, "the note that named the folder was read again"
    assert len(conversions) <= 3, "and only it"


def test_a_rebuild_with_nothing_changed_writes_nothing_and_keeps_the_bytes(
    content_copy: Path, tmp_path: Path, cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    output = tmp_path / "out"
    first = pipeline.build(content_copy, output, ("apkg", "tsv"))
    files = {path: path.read_bytes() for path in first.written}
    converted: list[int] = []
    convert = anki.convert
    monkeypatch.setattr(tsv, "convert", lambda *args, **kwargs: converted.append(1) or convert(*args, **kwargs))
    monkeypatch.setattr(anki, "convert", lambda *args, **kwargs: converted.append(1) or convert(*args, **kwargs))
    second = pipeline.build(content_copy, output, ("apkg", "tsv"))
    assert converted == [], "neither writer ran"
    assert sorted(second.unchanged) == sorted(first.written)
    assert {path: path.read_bytes() for path in second.written} == files
    assert second.notices == ["deck: no note changed since the previous build"]

    # The same bytes as a build from nothing (no previous deck, no cache) writes.
    fresh = pipeline.build(content_copy, tmp_path / "fresh", ("apkg", "tsv"))
    assert [path.read_bytes() for path in fresh.written] == list(files.values())


def test_an_output_changed_or_removed_since_is_written_again(content_copy: Path, tmp_path: Path, cache: Path) -> None:
    output = tmp_path / "out"
    apkg, tsv_file = pipeline.build(content_copy, output, ("apkg", "tsv")).written
    expected = tsv_file.read_bytes()
    tsv_file.write_bytes(expected + b"x")
    apkg.unlink()
    again = pipeline.build(content_copy, output, ("apkg", "tsv"))
    assert again.unchanged == []
    assert tsv_file.read_bytes() == expected and apkg.is_file()
    assert pipeline.build(content_copy, output, ("apkg", "tsv")).unchanged == [apkg, tsv_file]


def test_an_edit_writes_the_outputs_again(content_copy: Path, tmp_path: Path, cache: Path) -> None:
    output = tmp_path / "out"
    pipeline.build(content_copy, output, ("tsv",))
    _edit(content_copy)
    again = pipeline.build(content_copy, output, ("tsv",))
    assert again.unchanged == []
    assert "New." in again.written[0].read_text(encoding="utf-8")


def test_a_template_edit_writes_the_outputs_again(content_copy: Path, tmp_path: Path, cache: Path) -> None:
    templates = tmp_path / "templates"
    shutil.copytree(ROOT / "templates", templates)
    output = tmp_path / "out"
    pipeline.build(content_copy, output, ("apkg",), templates_dir=templates)
    css = templates / "anki" / "card.css"
    css.write_text(css.read_text(encoding="utf-8") + "\n.studykit-test { color: red; }\n", encoding="utf-8")
    assert pipeline.build(content_copy, output, ("apkg",), templates_dir=templates).unchanged == []


def test_an_anki_build_loads_no_pdf_library(content_copy: Path, tmp_path: Path) -> None:
    """One fresh process: `build apkg` imports neither WeasyPrint nor pikepdf (nor Markdown, on a rebuild)."""
    script = f"""
import sys
from pathlib import Path
from generator import build
for _ in range(2):
    build.build(Path({str(content_copy)!r}), Path({str(tmp_path / "out")!r}), ("apkg",))
print(" ".join(sorted({{name.split(".")[0] for name in sys.modules}})))
"""
    environment = {"STUDYKIT_CACHE_DIR": str(tmp_path / "cache"), "PATH": "/usr/bin:/bin"}
    loaded = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, cwd=ROOT, env=environment
    ).stdout.split()
    assert "generator" in loaded
    assert not {"weasyprint", "pikepdf", "pydyf", "tinycss2"} & set(loaded)
    rebuilt = subprocess.run(
        [sys.executable, "-c", script.replace("range(2)", "range(1)")],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
        env=environment,
    ).stdout.split()
    assert not {"weasyprint", "pikepdf", "markdown", "fontTools"} & set(rebuilt)


def test_one_listing_is_what_rglob_and_stat_give(tmp_path: Path) -> None:
    """The content folder is walked once per build (`stamps.listing`): the same names, in the same order, as
    sorted(rglob("*")), with what Path.is_file, is_dir, is_symlink and stat say of each; a linked folder is listed
    but not gone into, as rglob does."""
    content = tmp_path / "content"
    (content / "figures" / "deep").mkdir(parents=True)
    (content / "figures" / "deep" / "a.svg").write_text("<svg/>", encoding="utf-8")
    (content / ".hidden").mkdir()
    (content / ".hidden" / "x.md").write_text("x", encoding="utf-8")
    (content / "51-a.md").write_text("a", encoding="utf-8")
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "elsewhere" / "b.md").write_text("b", encoding="utf-8")
    (content / "linked").symlink_to(tmp_path / "elsewhere")
    (content / "52-link.md").symlink_to(tmp_path / "elsewhere" / "b.md")
    (content / "broken.png").symlink_to(tmp_path / "nowhere.png")
    listed = stamps.listing(content)
    paths = sorted(content.rglob("*"))
    assert [entry.path for entry in listed] == paths
    for entry, path in zip(listed, paths, strict=True):
        assert entry.relative == path.relative_to(content).parts
        assert (entry.is_file(), entry.is_dir(), entry.link) == (path.is_file(), path.is_dir(), path.is_symlink())
        assert entry.info == (path.stat() if path.exists() else None)
    assert stamps.tree(content, listed=listed) == stamps.tree(content)
    assert stamps.listing(tmp_path / "missing") == []


def test_loading_the_note_store_shares_paths_and_leaves_the_collector_as_it_was(tmp_path: Path) -> None:
    """The store is loaded with the cyclic collector paused (for speed): it is on again afterwards, even when the file
    is damaged, and each place in the folder is one Path however many Locations name it."""
    import gc
    import io
    import pickle

    content = tmp_path / "content"
    note = content / "1-a.md"
    buffer = io.BytesIO()
    reader._Relocating(buffer, content).dump({"a": [note, note, content, content / "figures" / "x.svg"]})
    assert gc.isenabled()
    loaded = reader._Rebasing(io.BytesIO(buffer.getvalue()), content).load()
    assert gc.isenabled(), "the collector was left off"
    assert loaded == {"a": [note, note, content, content / "figures" / "x.svg"]}
    assert loaded["a"][0] is loaded["a"][1], "one Path per place"
    with pytest.raises(pickle.UnpicklingError):
        reader._Rebasing(io.BytesIO(buffer.getvalue()[:-5] + b"\x00\x00\x00\x00."), content).load()
    assert gc.isenabled(), "a damaged store left the collector off"
    gc.disable()
    try:
        reader._Rebasing(io.BytesIO(buffer.getvalue()), content).load()
        assert not gc.isenabled(), "a caller's own pause was ended"
    finally:
        gc.enable()
