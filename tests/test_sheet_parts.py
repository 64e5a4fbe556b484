"""The cheat sheet of a long bank: rendered in parts, cached by content, joined with tags intact.

The parts here are small (a few notes) so that the fifteen real notes make several of them; the
writer's real sizes only change how many.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pikepdf
import pytest
from pypdf import PdfReader

from generator import build as pipeline
from generator import pdfjoin, rendercache
from generator.errors import Location
from generator.model import Note
from generator.writers import sheet as pdf_writer
from tests.conftest import EPOCH, content_with

SMALL_PARTS = (("_PART_MIN", 2), ("_PART_SPREAD", 1), ("_PART_MAX", 2))


def _small_parts(patch: pytest.MonkeyPatch, cache: Path) -> list[str]:
    """Parts of two notes, `cache` as the cache, and the list of parts each build rendered (by first question)."""
    for name, value in SMALL_PARTS:
        patch.setattr(pdf_writer, name, value)
    patch.setenv("STUDYKIT_CACHE_DIR", str(cache))
    patch.setenv("SOURCE_DATE_EPOCH", str(EPOCH))
    rendered: list[str] = []
    real = rendercache.render_one

    def recording(task: tuple[str, str, list[str], str, dict[str, Any]]) -> str | None:
        numbers = re.findall(r'<span class="number">(\d+)</span>', task[0])
        rendered.append(numbers[0] if numbers else "page numbers")
        return real(task)

    patch.setattr(rendercache, "render_one", recording)
    real_last = pdf_writer._lay_out_last_part

    def last_recording(deck: Any, path: Path, notes: list[Note], *rest: Any) -> None:
        rendered.append(str(notes[0].number))  # the last part is laid out in this process (its last page balanced)
        real_last(deck, path, notes, *rest)

    patch.setattr(pdf_writer, "_lay_out_last_part", last_recording)
    return rendered


@dataclass(frozen=True)
class FirstBuild:
    content: Path
    cache: Path
    sheet: Path
    rendered: list[str]  # the parts the build laid out


@pytest.fixture(scope="module")
def first_build(tmp_path_factory: pytest.TempPathFactory) -> FirstBuild:
    """A copy of the content, its sheet built once in parts of two into an empty private cache."""
    folder = tmp_path_factory.mktemp("parts")
    content = content_with(folder, NOTES)
    with pytest.MonkeyPatch.context() as patch:
        rendered = _small_parts(patch, folder / "cache")
        sheet = _sheet(content, folder / "build")
    return FirstBuild(content, folder / "cache", sheet, list(rendered))


@pytest.fixture
def small_parts(first_build: FirstBuild, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[list[str]]:
    """Parts of two notes, a private copy of the first build's cache, and the parts each build renders."""
    shutil.copytree(first_build.cache, tmp_path / "cache")
    yield _small_parts(monkeypatch, tmp_path / "cache")


# Five of the shipped notes: parts of two make three parts (51 and 56, 57 and 58, 59), the last one short.
NOTES = (51, 56, 57, 58, 59)


def _sheet(content: Path, output: Path) -> Path:
    return pipeline.build(content, output, ("pdf",)).written[0]


def test_parts_follow_note_ids_so_an_insertion_moves_one_boundary() -> None:
    notes = [_note(f"note-{i:04d}") for i in range(2000)]
    parts = pdf_writer.parts_of(notes)
    assert [note for part in parts for note in part] == notes
    sizes = [len(part) for part in parts]
    assert all(pdf_writer._PART_MIN <= size <= pdf_writer._PART_MAX for size in sizes[:-1]), sizes
    assert 50 <= sum(sizes) / len(sizes) <= 150, sizes

    inserted = [*notes[:1000], _note("a-new-note"), *notes[1000:]]
    before = {tuple(n.id for n in part) for part in parts}
    after = {tuple(n.id for n in part) for part in pdf_writer.parts_of(inserted)}
    assert len(after - before) <= 2, "only the part that took the new note (and the one after it) may change"


def _note(identifier: str) -> Note:
    here = Location(Path("x.md"), 1)
    return Note(identifier, 1, "q", "q", (), "", "", (), here, here, here)


def test_rebuild_renders_only_the_edited_part_and_forgets_the_old_one(
    first_build: FirstBuild, small_parts: list[str], tmp_path: Path
) -> None:
    assert first_build.rendered == ["51", "57", "59", "page numbers"]
    cached_before = {p.name for p in (tmp_path / "cache" / "pdf").iterdir()}

    output = tmp_path / "build"
    same = first_build.sheet.read_bytes()
    assert _sheet(first_build.content, output).read_bytes() == same
    assert small_parts == [], "an unchanged deck renders nothing"

    small_parts.clear()
    content = content_with(tmp_path, NOTES)  # a copy to edit; the cache knows notes by content, not by folder
    note = next(content.glob("58-*.md"))
    note.write_text(
        note.read_text(encoding="utf-8").replace("## Key points\n", "## Key points\n\n- An added point.\n", 1)
    )
    edited = _sheet(content, output)
    assert small_parts == ["57"], "only the part holding question 58 is laid out again"
    assert "An added point." in "".join(page.extract_text() for page in PdfReader(edited).pages)
    cached_after = {p.name for p in (tmp_path / "cache" / "pdf").iterdir()}
    assert len(cached_after) == len(cached_before), "the edited part's old file left the cache"
    assert cached_after != cached_before


def test_a_join_that_writes_other_bytes_lays_the_joined_last_part_out_again(
    first_build: FirstBuild, small_parts: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The last part is itself two pieces joined: kept from a build whose join wrote other bytes, a rebuild would
    not give a cold build's bytes. Its key names the join's format: another format lays it out again (it alone)."""
    monkeypatch.setattr(pdfjoin, "JOIN_FORMAT", pdfjoin.JOIN_FORMAT + ", another")
    _sheet(first_build.content, tmp_path / "build")
    assert small_parts == ["59"], "only the last part (question 59) is laid out again"


def test_a_damaged_cache_entry_is_rendered_again(
    first_build: FirstBuild, small_parts: list[str], tmp_path: Path
) -> None:
    # One entry damaged (a build killed mid-write on a file system without atomic rename, a bad disk block):
    # that one is laid out again, the others are used as they are.
    parts = (tmp_path / "cache" / "pdf").glob("*.pdf")
    damaged = max(parts, key=lambda part: part.stat().st_size)  # a part of notes, not the page numbers
    damaged.write_bytes(b"%PDF-1.7 truncated")
    assert _sheet(first_build.content, tmp_path / "b").read_bytes() == first_build.sheet.read_bytes()
    assert len(small_parts) == 1, small_parts
    assert damaged.read_bytes().startswith(b"%PDF") and len(damaged.read_bytes()) > 1000, "the entry was replaced"


def test_joined_tags_outline_and_links_point_into_the_joined_file(first_build: FirstBuild) -> None:
    path = first_build.sheet
    with pikepdf.open(path) as pdf:
        assert pdf.check_pdf_syntax() == []
        pages = {page.obj.objgen: index for index, page in enumerate(pdf.pages)}
        tree = pdf.Root.StructTreeRoot
        nums = tree.ParentTree.Nums
        parent_tree = {int(nums[i]): nums[i + 1] for i in range(0, len(nums), 2)}
        assert len(parent_tree) == len(nums) // 2, "no key twice"

        for index, page in enumerate(pdf.pages):
            content = page.obj.Contents
            streams = [content] if isinstance(content, pikepdf.Stream) else list(content)
            text = b"".join(stream.read_bytes() for stream in streams)
            mcids = [int(m) for m in re.findall(rb"/MCID (\d+)", text)]
            entry = parent_tree[int(page.obj.StructParents)]
            assert len(entry) == max(mcids) + 1, f"page {index + 1}: every marked content has its element"
            for element in entry:
                assert element.Pg.objgen == page.obj.objgen, f"page {index + 1}: element points at another page"
            assert text.rstrip().endswith(b"Do Q EMC") and b"/Artifact BMC" in text, "numbers drawn as an artifact"

        document = tree.K[0]
        kinds: list[str] = []

        def walk(element: Any, parent: Any) -> None:
            kinds.append(str(element.S))
            assert element.P.objgen == parent.objgen
            if "/Pg" in element:
                assert element.Pg.objgen in pages
            kids = element.get("/K")
            for kid in kids if isinstance(kids, pikepdf.Array) else [kids] if kids is not None else []:
                if isinstance(kid, pikepdf.Dictionary) and kid.get("/Type") == "/StructElem":
                    walk(kid, element)

        for element in document.K:
            walk(element, document)
        assert len(kinds) > 100
        assert kinds.count("/Art") == len(NOTES), "one article per question, from every part, in one document element"
        assert kinds.count("/H1") == 1 and kinds.count("/H2") == len(NOTES)

        destinations = dict(pikepdf.NameTree(pdf.Root.Names.Dests).items())
        assert sorted(destinations) == sorted(f"q{n}" for n in NOTES)

    reader = PdfReader(path)
    texts = [page.extract_text() for page in reader.pages]
    for number in NOTES:
        page = reader.get_destination_page_number(reader.named_destinations[f"q{number}"])
        assert re.search(rf"(?m)^{number}\b", texts[page]), f"#q{number} points at page {page + 1}"
    assert [" ".join(entry.title.split()).split()[0] for entry in reader.outline] == [str(n) for n in NOTES]


def test_join_is_reproducible_and_the_metadata_is_the_decks(
    first_build: FirstBuild, small_parts: list[str], tmp_path: Path
) -> None:
    first = first_build.sheet
    second = _sheet(first_build.content, tmp_path / "b")
    assert first.read_bytes() == second.read_bytes()
    reader = PdfReader(first)
    assert reader.metadata is not None
    assert "normalization" in (reader.metadata.get("/Keywords") or ""), "tags of notes beyond the first part"
    assert reader.metadata.creation_date is not None and reader.metadata.creation_date.timestamp() == EPOCH
    xmp = reader.trailer["/Root"]["/Metadata"].get_object().get_data().decode("utf-8")
    assert 'pdfuaid:part="1"' in xmp or "<pdfuaid:part>1</pdfuaid:part>" in xmp


def test_page_numbers_that_do_not_match_the_pages_are_refused(tmp_path: Path) -> None:
    import weasyprint

    one = tmp_path / "one.pdf"
    two = tmp_path / "two.pdf"
    weasyprint.HTML(string="<p lang=en>a</p>").write_pdf(one, pdf_variant="pdf/ua-1")
    weasyprint.HTML(string="<p>a</p><p style='break-before:page'>b</p>").write_pdf(two)
    with pytest.raises(pdfjoin.JoinError, match="2 pages of page numbers for 1 pages"):
        pdfjoin.join([one], tmp_path / "out.pdf", pdfjoin.Metadata("k", EPOCH), page_numbers=two)
    assert not (tmp_path / "out.pdf").exists()


def test_parts_rendered_on_two_processes_give_the_same_file(
    first_build: FirstBuild, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # The same small parts as the first build (on one process), without the recording (a worker process cannot
    # be handed a local function), into an empty cache.
    for name, value in (*SMALL_PARTS, ("_NOTES_WORTH_WORKERS", 1)):
        monkeypatch.setattr(pdf_writer, name, value)
    monkeypatch.setenv("STUDYKIT_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("SOURCE_DATE_EPOCH", str(EPOCH))
    parallel = pipeline.build(first_build.content, tmp_path / "two", ("pdf",), jobs=2).written[0]
    assert parallel.read_bytes() == first_build.sheet.read_bytes()
    assert len(list((tmp_path / "cache" / "pdf").glob("*.pdf"))) == 4, "three parts and the page numbers, cached"
