"""pdfjoin on parts laid out by WeasyPrint (pdfengine, as the writers do): what a reader, a screen reader and a
PDF checker find in the joined file, that it reproduces, and that its memory does not grow with the output."""

from __future__ import annotations

import base64
import json
import marshal
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pikepdf
import pytest

from generator import pdfengine, pdfjoin
from tests.conftest import EPOCH

# Strings that look like references, with parentheses and backslashes: renumbering must not touch them.
TRICKY_TITLE = 'What does "1 0 R" mean (in a (nested) aside) \\ here?'
TRICKY_ALT = "a figure (2 0 R) with a \\) and 3 0 R"
TRICKY_URL = "https://example.org/page(1%200%20R)"
SQUARE = base64.b64encode(
    b'<svg xmlns="http://www.w3.org/2000/svg" width="20" height="20"><rect width="20" height="20"/></svg>'
).decode("ascii")


def _page(title: str, body: str) -> str:
    return (
        f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{title}</title>'
        "<style>@page { size: A5; margin: 15mm } h2 { break-before: page }</style>"
        f"</head><body>{body}</body></html>"
    )


def _questions(numbers: range, *, tricky: int | None = None) -> str:
    """Questions as the booklet's parts have them: a heading named q<number> (an outline entry), text, a link."""
    html = []
    for number in numbers:
        title = f"{number} {TRICKY_TITLE}" if number == tricky else f"{number} Question number {number}"
        html.append(f'<h2 id="q{number}">{title}</h2>')
        html.append(f"<h3>Answer to {number}</h3><p>Answer text of question {number}, long enough to read. </p>")
        if number == tricky:
            html.append(f'<p><img alt="{TRICKY_ALT}" src="data:image/svg+xml;base64,{SQUARE}"></p>')
            html.append(f'<p>See <a href="{TRICKY_URL}">the page</a>.</p>')
    return "".join(html)


def _contents(numbers: range) -> str:
    """A contents page linking to every question, naming each itself (as the booklet's front does)."""
    links = "".join(f'<li><a href="#q{n}">Question {n}</a></li>' for n in numbers)
    anchors = "".join(f'<span id="q{n}"></span>' for n in numbers)
    return f"<h1>Contents</h1><ul>{links}</ul>{anchors}"


def _write(html: str, path: Path, options: dict[str, Any] | None = None) -> Path:
    if options is None:
        pdfengine.write(html, path.parent, [path.parent], path)
    else:  # the page numbers: untagged, as rendercache.page_numbers lays them out
        error = pdfengine.write_atomically(html, str(path.parent) + "/", [str(path.parent)], str(path), options)
        assert error is None
    return path


@dataclass(frozen=True)
class Parts:
    contents: Path
    first: Path
    second: Path
    numbers: Path
    pages: list[int]  # of each part

    @property
    def all(self) -> list[Path]:
        return [self.contents, self.first, self.second]


@pytest.fixture(scope="module")
def parts(tmp_path_factory: pytest.TempPathFactory) -> Parts:
    folder = tmp_path_factory.mktemp("join")
    contents = _write(_page("Contents", _contents(range(1, 61))), folder / "contents.pdf")
    first = _write(_page("Questions", _questions(range(1, 31))), folder / "first.pdf")
    second = _write(_page("Questions", _questions(range(31, 61), tricky=54)), folder / "second.pdf")
    pages = [pdfjoin.pages_in(path) or 0 for path in (contents, first, second)]
    # Blank pages with a number in the bottom margin, as the booklet's (booklet-numbers.html.j2).
    numbered = '<style>@page { @bottom-center { content: "page " counter(page) } }</style>' + "".join(
        '<div style="break-before: page"></div>' for _ in range(sum(pages))
    )
    numbers = _write(_page("Numbers", numbered), folder / "numbers.pdf", {})
    assert pdfjoin.pages_in(numbers) == sum(pages)
    return Parts(contents, first, second, numbers, pages)


@pytest.fixture(scope="module")
def joined(parts: Parts, tmp_path_factory: pytest.TempPathFactory) -> Path:
    target = tmp_path_factory.mktemp("joined") / "joined.pdf"
    pdfjoin.join(parts.all, target, pdfjoin.Metadata("alpha, beta", EPOCH), page_numbers=parts.numbers)
    return target


def _page_texts(path: Path) -> list[str]:
    text = subprocess.run(["pdftotext", "-layout", str(path), "-"], capture_output=True, check=True, text=True).stdout
    return text.split("\f")[:-1]


def _question_pages(path: Path) -> dict[int, int]:
    """Each question's page (from 0), as pdftotext reads the pages: the page its heading is on."""
    found: dict[int, int] = {}
    for index, text in enumerate(_page_texts(path)):
        for number in re.findall(r"(?m)^\s*(\d+) (?:Question number|What does)", text):
            found.setdefault(int(number), index)
    return found


def test_the_text_reads_in_order_with_the_page_numbers_over_it(parts: Parts, joined: Path) -> None:
    texts = _page_texts(joined)
    assert len(texts) == sum(parts.pages)
    assert "Contents" in texts[0] and "Question 54" in "".join(texts[: parts.pages[0]])
    questions = _question_pages(joined)
    assert sorted(questions) == list(range(1, 61))
    assert list(questions.values()) == sorted(questions.values()), "the questions in the parts' order"
    assert questions[1] == parts.pages[0] and questions[31] == parts.pages[0] + parts.pages[1]
    for index, text in enumerate(texts):
        assert f"page {index + 1}" in text, f"page {index + 1}: its number is drawn"


def test_the_file_is_clean_and_reproduces(parts: Parts, joined: Path, tmp_path: Path) -> None:
    with pikepdf.open(joined) as pdf:
        assert pdf.check_pdf_syntax() == []
        assert pdf.pdf_version >= "1.5"
    again = tmp_path / "again.pdf"
    pdfjoin.join(parts.all, again, pdfjoin.Metadata("alpha, beta", EPOCH), page_numbers=parts.numbers)
    assert again.read_bytes() == joined.read_bytes()
    assert not [path.name for path in tmp_path.iterdir() if path != again], "nothing left beside the target"


def test_one_structure_tree_holds_every_parts_elements(parts: Parts, joined: Path) -> None:
    top_level = 0
    for path in parts.all:
        with pikepdf.open(path) as part:
            top_level += len(part.Root.StructTreeRoot.K[0].K)
    with pikepdf.open(joined) as pdf:
        assert bool(pdf.Root.MarkInfo.Marked) and str(pdf.Root.Lang) == "en", "the first part's catalog entries"
        pages = {page.obj.objgen: index for index, page in enumerate(pdf.pages)}
        tree = pdf.Root.StructTreeRoot
        assert len(tree.K) == 1
        document = tree.K[0]
        assert document.S == "/Document" and document.P.objgen == tree.objgen
        assert len(document.K) == top_level

        nums = tree.ParentTree.Nums
        parent_tree = {int(nums[i]): nums[i + 1] for i in range(0, len(nums), 2)}
        assert len(parent_tree) == len(nums) // 2, "no key twice"
        assert int(tree.ParentTreeNextKey) == max(parent_tree) + 1

        kinds: list[str] = []
        alts: list[str] = []

        def walk(element: Any, parent: Any) -> None:
            kinds.append(str(element.S))
            if "/Alt" in element:
                alts.append(str(element.Alt))
            assert element.P.objgen == parent.objgen
            if "/Pg" in element:
                assert element.Pg.objgen in pages
            kids = element.get("/K")
            for kid in kids if isinstance(kids, pikepdf.Array) else [kids] if kids is not None else []:
                if isinstance(kid, pikepdf.Dictionary) and kid.get("/Type") == "/StructElem":
                    walk(kid, element)
                elif isinstance(kid, pikepdf.Dictionary) and kid.get("/Type") == "/OBJR":
                    # A link's element: the link's own key leads back to it.
                    assert parent_tree[int(kid.Obj.StructParent)].objgen == element.objgen

        for element in document.K:
            walk(element, document)
        assert kinds.count("/H2") == 60 and kinds.count("/H1") == 1
        assert alts == [TRICKY_ALT]

        for index, page in enumerate(pdf.pages):
            content = page.obj.Contents
            streams = [content] if isinstance(content, pikepdf.Stream) else list(content)
            text = b"".join(stream.read_bytes() for stream in streams)
            mcids = {int(m) for m in re.findall(rb"/MCID (\d+)", text)}
            entry = parent_tree[int(page.obj.StructParents)]
            assert len(entry) == max(mcids) + 1, f"page {index + 1}: every marked content has its element"
            for element in entry:
                assert element.Pg.objgen == page.obj.objgen, f"page {index + 1}: element points at another page"


def test_the_outline_keeps_titles_nesting_and_pages(parts: Parts, joined: Path) -> None:
    questions = _question_pages(joined)
    with pikepdf.open(joined) as pdf:
        pages = {page.obj.objgen: index for index, page in enumerate(pdf.pages)}
        with pdf.open_outline() as outline:
            top = list(outline.root)
            assert [item.title for item in top][:2] == ["Contents", "1 Question number 1"]
            questions_in_outline = top[1:]
            assert len(questions_in_outline) == 60
            for number, item in enumerate(questions_in_outline, start=1):
                assert pages[item.destination[0].objgen] == questions[number], f"question {number}'s entry"
                assert [child.title for child in item.children] == [f"Answer to {number}"]
            assert questions_in_outline[53].title == f"54 {TRICKY_TITLE}"


def test_a_link_to_a_later_part_lands_on_its_question(parts: Parts, joined: Path) -> None:
    questions = _question_pages(joined)
    with pikepdf.open(joined) as pdf:
        pages = {page.obj.objgen: index for index, page in enumerate(pdf.pages)}
        destinations = dict(pikepdf.NameTree(pdf.Root.Names.Dests).items())
        assert sorted(destinations) == sorted(f"q{n}" for n in range(1, 61))
        names = []
        for page in pdf.pages[: parts.pages[0]]:
            for annotation in page.obj.get("/Annots", []):
                target = annotation.get("/Dest", annotation.get("/A", {}).get("/D"))
                names.append(str(target))
        assert "q54" in names, "the contents link to question 54 by name"
        # The contents named q54 too (on its own pages): the question's part, later, wins.
        assert pages[destinations["q54"][0].objgen] == questions[54] >= parts.pages[0] + parts.pages[1]
        uris = [
            str(annotation.A.URI)
            for page in pdf.pages
            for annotation in page.obj.get("/Annots", [])
            if "/URI" in annotation.get("/A", {})
        ]
        assert uris == [TRICKY_URL]


def test_the_page_numbers_are_drawn_over_each_page_as_an_artifact(parts: Parts, joined: Path) -> None:
    with pikepdf.open(joined) as pdf:
        resources = set()
        for index, page in enumerate(pdf.pages):
            streams = list(page.obj.Contents)
            text = b"".join(stream.read_bytes() for stream in streams)
            assert text.startswith(b"q\n"), f"page {index + 1}: its own drawing in q … Q"
            assert text.rstrip().endswith(b"\nQ\n/Artifact BMC q /StudykitPageNumber Do Q EMC")
            form = page.obj.Resources.XObject.StudykitPageNumber
            assert form.Subtype == "/Form"
            assert not page.obj.Resources.is_indirect, "each page its own resources"
            resources.add(form.objgen)
        assert len(resources) == len(pdf.pages), "one number a page"


def test_metadata_is_the_builds(joined: Path) -> None:
    with pikepdf.open(joined) as pdf:
        assert str(pdf.docinfo.Keywords) == "alpha, beta"
        assert str(pdf.docinfo.CreationDate).startswith("D:20231114221320")
        xmp = pdf.Root.Metadata.read_bytes().decode("utf-8")
        assert "alpha, beta" in xmp and "2023-11-14T22:13:20" in xmp
        assert 'pdfuaid:part="1"' in xmp or "<pdfuaid:part>1</pdfuaid:part>" in xmp


def test_a_joined_file_joins_again_as_a_part(parts: Parts, tmp_path: Path) -> None:
    """The cheat sheet's last part is itself joined (pages before its last, and its balanced last page)."""
    head = tmp_path / "head.pdf"
    pdfjoin.join([parts.contents, parts.first], head, None)
    whole = tmp_path / "whole.pdf"
    pdfjoin.join([head, parts.second], whole, pdfjoin.Metadata("k", EPOCH))
    with pikepdf.open(whole) as pdf:
        assert len(pdf.pages) == sum(parts.pages) and pdf.check_pdf_syntax() == []
        assert str(pdf.docinfo.Title) == "Contents", "the first part's, kept by the first join"
        assert len(pdf.Root.StructTreeRoot.K[0].K) > 60
    assert _question_pages(whole) == _question_pages_of_three(parts, tmp_path)


def _question_pages_of_three(parts: Parts, folder: Path) -> dict[int, int]:
    plain = folder / "plain.pdf"
    pdfjoin.join(parts.all, plain, pdfjoin.Metadata("k", EPOCH))
    return _question_pages(plain)


def test_a_damaged_part_is_a_join_error(parts: Parts, tmp_path: Path) -> None:
    broken = tmp_path / "broken.pdf"
    broken.write_bytes(b"%PDF-1.7\nthis is not a PDF\n")
    target = tmp_path / "out.pdf"
    with pytest.raises(pdfjoin.JoinError):
        pdfjoin.join([parts.contents, broken], target, pdfjoin.Metadata("k", EPOCH))
    assert list(tmp_path.iterdir()) == [broken], "no output, nothing half-written left"


# A child process joins `copies` copies of the part and reports its peak resident memory and the output's size.
# The peak is the process's high-water mark (VmHWM), reset after the imports (/proc/self/clear_refs, Linux 4.0+):
# ru_maxrss would not do, as a process started by another keeps the peak of the one it was forked from (pytest's,
# ~120 MB), which would hide the join's.
_MEASURE = """
import json, sys
from pathlib import Path
sys.path.insert(0, sys.argv[1])
from generator import pdfjoin
part, copies, target = Path(sys.argv[2]), int(sys.argv[3]), Path(sys.argv[4])
with open("/proc/self/clear_refs", "w") as clear:
    clear.write("5")
pdfjoin.join([part] * copies, target, pdfjoin.Metadata("k", 0))
status = Path("/proc/self/status").read_text()
peak = int(next(line for line in status.splitlines() if line.startswith("VmHWM:")).split()[1]) * 1024
print(json.dumps({"peak": peak, "size": target.stat().st_size}))
"""


@pytest.mark.skipif(not Path("/proc/self/clear_refs").exists(), reason="Linux's /proc: a peak that can be reset")
def test_memory_does_not_grow_with_the_output(tmp_path: Path) -> None:
    """15 times the parts, 15 times the output: the peak grows by a few bytes an object added, not by the output.

    The join used to build the whole output in qpdf's object model: 56 more copies of this ~120 kB part of ~3,300
    objects (~6.6 MB more output, ~180,000 more objects) took ~650 MB more, ~3.5 kB an object. Joined a part at a
    time, what grows is the cross-reference row of each object (~10 bytes), a page's number, an outline entry:
    ~25 bytes an object here. The bound, 64 bytes an object (~12 MB), leaves room for the allocator's noise and
    fails on the old join by fifty times.
    """
    body = "".join(
        f"<h2>{n} A heading</h2>"
        + "".join(f"<p>Paragraph {n}.{k}: {'words and more words ' * 12}</p>" for k in range(6))
        for n in range(1, 60)
    )
    part = _write(_page("Memory", body), tmp_path / "part.pdf")
    with pikepdf.open(part) as pdf:
        objects = len(pdf.objects)
    root = Path(__file__).resolve().parents[1]

    def measure(copies: int) -> dict[str, int]:
        target = tmp_path / f"joined-{copies}.pdf"
        command = [sys.executable, "-c", _MEASURE, str(root), str(part), str(copies), str(target)]
        result = subprocess.run(
            command, capture_output=True, text=True, check=True, env=os.environ | {"PYTHONPATH": ""}
        )
        return dict(json.loads(result.stdout))

    few, many = measure(4), measure(60)
    output_growth = many["size"] - few["size"]
    peak_growth = many["peak"] - few["peak"]
    assert output_growth > 5_000_000, "enough output that a copy of it in memory would show"
    assert peak_growth < 64 * objects * 56, (
        f"peak +{peak_growth / 1e6:.1f} MB for +{output_growth / 1e6:.1f} MB out, {objects * 56} more objects"
    )


# Join forms: each part's share of the joined file, kept beside it (`keep_forms`) and copied by the next join.


class _Counted:
    """`pdfjoin._make_form`, counting the parts it makes a form of (by file name)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.made: list[str] = []
        make = pdfjoin._make_form

        def counted(part: pikepdf.Pdf, key: Any) -> Any:
            self.made.append(Path(part.filename).name)
            return make(part, key)

        monkeypatch.setattr(pdfjoin, "_make_form", counted)


def _copied(paths: list[Path], folder: Path) -> list[Path]:
    """Copies of `paths` in `folder` (their forms are written beside them), with their times."""
    folder.mkdir(parents=True, exist_ok=True)
    copies = []
    for path in paths:
        copy = folder / path.name
        copy.write_bytes(path.read_bytes())
        os.utime(copy, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns))
        copies.append(copy)
    return copies


def _cold(parts: list[Path], folder: Path, metadata: pdfjoin.Metadata | None, numbers: Path | None = None) -> bytes:
    """The join of `parts` with nothing kept: made from the parts alone, in a folder of their own."""
    target = folder / "cold.pdf"
    pdfjoin.join(_copied(parts, folder / "cold"), target, metadata, numbers)
    assert not list((folder / "cold").glob("*.join*")), "nothing kept beside the parts without keep_forms"
    return target.read_bytes()


@pytest.fixture(scope="module")
def replacement(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Another first part of questions: other text, another number of objects (a note edited, one removed)."""
    folder = tmp_path_factory.mktemp("replacement")
    return _write(_page("Questions", _questions(range(1, 29), tricky=3)), folder / "first-edited.pdf")


def test_a_join_copying_kept_forms_writes_the_cold_joins_bytes(
    parts: Parts, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    metadata = pdfjoin.Metadata("alpha, beta", EPOCH)
    cold = _cold(parts.all, tmp_path, metadata, parts.numbers)
    counted = _Counted(monkeypatch)
    kept = _copied(parts.all, tmp_path / "kept")
    target = tmp_path / "joined.pdf"
    pdfjoin.join(kept, target, metadata, parts.numbers, keep_forms=True)
    assert counted.made == [path.name for path in kept], "no form kept yet: each made"
    assert sorted(path.name for path in (tmp_path / "kept").glob("*.join*")) == sorted(
        pdfjoin.form_path(path).name for path in kept
    )
    assert target.read_bytes() == cold, "making the forms writes what a cold join does"
    pdfjoin.join(kept, target, metadata, parts.numbers, keep_forms=True)
    assert counted.made == [path.name for path in kept], "every form copied the second time"
    assert target.read_bytes() == cold
    # Without metadata (the sheet's last part, joined again): the first part's form is another one.
    pdfjoin.join(kept, target, None, parts.numbers, keep_forms=True)
    assert counted.made[3:] == [kept[0].name], "only the first part's form depends on the metadata"
    assert target.read_bytes() == _cold(parts.all, tmp_path / "plain", None, parts.numbers)


def test_replacing_one_part_makes_its_form_only(
    parts: Parts, replacement: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    kept = _copied([*parts.all, replacement], tmp_path / "kept")
    before, after = kept[:3], [kept[0], kept[3], kept[2]]
    metadata = pdfjoin.Metadata("k", EPOCH)
    target = tmp_path / "joined.pdf"
    pdfjoin.join(before, target, metadata, keep_forms=True)
    counted = _Counted(monkeypatch)
    pdfjoin.join(after, target, metadata, keep_forms=True)
    assert counted.made == [replacement.name], "the parts after it keep their numbers: their forms are copied"
    old, new = _span(kept[1]), _span(kept[3])
    assert old != new and pdfjoin._reserved(old) == pdfjoin._reserved(new), "other numbers, within the reserve"
    assert target.read_bytes() == _cold(after, tmp_path, metadata)
    with pikepdf.open(target) as pdf:
        assert pdf.check_pdf_syntax() == []
        assert len(pdf.pages) == parts.pages[0] + pdfjoin.pages_in(replacement) + parts.pages[2]  # type: ignore[operator]


def test_a_part_outgrowing_its_reserve_moves_the_later_parts(
    parts: Parts, replacement: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # No room to spare: the edited part's other number of objects moves the next part's numbers.
    monkeypatch.setattr(pdfjoin, "_RESERVE", 1)
    kept = _copied([*parts.all, replacement], tmp_path / "kept")
    before, after = kept[:3], [kept[0], kept[3], kept[2]]
    target = tmp_path / "joined.pdf"
    pdfjoin.join(before, target, None, keep_forms=True)
    counted = _Counted(monkeypatch)
    pdfjoin.join(after, target, None, keep_forms=True)
    assert counted.made == [replacement.name, kept[2].name], "the later part numbered further on: made again"
    assert target.read_bytes() == _cold(after, tmp_path, None)
    assert _span(kept[1]) != _span(kept[3])


def _span(part: Path) -> int:
    """How many numbers the part's kept form uses."""
    data = pdfjoin.form_path(part).read_bytes()
    start = len(pdfjoin._MAGIC) + pdfjoin._SIZES.size
    record_size = pdfjoin._SIZES.unpack_from(data, len(pdfjoin._MAGIC))[0]
    return int(marshal.loads(data[start : start + record_size])[1])


def test_a_damaged_form_is_made_again_not_used(parts: Parts, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    metadata = pdfjoin.Metadata("k", EPOCH)
    cold = _cold(parts.all, tmp_path, metadata)
    kept = _copied(parts.all, tmp_path / "kept")
    target = tmp_path / "joined.pdf"
    pdfjoin.join(kept, target, metadata, keep_forms=True)
    forms = [pdfjoin.form_path(path) for path in kept]
    whole = [form.read_bytes() for form in forms]
    forms[0].write_bytes(whole[0][:-100])  # cut short
    flipped = bytearray(whole[1])
    flipped[-500] ^= 0x20  # a byte of its objects changed, the length the same
    forms[1].write_bytes(bytes(flipped))
    flipped = bytearray(whole[2])
    flipped[200] ^= 0x01  # a byte of its records
    forms[2].write_bytes(bytes(flipped))
    counted = _Counted(monkeypatch)
    pdfjoin.join(kept, target, metadata, keep_forms=True)
    assert counted.made == [path.name for path in kept]
    assert target.read_bytes() == cold
    assert [form.read_bytes() for form in forms] == whole, "made again and kept whole"
    # A part file replaced under the same name (another size or time): its old form is not used.
    kept[1].write_bytes(parts.second.read_bytes())
    pdfjoin.join(kept, target, metadata, keep_forms=True)
    assert counted.made[3:] == [kept[1].name]
    assert target.read_bytes() == _cold([parts.contents, parts.second, parts.second], tmp_path / "same", metadata)


def test_the_cache_forgets_the_forms_of_parts_it_forgets(tmp_path: Path) -> None:
    from generator.rendercache import DocumentCache

    cache = DocumentCache(tmp_path, "deck-a4+full-", {})
    names = ["deck-a4+full-1.pdf", "deck-a4+full-2.pdf", "deck-a4+pdf-3.pdf"]
    for name in names:
        (tmp_path / name).write_bytes(b"%PDF")
        pdfjoin.form_path(tmp_path / name).write_bytes(b"form")
    (tmp_path / "deck-a4+full-1.pdf.join0").write_bytes(b"a form of an older format")
    cache.keep_only([tmp_path / names[0]])
    assert sorted(path.name for path in tmp_path.iterdir()) == sorted(
        [names[0], pdfjoin.form_path(tmp_path / names[0]).name, names[2], pdfjoin.form_path(tmp_path / names[2]).name]
    ), "the forgotten part's form and the old format's go; another output's are not this cache's"
