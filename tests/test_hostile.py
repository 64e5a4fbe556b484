"""Hostile notes: nothing from outside the content folder may load into the PDF, the page or the deck.

Each case adds one hostile line to a copy of a real note and runs the command line in-process. The
build must fail (exit 1) naming the note and the line, with no exception escaping, and write nothing at all.
"""

from __future__ import annotations

import base64
import os
import warnings
from pathlib import Path
from typing import Any

import pikepdf
import pytest
from click.testing import Result

from generator import resources
from generator.pdfengine import ContentOnlyFetcher, ResourceRefused
from tests.conftest import TEMPLATES, content_with, studykit

NOTE = "54-*.md"
SECRET = "root:x:0:0"  # the first line of /etc/passwd: must never appear in an output
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
)

HOSTILE_LINES = {
    "link-attachment": "<link rel=attachment href=file:///etc/passwd>",
    "a-rel-attachment": '<a rel="attachment" href="https://example.com/x.pdf">attached</a>',
    "markdown-image-file-url": "![x](file:///etc/passwd)",
    "markdown-image-traversal": "![x](../../etc/passwd)",
    "markdown-image-absolute": "![x](/etc/passwd)",
    "markdown-image-percent-traversal": "![x](%2e%2e/%2e%2e/etc/passwd)",
    "markdown-image-http": "![x](http://127.0.0.1:9/x.png)",
    "markdown-image-https": "![x](https://127.0.0.1:9/x.png)",
    "markdown-image-protocol-relative": "![x](//127.0.0.1:9/x.png)",
    "markdown-image-reference": "[hostile]: file:///etc/passwd\n\n![x][hostile]",
    "html-img-https": '<img src="https://example.com/x.png" alt="x">',
    "html-img-single-quotes": "<img src='file:///etc/passwd' alt='x'>",
    "html-img-unquoted": "<img src=file:///etc/passwd alt=x>",
    "html-img-entities": '<img src="&#102;ile:///etc/passwd" alt="x">',
    "html-img-newline-in-scheme": '<img alt="x" src="fi\tle:///etc/passwd">',
    "uppercase-and-spaces": 'Inline <IMG SRC = "file:///etc/passwd"> too.',
    "style-import": "<style>@import url(file:///etc/passwd)</style>",
    "style-attribute-url": '<div style="background:url(http://127.0.0.1:9/x)">hi</div>',
    "style-attribute-escaped-url": '<div style="background:u\\72l(http://127.0.0.1:9/x)">hi</div>',
    "style-attribute-entity-url": '<div style="background:u&#114;l(http://127.0.0.1:9/x)">hi</div>',
    "style-attribute-image-set": '<div style="background-image:image-set(&quot;http://127.0.0.1:9/x&quot; 1x)">x</div>',
    "iframe": '<iframe src="http://127.0.0.1:9/"></iframe>',
    "object": '<object data="file:///etc/passwd"></object>',
    "embed": '<embed src="file:///etc/passwd">',
    "svg-image-href": '<svg><image href="file:///etc/passwd"/></svg>',
    "svg-image-xlink-href": '<svg><image xlink:href="file:///etc/passwd"/></svg>',
    "svg-use": '<svg><use href="http://127.0.0.1:9/s.svg#x"/></svg>',
    "svg-filter-url": '<svg><rect width="9" height="9" filter="url(http://127.0.0.1:9/f.svg#f)"/></svg>',
    "srcset": '<img alt="x" src="data:image/gif;base64,R0lGODlhAQABAAAAACw=" srcset="http://127.0.0.1:9/a.png 2x">',
    "srcset-in-attr-list": "![x](data:image/gif;base64,R0lGODlhAQABAAAAACw=){srcset='file:///etc/passwd 2x'}",
    "video-poster": '<video poster="http://127.0.0.1:9/p.png"></video>',
    "table-background": '<table background="file:///etc/passwd"><tr><td>x</td></tr></table>',
    "comment-trick": "<!--><img src=file:///etc/passwd>-->",
    "event-handler": '<img src="data:image/gif;base64,R0lGODlhAQABAAAAACw=" alt="x" onerror="fetch(1)">',
    "script": "<script>fetch('http://127.0.0.1:9/')</script>",
    "base": '<base href="http://127.0.0.1:9/">',
    "meta-refresh": '<meta http-equiv="refresh" content="0; url=http://127.0.0.1:9/">',
    "svg-data-uri-with-file": (
        '<img alt="x" src="data:image/svg+xml,%3Csvg xmlns=%22http://www.w3.org/2000/svg%22%3E'
        '%3Cimage href=%22file:///etc/passwd%22/%3E%3C/svg%3E">'
    ),
    "backslash-path": "![x](..\\..\\etc\\passwd)",
    "svg-animated-href": '<svg><image href="#x"><set attributeName="href" to="file:///etc/passwd"/></image></svg>',
    # A figure inside the content folder, written so that the writers would not find it to inline it:
    # the page and the deck would then load it as a path relative to wherever they are opened.
    "local-image-single-quotes": "<img src='figure.png' alt='x'>",
    "local-image-beside-a-decoy": '<img data-src="figure.png" src="figure.png" alt="x">',
    "local-image-percent-escaped": "![x](figure%2Epng)",
    "local-image-query": "![x](figure.png?v=1)",
    "local-image-in-srcset": '<img src="figure.png" srcset="figure.png 2x" alt="x">',
    "local-video": '<video src="figure.png"></video>',
}


def _build(content: Path, output: Path) -> Result:
    return studykit("build", "--content", content, "--output", output)


def _add_line(note: Path, addition: str) -> int:
    """Append `addition` to the note's full answer; return the file line of its first line."""
    text = note.read_text(encoding="utf-8").rstrip("\n") + "\n\n"
    line = text.count("\n") + 1
    note.write_text(text + addition + "\n", encoding="utf-8")
    return line


def _assert_refused(result: Result, note: Path, line: int, output: Path) -> None:
    assert result.exit_code == 1, result.stdout + result.stderr
    assert f"{note}:{line}: error:" in result.stderr, result.stderr
    assert "Traceback" not in result.stderr and "internal error" not in result.stderr, result.stderr
    assert not output.exists() or not any(output.iterdir()), "a failed build wrote something"
    assert SECRET not in result.stdout + result.stderr


@pytest.fixture
def one_note(content_copy: Path) -> Path:
    """The copy of the content folder with only the note the hostile lines go into: a faster build."""
    for other in content_copy.glob("*.md"):
        if not other.match(NOTE):
            other.unlink()
    (content_copy / "figure.png").write_bytes(PNG)
    return content_copy


@pytest.mark.parametrize("addition", list(HOSTILE_LINES.values()), ids=list(HOSTILE_LINES))
def test_hostile_line_fails_the_build_at_its_line(one_note: Path, tmp_path: Path, addition: str) -> None:
    note = next(one_note.glob(NOTE))
    line = _add_line(note, addition)
    output = tmp_path / "out"
    _assert_refused(_build(one_note, output), note, line, output)


def test_hostile_line_in_the_key_points_is_found_at_its_line(one_note: Path, tmp_path: Path) -> None:
    note = next(one_note.glob(NOTE))
    text = note.read_text(encoding="utf-8")
    text = text.replace("## Key points\n", "## Key points\n\n- see ![x](http://127.0.0.1:9/x.png) here\n", 1)
    note.write_text(text, encoding="utf-8")
    line = text[: text.index("http://127.0.0.1:9")].count("\n") + 1
    output = tmp_path / "out"
    _assert_refused(_build(one_note, output), note, line, output)


def test_the_same_hostile_line_twice_is_reported_at_both_lines(one_note: Path, tmp_path: Path) -> None:
    note = next(one_note.glob(NOTE))
    first = _add_line(note, "![x](file:///etc/passwd)")
    second = _add_line(note, "![x](file:///etc/passwd)")
    result = _build(one_note, tmp_path / "out")
    _assert_refused(result, note, first, tmp_path / "out")
    assert f"{note}:{second}: error:" in result.stderr


def test_hostile_question_fails_the_build(one_note: Path, tmp_path: Path) -> None:
    """Anki shows the question as HTML: an image in it would load from anywhere."""
    note = next(one_note.glob(NOTE))
    text = note.read_text(encoding="utf-8")
    start = text.index("\nquestion:") + 1
    end = text.index("\n", start)
    text = text[:start] + "question: 'Why? <img src=\"http://127.0.0.1:9/q.png\">'" + text[end:]
    note.write_text(text, encoding="utf-8")
    line = text[:start].count("\n") + 1
    output = tmp_path / "out"
    _assert_refused(_build(one_note, output), note, line, output)


def test_symlink_to_a_file_outside_is_refused(one_note: Path, tmp_path: Path) -> None:
    os.symlink("/etc/passwd", one_note / "passwd.png")
    os.symlink("/etc", one_note / "figures-elsewhere")
    note = next(one_note.glob(NOTE))
    line = _add_line(note, "![x](passwd.png)")
    second = _add_line(note, "![y](figures-elsewhere/passwd)")
    output = tmp_path / "out"
    result = _build(one_note, output)
    _assert_refused(result, note, line, output)
    assert f"{note}:{second}: error:" in result.stderr


def test_a_note_that_is_a_link_to_a_file_outside_is_refused(one_note: Path, tmp_path: Path) -> None:
    """Only a note that is a link itself is resolved (see reader.read_deck): that one still may not lead out."""
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    note = next(one_note.glob(NOTE))
    (outside / "99-away.md").write_text(
        note.read_text(encoding="utf-8").replace("number: 54", "number: 99").replace("id: ", "id: 9", 1), "utf-8"
    )
    os.symlink(outside / "99-away.md", one_note / "99-away.md")
    result = _build(one_note, tmp_path / "out")
    assert result.exit_code == 1, result.stdout + result.stderr
    assert f"{one_note / '99-away.md'}:1: error: note is a link to a file outside the content folder" in result.stderr


def test_resolve_below_is_path_resolve(tmp_path: Path) -> None:
    """The shortcut the resource check takes gives what Path.resolve gives, links, `..` and missing names included."""
    real = tmp_path / "real"
    (real / "figures" / "deep").mkdir(parents=True)
    (real / "figures" / "deep" / "a.svg").write_text("<svg/>", encoding="utf-8")
    (tmp_path / "out.svg").write_text("<svg/>", encoding="utf-8")
    os.symlink(tmp_path / "out.svg", real / "figures" / "link.svg")
    os.symlink(real / "figures" / "deep", real / "linked-folder")
    os.symlink(tmp_path, real / "figures" / "up")
    os.symlink(real, tmp_path / "alias")  # the folder as a note sees it, through a link
    folder = tmp_path / "alias"
    for relative in [
        "figures/deep/a.svg",
        "./figures/deep/a.svg",
        "figures/link.svg",
        "linked-folder/a.svg",
        "figures/up/out.svg",
        "figures/up/../real/figures/deep/a.svg",
        "figures/deep/../link.svg",
        "figures/deep/../deep/a.svg",
        "missing/a.svg",
        "figures/deep/a.svg/x",
        "/etc/passwd",
    ]:
        assert resources.resolve_below(folder, real, relative) == (folder / relative).resolve(), relative


@pytest.mark.parametrize("name", ["figure.svg", "disguised.png"])
def test_svg_figure_that_refers_outside_is_refused(one_note: Path, tmp_path: Path, name: str) -> None:
    """WeasyPrint reads any image that is not a raster image as SVG, whatever its name: its inside is checked."""
    (one_note / name).write_text(
        '<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" width="10" height="10">'
        '<image xlink:href="file:///etc/passwd" width="10" height="10"/></svg>\n',
        encoding="utf-8",
    )
    note = next(one_note.glob(NOTE))
    line = _add_line(note, f"![a figure]({name})")
    output = tmp_path / "out"
    result = _build(one_note, output)
    _assert_refused(result, note, line, output)
    assert name in result.stderr


def test_hyperlinks_and_figures_inside_are_allowed(one_note: Path, tmp_path: Path) -> None:
    """A link loads nothing; a figure in the content folder (plain or SVG with its own style) is fine."""
    (one_note / "figures").mkdir(exist_ok=True)
    (one_note / "figures" / "ok.svg").write_text(
        '<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10">'
        "<style>rect { fill: #36c; }</style><defs><linearGradient id='g'/></defs>"
        "<rect width='10' height='10' stroke='url(#g)'/></svg>\n",
        encoding="utf-8",
    )
    note = next(one_note.glob(NOTE))
    _add_line(
        note,
        "See [the paper](https://example.com/paper), <a href='mailto:me@example.com'>mail</a>, "
        '[below](#q54), ![a square](figures/ok.svg), ![a dot](<figure.png>) and <img alt="dot" src="figure.png">.',
    )
    output = tmp_path / "out"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = _build(one_note, output)
    assert result.exit_code == 0, result.stderr
    page = next(output.glob("*.html")).read_text(encoding="utf-8")
    assert 'href="https://example.com/paper"' in page and "data:image/svg+xml;base64," in page
    assert 'src="figure.png"' not in page and "data:image/png;base64," in page
    # The link to question 54 sits in a part joined after the booklet's contents: it still leads to the question,
    # and joining it printed no library warning.
    assert not [str(warning.message) for warning in caught if issubclass(warning.category, pikepdf.PikepdfWarning)]
    with pikepdf.open(next(output.glob("*.full.pdf"))) as booklet:
        pages = {page.obj.objgen: number for number, page in enumerate(booklet.pages)}
        names = dict(pikepdf.NameTree(booklet.Root.Names.Dests).items())
        question = pages[names["q54"][0].objgen]
        links = [
            str(annotation.Dest)
            for page in booklet.pages[question:]
            for annotation in page.obj.get("/Annots", [])
            if "/Dest" in annotation
        ]
    assert "q54" in links, "the note's own link, on the question's pages"


# The fetcher WeasyPrint loads through: the last line of defence for the PDF.


@pytest.fixture
def fetcher(content_copy: Path) -> ContentOnlyFetcher:
    return ContentOnlyFetcher([content_copy, TEMPLATES])


@pytest.mark.parametrize(
    "url",
    [
        "file:///etc/passwd",
        "FILE:///etc/passwd",
        "file://localhost/etc/passwd",
        "http://127.0.0.1:9/",
        "https://127.0.0.1:9/x.png",
        "ftp://127.0.0.1:9/x",
        "file:///etc/passwd%00.png",
    ],
)
def test_fetcher_refuses_outside(fetcher: ContentOnlyFetcher, url: str) -> None:
    with pytest.raises(ResourceRefused):
        fetcher.fetch(url)


def test_fetcher_refuses_a_path_escaping_the_content_folder(fetcher: ContentOnlyFetcher, content_copy: Path) -> None:
    escaping = content_copy.as_uri() + "/../../../../../../etc/passwd"
    with pytest.raises(ResourceRefused):
        fetcher.fetch(escaping)
    with pytest.raises(ResourceRefused):
        fetcher.fetch(content_copy.as_uri() + "/%2e%2e/%2e%2e/%2e%2e/%2e%2e/%2e%2e/etc/passwd")


def test_fetcher_refuses_a_symlink_out(fetcher: ContentOnlyFetcher, content_copy: Path) -> None:
    os.symlink("/etc/passwd", content_copy / "passwd.png")
    with pytest.raises(ResourceRefused):
        fetcher.fetch((content_copy / "passwd.png").as_uri())


def test_fetcher_allows_data_uris_and_files_inside(fetcher: ContentOnlyFetcher, content_copy: Path) -> None:
    response = fetcher.fetch("data:text/plain;base64,aGVsbG8=")
    assert response.read() == b"hello"
    inside = next(content_copy.glob(NOTE))
    response = fetcher.fetch(inside.as_uri())
    try:
        assert response.read() == inside.read_bytes()
    finally:
        response.close()
    template = fetcher.fetch((TEMPLATES / "cheatsheet.css").as_uri())
    template.close()


def test_an_svg_figure_is_checked_until_found_clean_and_a_bad_one_in_every_note(tmp_path: Path) -> None:
    """A figure found clean is not checked again in this process (resources._CLEAN_SVG_FILES); one that refers
    outside is checked and reported in every note that shows it, run after run; a clean one edited is checked
    again."""
    content = content_with(tmp_path, (56, 57))
    figure = content / "figures" / "shared.svg"
    # Its own text (the test's folder in a <desc>): no earlier test in this process has checked this figure.
    inside = (
        '<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><desc>' + str(tmp_path) + "</desc>"
        '<rect width="{0}" height="10"/>{1}</svg>'
    )
    bad = inside.format(10, '<image href="file:///etc/passwd" width="10" height="10"/>')
    figure.write_text(bad, encoding="utf-8")
    lines = {note: _add_line(note, "![shared](figures/shared.svg)") for note in sorted(content.glob("5[67]-*.md"))}
    checked: list[str] = []
    real = resources._ResourceScan.fragment

    def fragment(scan: Any, markup_text: str, *arguments: Any, **keywords: Any) -> None:
        if keywords.get("svg") is not None:
            checked.append(markup_text)
        real(scan, markup_text, *arguments, **keywords)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(resources._ResourceScan, "fragment", fragment)
        for _ in range(2):
            result = studykit("check", "--content", content)
            assert result.exit_code == 1
            for note, line in lines.items():
                assert f"{note}:{line}: error: href='file:///etc/passwd' (inside figures/shared.svg)" in result.stderr
        # In both notes; the second run takes both notes, problems and all, from the note cache.
        assert checked == [bad] * 2, "the bad figure is checked in each note that shows it"

        checked.clear()
        figure.write_text(inside.format(10, ""), encoding="utf-8")
        assert studykit("check", "--content", content).exit_code == 0
        assert studykit("check", "--content", content).exit_code == 0
        assert checked == [inside.format(10, "")], "a clean figure is checked once"

        checked.clear()
        figure.write_text(inside.format(9, ""), encoding="utf-8")
        assert studykit("check", "--content", content).exit_code == 0
        assert checked == [inside.format(9, "")], "an edited figure is checked again"
