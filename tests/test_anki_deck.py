"""Issue: the deck updates in place on re-import, is byte-reproducible and behaves in a real Anki collection."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from anki.collection import Collection, ImportAnkiPackageOptions, ImportAnkiPackageRequest

from generator import build as pipeline
from generator.writers import anki as anki_writer
from tests.conftest import CONTENT, EPOCH, ROOT, studykit

SLUG = "dl-interview-51-65"
CLOZE_NOTES = {59, 63, 65}


def import_package(col: Collection, package: Path) -> dict[str, int]:
    """Import with Anki's defaults (update notes and note types only when newer) and return the log's counts."""
    log = col.import_anki_package(
        ImportAnkiPackageRequest(package_path=str(package), options=ImportAnkiPackageOptions())
    ).log
    return {
        name: len(getattr(log, name))
        for name in ("new", "updated", "duplicate", "conflicting", "first_field_match", "missing_notetype")
    }


@pytest.fixture
def stable_content(content_copy: Path) -> Path:
    """The content with every file dated in the past, as if last edited a while ago."""
    for path in content_copy.rglob("*"):
        os.utime(path, (1_700_000_000, 1_700_000_000))
    return content_copy


def studykit_note_types(col: Collection) -> list[str]:
    return sorted(entry.name for entry in col.models.all_names_and_ids() if entry.name.startswith("studykit"))


def test_edit_rebuild_reimport_updates_exactly_one_note(col: Collection, stable_content: Path, tmp_path: Path) -> None:
    output = tmp_path / "build"
    package = output / f"{SLUG}.apkg"
    first = pipeline.build(stable_content, output, ("apkg",))
    expected_clozes = sum(len(note.clozes) for note in first.deck.notes)
    assert expected_clozes >= 3 * len(CLOZE_NOTES)
    assert import_package(col, package)["new"] == 15 + expected_clozes
    card = col.get_card(col.find_cards("Number:52")[0])
    card.reps = 3  # stands in for review history that an update must keep
    col.update_card(card)

    note_52 = next(stable_content.glob("52-*.md"))
    note_52.write_text(
        note_52.read_text(encoding="utf-8").replace("## Full answer", "## Full answer\n\nAn edited line.", 1),
        encoding="utf-8",
    )
    second = pipeline.build(stable_content, output, ("apkg",))
    assert second.deck_changes is not None and len(second.deck_changes.changed) == 1
    counts = import_package(col, package)
    assert counts["updated"] == 1 and counts["new"] == 0 and counts["conflicting"] == 0, counts
    assert col.note_count() == 15 + expected_clozes, "re-import duplicated notes"
    assert studykit_note_types(col) == ["studykit Cloze", "studykit Q&A"]
    updated = col.get_note(col.find_notes("Number:52")[0])
    assert "An edited line." in updated["Full answer"]
    assert col.get_card(col.find_cards("Number:52")[0]).reps == 3, "review history lost"

    pipeline.build(stable_content, output, ("apkg",))
    again = import_package(col, package)
    assert again["updated"] == 0 and again["new"] == 0, again
    assert col.note_count() == 15 + expected_clozes


def test_removed_note_is_reported_with_a_search(stable_content: Path, tmp_path: Path) -> None:
    output = tmp_path / "build"
    pipeline.build(stable_content, output, ("apkg",))
    next(stable_content.glob("57-*.md")).unlink()
    report = pipeline.build(stable_content, output, ("apkg",))
    assert report.deck_changes is not None
    assert len(report.deck_changes.removed) == 1 and report.deck_changes.removed[0].startswith("57 ")
    assert "nid:" in report.deck_changes.removed_searches[0]


def test_a_build_in_another_process_is_byte_identical(tmp_path: Path, outputs: dict[str, Path]) -> None:
    """The session's build (this process) and a `python -m generator` build of the same content agree to the byte."""
    output = tmp_path / "other"
    subprocess.run(
        [sys.executable, "-m", "generator", "build", "apkg", "--content", str(CONTENT), "--output", str(output)],
        check=True,
        cwd=ROOT,
        capture_output=True,
        env={**os.environ, "SOURCE_DATE_EPOCH": str(EPOCH)},
    )
    assert (output / f"{SLUG}.apkg").read_bytes() == outputs["apkg"].read_bytes()


def test_package_is_compressed_and_leaves_no_temporary_files(outputs: dict[str, Path]) -> None:
    with zipfile.ZipFile(outputs["apkg"]) as archive:
        names = json.loads(archive.read("media"))
        for entry in archive.infolist():
            assert entry.date_time == (1980, 1, 1, 0, 0, 0)
            if entry.filename in ("collection.anki2", "media"):
                assert entry.compress_type == zipfile.ZIP_DEFLATED, entry.filename
            else:  # media: the figures are SVG text of tens of KB, which deflate shrinks to a fraction
                assert names[entry.filename].endswith(".svg") and entry.file_size > 10_000
                assert entry.compress_type == zipfile.ZIP_DEFLATED, names[entry.filename]
                assert entry.compress_size < entry.file_size / 2
    assert not anki_writer.worth_deflating("photo.png", b"x" * 100_000), "compressed formats are stored"
    assert not anki_writer.worth_deflating("tiny.svg", b"<svg/>"), "a few hundred bytes are not worth a deflate stream"
    leftovers = [p for p in outputs["apkg"].parent.iterdir() if p.name.startswith(".")]
    assert leftovers == []


@pytest.fixture
def imported(col: Collection, outputs: dict[str, Path]) -> Collection:
    import_package(col, outputs["apkg"])
    return col


def test_new_cards_come_in_question_order(imported: Collection, built: pipeline.BuildReport) -> None:
    deck_id = imported.decks.id_for_name(built.deck.title)
    assert deck_id is not None
    config = imported.decks.config_dict_for_deck_id(deck_id)
    config["new"]["perDay"] = 999
    imported.decks.update_config(config)
    imported.decks.select(deck_id)
    queue = imported.sched.get_queued_cards(fetch_limit=200).cards
    shown = [imported.get_card(entry.card.id).note() for entry in queue]
    basic = [int(note["Number"]) for note in shown if note.note_type()["name"] == anki_writer.NOTE_TYPE_NAME]
    assert basic == list(range(51, 66))
    assert int(shown[0]["Number"]) == 51


def test_every_image_has_its_media_file(imported: Collection) -> None:
    media_dir = Path(imported.media.dir())
    referenced = 0
    for note_id in imported.find_notes(""):
        note = imported.get_note(note_id)
        for value in note.fields:
            for name in re.findall(r'<img[^>]*\bsrc="([^"]+)"', value):
                referenced += 1
                assert (media_dir / name).is_file(), f"note {note_id}: {name} missing from the collection's media"
    check = imported.media.check()
    assert not check.missing, check.missing


def test_rendered_cards_hold_only_delimited_math(imported: Collection) -> None:
    for card_id in imported.find_cards(""):
        card = imported.get_card(card_id)
        for side in (card.question(), card.answer()):
            body = re.sub(r"<style>.*?</style>", "", side, flags=re.DOTALL)
            body = re.sub(r"<pre\b.*?</pre>|<code\b.*?</code>", "", body, flags=re.DOTALL)
            assert not re.search(r"(?<!\\)\$[^$\s][^$]*\$", body), f"$…$ math on card {card_id}"
            prose = re.sub(r"\\\(.*?\\\)|\\\[.*?\\\]", "", body, flags=re.DOTALL)
            leak = re.search(r"\\(frac|sum|sigma|hat|odot|tanh|sqrt|mathbf|partial)\b", prose)
            assert leak is None, f"TeX outside \\(…\\) on card {card_id}: {leak.group(0)}"


def test_cloze_cards_render_their_deletions(imported: Collection) -> None:
    cloze_cards = imported.find_cards(f'"note:{anki_writer.CLOZE_TYPE_NAME}"')
    numbers = {int(imported.get_card(c).note()["Number"]) for c in cloze_cards}
    assert numbers == CLOZE_NOTES
    for card_id in cloze_cards:
        card = imported.get_card(card_id)
        question, answer = card.question(), card.answer()
        assert "[...]" in question, question[-400:]
        # Revealed: no placeholder left, and the hidden text is back (inside MathJax Anki adds no span).
        assert "[...]" not in answer
        assert len(answer) > len(question)
        assert "{{c" not in question and "{{c" not in answer
    softmax = imported.get_note(imported.find_notes(f'"note:{anki_writer.CLOZE_TYPE_NAME}" Number:63')[0])
    # A `}}` inside math that is not the end of the deletion would end it early in Anki.
    for formula in re.findall(r"\\\((.*?)\\\)", softmax["Text"]):
        for deletion in re.findall(r"\{\{c\d+::(.*?)\}\}", formula):
            assert "}}" not in deletion


def test_card_front_and_back_layout(imported: Collection) -> None:
    card = imported.get_card(imported.find_cards(f'"note:{anki_writer.NOTE_TYPE_NAME}" Number:55')[0])
    back = card.answer()
    order = [back.find(marker) for marker in ("sk-question", "sk-key-points", "sk-full-answer", "sk-source")]
    assert all(position >= 0 for position in order) and order == sorted(order)
    assert ".nightMode" in card.note_type()["css"] and ".night_mode" in card.note_type()["css"]
    assert ".highlight" in card.note_type()["css"], "code colours live in the note type's CSS"
    assert "http" not in re.sub(r"https://ld246\.com\S*", "", card.note_type()["css"])


def test_missing_image_is_an_error_at_its_line(content_copy: Path) -> None:
    note = next(content_copy.glob("54-*.md"))
    text = note.read_text(encoding="utf-8").replace("## Full answer", "## Full answer\n\n![a box](figures/none.svg)", 1)
    note.write_text(text, encoding="utf-8")
    result = studykit("check", "--content", content_copy)
    line = text[: text.index("figures/none.svg")].count("\n") + 1
    assert result.exit_code == 1
    assert f"{note}:{line}: error:" in result.stderr and "no such file" in result.stderr


def test_media_names_are_flat_and_match_the_fields(tmp_path: Path) -> None:
    content = tmp_path / "content"
    shutil.copytree(CONTENT, content)
    (content / "img").mkdir()
    (content / "other").mkdir()
    for folder in ("img", "other"):
        (content / folder / "diagram.svg").write_text(
            '<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><rect width="10" height="10"/></svg>'
        )
    note = next(content.glob("51-*.md"))
    note.write_text(
        note.read_text(encoding="utf-8").replace(
            "## Full answer", "## Full answer\n\n![one](img/diagram.svg) ![two](other/diagram.svg)", 1
        ),
        encoding="utf-8",
    )
    output = tmp_path / "out"
    pipeline.build(content, output, ("apkg",))
    with zipfile.ZipFile(output / f"{SLUG}.apkg") as archive:
        import json

        packed = set(json.loads(archive.read("media")).values())
    fields = next(f for f in anki_writer.iter_fields(output / f"{SLUG}.apkg") if f[0] == "51")
    referenced = set(re.findall(r'<img[^>]*\bsrc="([^"]+)"', fields[3]))
    assert len(referenced) == 2 and referenced <= packed
    assert all("/" not in name for name in referenced)
