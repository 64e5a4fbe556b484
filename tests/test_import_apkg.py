"""`studykit import`: an Anki deck made elsewhere, converted, rebuilt, and imported back over itself in real Anki."""

from __future__ import annotations

import html
import os
import re
import shutil
import struct
import time
import zipfile
import zlib
from pathlib import Path

import genanki
import pytest
from anki.collection import Collection, DeckIdLimit, ExportAnkiPackageOptions
from click.testing import CliRunner

from generator import build as pipeline
from generator.cli import cli
from tests.test_anki_deck import import_package

DECK_ID = 2_059_400_110
DECK_NAME = "Imported physics"
NOTES = 50
# The deck's notes were last edited long ago, as a shared deck's are: the rebuilt notes are newer, so Anki updates them.
MADE_AT = 1_600_000_000


def png(shade: int) -> bytes:
    """A valid 2 x 2 grey PNG."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    raw = b"".join(b"\x00" + bytes([shade, shade]) for _ in range(2))
    header = struct.pack(">IIBBBBB", 2, 2, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")


def mixed_fields(index: int) -> tuple[bool, list[str], list[str]]:
    """Note `index`'s kind (cloze or not), fields and tags: a rotation of everything a deck tends to hold."""
    kind = index % 7
    tags = [f"topic{index % 3}", "physics"]
    if kind == 0:
        return True, [f"Energy {index}: {{{{c1::\\(E = mc^2\\)}}}} relates mass and {{{{c2::energy}}}}.", ""], tags
    if kind == 1:
        extra = f"Note {index}: <b>kinetic</b> energy is \\(\\frac{{1}}{{2}} m v^2\\)."
        return True, [f"The {{{{c1::kinetic::kind}}}} energy of body {index}", extra], tags
    if kind == 2:
        front = f"What is the inline formula for item {index}?"
        back = f"It is \\(a_{{{index}}} = \\sqrt{{x^2 + y^2}}\\) and \\(b < c\\) &amp; more."
        return False, [front, back], tags
    if kind == 3:
        front = f"Show the display formula {index}"
        back = f"<div>Sum:</div>\\[\\sum_{{k=1}}^{{{index}}} k = \\frac{{n(n+1)}}{{2}}\\]<div>done</div>"
        return False, [front, back], tags
    if kind == 4:
        front = f"Which figure is number {index}?"
        back = f'Figure <img src="fig{index}.png"> shows <b>grey</b> squares.'
        return False, [front, back], tags
    if kind == 5:
        front = f"How do you print {index} in Python?"
        back = f"Use <code>print</code>:<pre><code>x = {index}\nprint(x * 2)</code></pre>"
        return False, [front, back], tags
    front = f"List <b>three</b> facts of item {index}"
    back = f"<ul><li><b>first</b> fact</li><li><i>second</i> fact</li><li>third: \\(x_{index}\\)</li></ul>"
    return False, [front, back], tags


def make_deck(target: Path) -> Path:
    deck = genanki.Deck(DECK_ID, DECK_NAME)
    media = []
    for index in range(NOTES):
        is_cloze, fields, tags = mixed_fields(index)
        model = genanki.CLOZE_MODEL if is_cloze else genanki.BASIC_MODEL
        deck.add_note(genanki.Note(model=model, fields=fields, tags=tags, guid=f"g{index:02d}#x`y"))
        if "<img" in fields[1]:
            image = target / f"fig{index}.png"
            image.write_bytes(png(40 + index))
            media.append(str(image))
    package = genanki.Package(deck)
    package.media_files = media
    path = target / "physics.apkg"
    package.write_to_file(str(path), timestamp=MADE_AT)
    return path


def visible_text(field: str) -> str:
    """What a field says, for comparing: tags dropped, math delimiters and white space normalised."""
    text = re.sub(r"</?(b|i|u|em|strong|code|span)\b[^>]*>", "", field)  # inline: no word break
    text = re.sub(r"<[^>]+>", " ", text)
    text = html.unescape(text)
    text = text.replace("\\(", " ").replace("\\)", " ").replace("\\[", " ").replace("\\]", " ")
    text = text.replace("\\displaystyle ", "")
    text = re.sub(r"\}\s+\}", "}}", text)
    return " ".join(text.replace("`", " ").split())


def formulas(field: str) -> list[str]:
    found = re.findall(r"\\\((.*?)\\\)|\\\[(.*?)\\\]", html.unescape(field), flags=re.DOTALL)
    # A display formula inside a cloze comes back inline as \displaystyle, its `}}` spaced out (see generator.cloze).
    tex = [(inline or display).replace("\\displaystyle ", "") for inline, display in found]
    return [re.sub(r"\}\s+\}", "}}", " ".join(formula.split())) for formula in tex]


def snapshot(col: Collection) -> dict[str, dict[str, object]]:
    notes = {}
    for note_id in col.find_notes(""):
        note = col.get_note(note_id)
        notes[note.guid] = {"type": note.note_type()["name"], "fields": list(note.fields), "tags": list(note.tags)}
    return notes


def test_import_rebuild_reimport_updates_in_place(col: Collection, tmp_path: Path) -> None:
    package = make_deck(tmp_path)
    first = import_package(col, package)
    assert first["new"] == NOTES
    before = snapshot(col)

    content = tmp_path / "imported"
    result = CliRunner().invoke(cli, ["import", str(package), "--into", str(content)])
    assert result.exit_code == 0, result.output
    assert f"imported {NOTES} notes" in result.output
    assert len(list(content.glob("*.md"))) == NOTES
    assert len(list((content / "figures").glob("*.png"))) == sum(1 for i in range(NOTES) if i % 7 == 4)

    report = pipeline.build(content, tmp_path / "build", ("apkg",))
    assert report.deck.id == DECK_ID
    counts = import_package(col, report.written[0])
    assert counts["new"] == 0 and counts["conflicting"] == 0 and counts["missing_notetype"] == 0, counts
    assert counts["updated"] == NOTES and counts["duplicate"] == 0, counts
    after = snapshot(col)
    assert col.note_count() == NOTES, "the round trip duplicated notes"
    assert set(after) == set(before)
    media_dir = Path(col.media.dir())
    for guid, old in before.items():
        new = after[guid]
        assert new["type"] == old["type"], guid
        assert sorted(new["tags"]) == sorted(old["tags"]), guid  # type: ignore[arg-type]
        old_fields, new_fields = old["fields"], new["fields"]
        assert isinstance(old_fields, list) and isinstance(new_fields, list)
        for old_field, new_field in zip(old_fields, new_fields, strict=True):
            assert formulas(new_field) == formulas(old_field), (guid, old_field, new_field)
            assert visible_text(new_field) == visible_text(old_field), (guid, old_field, new_field)
            for image in re.findall(r'<img src="([^"]+)"', new_field):
                assert (media_dir / html.unescape(image)).is_file(), image
            assert ("<img" in new_field) == ("<img" in old_field)
    # A second build of unchanged notes imports as nothing new either.
    again = import_package(col, pipeline.build(content, tmp_path / "build", ("apkg",)).written[0])
    assert again["new"] == 0 and again["conflicting"] == 0 and col.note_count() == NOTES, again


def test_imported_notes_read_as_markdown(tmp_path: Path) -> None:
    package = make_deck(tmp_path)
    content = tmp_path / "content"
    assert CliRunner().invoke(cli, ["import", str(package), "--into", str(content)]).exit_code == 0
    notes = {int(path.name.split("-")[0]): path.read_text(encoding="utf-8") for path in content.glob("*.md")}
    assert sorted(notes) == list(range(1, NOTES + 1))
    assert sorted(path.name for path in content.glob("*.md"))[0] == "01-energy-0-relates-mass-and.md"
    assert "guid: g02#x`y" in notes[3] or "guid: 'g02#x`y'" in notes[3]
    assert "$a_{2} = \\sqrt{x^2 + y^2}$" in notes[3] and "$b < c$" in notes[3]
    assert "$$\n\\sum_{k=1}^{3} k = \\frac{n(n+1)}{2}\n$$" in notes[4]
    assert "![fig4](figures/fig4.png)" in notes[5]
    assert "```\nx = 5\nprint(x * 2)\n```" in notes[6]
    assert "- **first** fact" in notes[7] and "$x_6$" in notes[7]
    assert "question: List three facts of item 6" in notes[7]
    assert "## Cloze\n\n- Energy 0: {{c1::$E = mc^2$}} relates mass and {{c2::energy}}." in notes[1]
    assert "note_type: Cloze (genanki)" in notes[1] and "note_type: Basic (genanki)" in notes[3]
    deck_yaml = (content / "deck.yaml").read_text(encoding="utf-8")
    assert f"id: {DECK_ID}" in deck_yaml and "slug: imported-physics" in deck_yaml
    check = CliRunner().invoke(cli, ["check", "--content", str(content), "-j", "1"])
    assert check.exit_code == 0, check.output


def test_a_studykit_deck_maps_back_to_its_own_fields(col: Collection, tmp_path: Path) -> None:
    """studykit's own package: fields map one to one, clozes go back under their question, Anki updates in place."""
    from tests.conftest import CONTENT

    source = tmp_path / "source"
    shutil.copytree(CONTENT, source)
    for path in source.rglob("*"):
        os.utime(path, (MADE_AT, MADE_AT))
    built = pipeline.build(source, tmp_path / "build", ("apkg",))
    assert import_package(col, built.written[0])["new"] == col.note_count()
    before = snapshot(col)
    content = tmp_path / "again"
    assert CliRunner().invoke(cli, ["import", str(built.written[0]), "--into", str(content)]).exit_code == 0
    assert not (content / "anki-note-types.json").exists()
    rebuilt = pipeline.build(content, tmp_path / "rebuild", ("apkg",))
    assert rebuilt.deck.id == built.deck.id and rebuilt.deck.title == built.deck.title
    assert [(n.number, n.question, n.tags) for n in rebuilt.deck.notes] == [
        (n.number, n.question, n.tags) for n in built.deck.notes
    ]
    assert [len(n.clozes) for n in rebuilt.deck.notes] == [len(n.clozes) for n in built.deck.notes]
    counts = import_package(col, rebuilt.written[0])
    assert counts["new"] == 0 and counts["conflicting"] == 0 and counts["updated"] == len(before), counts
    after = snapshot(col)
    assert set(after) == set(before)
    for guid, old in before.items():
        assert after[guid]["type"] == old["type"]
        old_fields, new_fields = old["fields"], after[guid]["fields"]
        assert isinstance(old_fields, list) and isinstance(new_fields, list)
        for old_field, new_field in zip(old_fields[:-1], new_fields[:-1], strict=True):  # the last: the credit
            assert formulas(new_field) == formulas(old_field), guid
            assert ("<img" in new_field) == ("<img" in old_field)


@pytest.mark.parametrize(
    ("name", "data", "message"),
    [
        ("notes.apkg", b"this is not a zip", "not an Anki package (.apkg): not a zip file"),
        ("empty.apkg", None, "not an Anki package (.apkg): no collection.anki2 inside the zip"),
        ("garbage.apkg", b"collection.anki2", "not a readable Anki package: file is not a database"),
    ],
)
def test_bad_packages_are_named_without_a_traceback(
    tmp_path: Path, name: str, data: bytes | None, message: str
) -> None:
    path = tmp_path / name
    if data is None:
        with zipfile.ZipFile(path, "w") as archive:
            archive.writestr("readme.txt", "hello")
    elif data == b"collection.anki2":
        with zipfile.ZipFile(path, "w") as archive:
            archive.writestr("collection.anki2", b"not SQLite at all" * 100)
    else:
        path.write_bytes(data)
    result = CliRunner().invoke(cli, ["import", str(path), "--into", str(tmp_path / "out")])
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit), result.exception  # not a crash
    assert f"{path}: {message}" in result.output
    assert "Traceback" not in result.output and not (tmp_path / "out").exists()


def test_refuses_a_folder_that_holds_notes(tmp_path: Path) -> None:
    package = make_deck(tmp_path)
    target = tmp_path / "content"
    target.mkdir()
    (target / "01-mine.md").write_text("---\n", encoding="utf-8")
    result = CliRunner().invoke(cli, ["import", str(package), "--into", str(target)])
    assert result.exit_code == 1 and "already holds files" in result.output
    assert [p.name for p in target.iterdir()] == ["01-mine.md"]
    empty = tmp_path / "empty"
    empty.mkdir()
    assert CliRunner().invoke(cli, ["import", str(package), "--into", str(empty)]).exit_code == 0
    assert (empty / "deck.yaml").is_file()


def test_a_deck_exported_by_anki_round_trips(col: Collection, tmp_path: Path) -> None:
    """Anki's own export (its note types, a subdeck, tags in capitals, media with a space in the name)."""
    deck_id = col.decks.id("Biology::Cells")
    assert deck_id is not None
    figure = tmp_path / "cell diagram.png"
    figure.write_bytes(png(90))
    media_name = col.media.add_file(str(figure))
    notes = {
        "Basic": [
            "What is a <i>cell</i>?",
            f'The unit of life.<br><img src="{media_name}"><br>\\(V = \\tfrac{{4}}{{3}}\\pi r^3\\)',
        ],
        "Basic (and reversed card)": ["Mitochondria", "Power<b>house</b>"],
        "Cloze": ["A {{c1::ribosome}} makes proteins: \\[p = {{c2::\\frac{a}{b}}}\\]", "Extra <u>text</u>"],
    }
    for type_name, fields in notes.items():
        note_type = col.models.by_name(type_name)
        assert note_type is not None
        note = col.new_note(note_type)
        for index, value in enumerate(fields):
            note.fields[index] = value
        note.tags = ["Bio::Cells", "exam_2024"]
        col.add_note(note, deck_id)
    before = snapshot(col)
    legacy = tmp_path / "legacy.apkg"
    options = ExportAnkiPackageOptions(legacy=True, with_media=True)
    col.export_anki_package(out_path=str(legacy), options=options, limit=DeckIdLimit(deck_id))
    content = tmp_path / "content"
    result = CliRunner().invoke(cli, ["import", str(legacy), "--into", str(content)])
    assert result.exit_code == 0, result.output
    assert "question: What is a cell?" in (content / "01-what-is-a-cell.md").read_text(encoding="utf-8")
    assert (content / "figures" / "cell-diagram.png").read_bytes() == figure.read_bytes()
    for path in content.rglob("*"):  # edited after the notes were made in Anki: newer, so Anki takes them
        os.utime(path, (time.time() + 5, time.time() + 5))
    report = pipeline.build(content, tmp_path / "build", ("apkg",))
    counts = import_package(col, report.written[0])
    assert counts["new"] == 0 and counts["conflicting"] == 0 and counts["updated"] == 3, counts
    after = snapshot(col)
    assert set(after) == set(before) and col.note_count() == 3
    assert {name for entry in col.decks.all_names_and_ids() if (name := entry.name).startswith("Biology")} == {
        "Biology",
        "Biology::Cells",
    }
    for guid, old in before.items():
        assert after[guid]["type"] == old["type"]
        for old_field, new_field in zip(old["fields"], after[guid]["fields"], strict=True):  # type: ignore[call-overload]
            assert formulas(new_field) == formulas(old_field) and visible_text(new_field) == visible_text(old_field)
    for card_id in col.find_cards(""):
        assert col.get_card(card_id).did == deck_id

    modern = tmp_path / "modern.apkg"
    col.export_anki_package(
        out_path=str(modern), options=ExportAnkiPackageOptions(with_media=True), limit=DeckIdLimit(deck_id)
    )
    refused = CliRunner().invoke(cli, ["import", str(modern), "--into", str(tmp_path / "other")])
    assert refused.exit_code == 1 and "newer package format" in refused.output
    assert "Support older Anki versions" in refused.output


def test_awkward_fields_still_check(tmp_path: Path) -> None:
    """Headings, dollars, scripts, remote and missing images, tags studykit would refuse: the result still checks."""
    deck = genanki.Deck(DECK_ID, "Awkward::Sub deck")
    fields = [
        ("<h1>Title</h1>Price", "<h2>Part</h2>It costs $5, not $10.<script>alert(1)</script>"),
        ("Remote", '<img src="https://example.org/x.png" alt="remote figure"> and <img src="missing.png">'),
        ("Table", "<table><tr><th>a</th><th>b</th></tr><tr><td>\\(x_1\\)</td><td>2</td></tr></table>"),
        ("", "An empty front"),
        ("Snake_case and *stars*", "<div>one</div><div>two<br>three</div>"),
        ("Listed", "<ul><li>Energy: \\[E = mc^2\\]</li><li>\\[p = m v\\]</li></ul>"),
    ]
    for front, back in fields:
        note = genanki.Note(model=genanki.BASIC_MODEL, fields=[front, back], tags=["Mixed_Case", "a.b", "日本"])
        deck.add_note(note)
    path = tmp_path / "awkward.apkg"
    genanki.Package(deck).write_to_file(str(path), timestamp=MADE_AT)
    content = tmp_path / "content"
    result = CliRunner().invoke(cli, ["import", str(path), "--into", str(content)])
    assert result.exit_code == 0, result.output
    texts = {int(p.name.split("-")[0]): p.read_text(encoding="utf-8") for p in content.glob("*.md")}
    assert "### Part" in texts[1] and "\\$5" in texts[1] and "alert" not in texts[1]
    assert "## Key points\n\nIt costs" in texts[1]
    assert "[remote figure](https://example.org/x.png)" in texts[2] and "missing" not in texts[2]
    assert "| $x_1$ | 2 |" in texts[3]
    assert "question: Question 4" in texts[4]
    assert "tags: [Mixed_Case, a.b, 日本]" in texts[5]  # Anki's tags as they are: studykit takes any tag without spaces
    assert "- Energy: $\\displaystyle E = mc^2$\n- $\\displaystyle p = m v$" in texts[6]
    assert "title: Awkward::Sub deck" in (content / "deck.yaml").read_text(encoding="utf-8")
    check = CliRunner().invoke(cli, ["check", "--content", str(content), "-j", "1"])
    assert check.exit_code == 0, check.output


def test_a_guid_used_twice_is_an_error_at_its_line(tmp_path: Path) -> None:
    package = make_deck(tmp_path)
    content = tmp_path / "content"
    assert CliRunner().invoke(cli, ["import", str(package), "--into", str(content)]).exit_code == 0
    original = next(content.glob("03-*.md"))
    copy = content / "99-copy.md"
    text = original.read_text(encoding="utf-8")
    copy.write_text(re.sub(r"(?m)^id: .*$", "id: copy1234", text).replace("number: 3", "number: 99"), encoding="utf-8")
    result = CliRunner().invoke(cli, ["check", "--content", str(content), "-j", "1"])
    guid_line = text.split("\n").index(next(line for line in text.split("\n") if line.startswith("guid:"))) + 1
    assert result.exit_code == 1
    assert f"{copy}:{guid_line}: error: duplicate guid 'g02#x`y': also used by {original}:{guid_line}" in result.output
