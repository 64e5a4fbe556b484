"""Notes written in Obsidian (README: "Obsidian notes"): embedded images, wiki links, highlights, callouts, comments
and block ids, each with the HTML it must give (written by hand from the rules), each left alone in code, every line
keeping its number; and real notes from an Obsidian vault (tests/corpus/notes/obsidian, SOURCES.md) built.
"""

from __future__ import annotations

import json
import re
import shutil
import zipfile
from pathlib import Path
from typing import Any

import pytest

from generator import build as pipeline
from generator import markup, obsidian
from generator.errors import BuildFailed, Problems

CORPUS = Path(__file__).parent / "corpus" / "notes" / "obsidian"
FILES = obsidian.FileIndex(["_images/Pasted image 20231010123456.png", "figures/x.svg", "a/dup.png", "b/dup.png"])


def html(source: str, files: obsidian.FileIndex | None = FILES) -> tuple[str, Problems]:
    problems = Problems()
    context = obsidian.Context(Path("note.md"), 10, problems, files)
    return markup.new_converter().html(source, context), problems


CONVERTED = {
    "pasted image, found by its name": (
        "![[Pasted image 20231010123456.png]]",
        '<p><img alt="Pasted image 20231010123456" src="_images/Pasted image 20231010123456.png" /></p>',
    ),
    "path and width": ("![[figures/x.svg|300]]", '<p><img alt="x" src="figures/x.svg" style="width: 300px" /></p>'),
    "alt text": ("A ![[x.svg|the curve]].", '<p>A <img alt="the curve" src="figures/x.svg" />.</p>'),
    "alt text and size": (
        "![[x.svg|the curve|200x100]]",
        '<p><img alt="the curve" src="figures/x.svg" style="width: 200px; height: 100px" /></p>',
    ),
    "wiki link": ("See [[Some note]].", '<p>See <a href="#studykit-wikilink:10:Some%20note">Some note</a>.</p>'),
    "wiki link shown as": ("[[Some note|this]]", '<p><a href="#studykit-wikilink:10:Some%20note">this</a></p>'),
    "wiki link to a heading": ("[[Note#Part 2]]", '<p><a href="#studykit-wikilink:10:Note">Note &gt; Part 2</a></p>'),
    "highlight": ("a ==key idea== here", "<p>a <mark>key idea</mark> here</p>"),
    "highlight in Chinese": ("==梯度==消失", "<p><mark>梯度</mark>消失</p>"),
    "comment inline": ("shown %% hidden %% too", "<p>shown  too</p>"),
    "comment over lines": ("before\n\n%%\nhidden\nlines\n%%\n\nafter", "<p>before</p>\n<p>after</p>"),
    "block id": ("A claim. ^claim-1\n\nmore", "<p>A claim.</p>\n<p>more</p>"),
    "callout with a title, folded": (
        "> [!tip]- Remember this\n> - one\n> - two",
        '<blockquote class="callout" data-callout="tip">\n<p class="callout-title"><strong>Remember this</strong></p>\n'
        "<ul>\n<li>one</li>\n<li>two</li>\n</ul>\n</blockquote>",
    ),
    "callout without a title": (
        "> [!NOTE]\n> body text",
        '<blockquote class="callout" data-callout="note">\n<p class="callout-title"><strong>Note</strong></p>\n'
        "<p>body text</p>\n</blockquote>",
    ),
    "a plain quote stays a quote": ("> just [a] quote", "<blockquote>\n<p>just [a] quote</p>\n</blockquote>"),
    "citation brackets are no wiki link": (
        "light ([[7](https://example.org/a)])",
        '<p>light ([<a href="https://example.org/a">7</a>])</p>',
    ),
}

# Each written in code: left exactly as written.
IN_CODE = ["![[x.svg]]", "[[Some note]]", "==kept==", "%% shown %%", "> [!note] no"]


@pytest.mark.parametrize("name", sorted(CONVERTED))
def test_each_form_gives_its_html(name: str) -> None:
    source, expected = CONVERTED[name]
    converted, problems = html(source)
    assert converted == expected
    assert not problems.found


@pytest.mark.parametrize("written", IN_CODE)
def test_left_alone_in_code(written: str) -> None:
    span, _ = html(f"run `{written}` now")
    assert span == f"<p>run <code>{written.replace('>', '&gt;')}</code> now</p>"
    fenced, _ = html(f"```text\n{written} ^id\n```")
    assert f"{written.replace('>', '&gt;')} ^id" in fenced and "<mark>" not in fenced and "<img" not in fenced


def test_left_alone_in_math() -> None:
    converted, _ = html("$[[a]] == b == c$ and\n$$\nx ==y== z ^2\n$$")
    assert [found.tex for found in markup.iter_math(converted)] == ["[[a]] == b == c", "x ==y== z ^2"]


def test_problems_name_their_line_after_fenced_code() -> None:
    """Fenced code is one placeholder line when the preprocessor runs: the lines after it still report their own."""
    source = "text\n```python\na = 1\nb = 2\n```\n%% a\ncomment %%\n![[missing.png]]\n\n![[dup.png]]"
    converted, problems = html(source)
    lines = {problem.message: problem.location.line for problem in problems.found}
    assert lines == {
        "`![[missing.png]]`: no such file": 10 + 7,
        "`![[dup.png]]`: 2 files have this name: a/dup.png, b/dup.png": 10 + 9,
    }
    assert "<img" not in converted


def test_every_line_keeps_its_number() -> None:
    source = ["a ==b==", "%% start", "hidden", "end %% c", "x ^id", "[[L]]", "> [!note] T", "> y"]
    converter = markup.new_converter()
    converter.html("warm up")  # the Markdown instance is made on first use
    assert converter._markdown is not None
    preprocessor = converter._markdown.preprocessors["studykit_obsidian"]
    recorder = converter._markdown.preprocessors["studykit_obsidian_lines"]
    recorder.run(source)
    out = preprocessor.run(list(source))
    assert out == ["a ==b==", "", "", " c", "x", "[L](#studykit-wikilink:0:L)", "> [!note] T", "> y"]


# In-process checks of a small deck: errors at their lines, links resolved across notes.


def _deck(tmp_path: Path, notes: dict[str, str]) -> Path:
    folder = tmp_path / "deck"
    shutil.copytree(CORPUS, folder, ignore=shutil.ignore_patterns("*.md"))
    for number, (name, body) in enumerate(notes.items(), start=1):
        (folder / f"{name}.md").write_text(
            f"---\nid: note{number:08d}\nnumber: {number}\nquestion: Question {number}\ntags: [t]\n---\n\n"
            f"## Key points\n\n- point\n\n## Full answer\n\n{body}\n",
            encoding="utf-8",
        )
    return folder


def test_missing_embed_is_an_error_at_its_line(tmp_path: Path) -> None:
    folder = _deck(tmp_path, {"one": "Text.\n\n```python\nx = 1\n```\n\n![[Pasted image 20240101.png]]"})
    with pytest.raises(BuildFailed) as failure:
        pipeline.check(folder)
    (problem,) = failure.value.problems
    lines = (folder / "one.md").read_text(encoding="utf-8").split("\n")
    assert lines[problem.location.line - 1] == "![[Pasted image 20240101.png]]"
    assert problem.message == "`![[Pasted image 20240101.png]]`: no such file"
    assert "Pasted image 20240101.png" in problem.hint


def test_ambiguous_embed_names_both_files(tmp_path: Path) -> None:
    folder = _deck(tmp_path, {"one": "Before.\n![[GStreamer Filter Graph Example.png|200]]"})
    (folder / "figures").mkdir()
    shutil.copy(folder / "_images" / "GStreamer Filter Graph Example.png", folder / "figures")
    with pytest.raises(BuildFailed) as failure:
        pipeline.check(folder)
    (problem,) = failure.value.problems
    lines = (folder / "one.md").read_text(encoding="utf-8").split("\n")
    assert lines[problem.location.line - 1] == "![[GStreamer Filter Graph Example.png|200]]"
    assert "_images/GStreamer Filter Graph Example.png" in problem.message
    assert "figures/GStreamer Filter Graph Example.png" in problem.message
    assert "path" in problem.hint


def test_wiki_links_follow_the_target_note(tmp_path: Path) -> None:
    """A link names a note by file name or question; its number is read from the target at every read (the linking
    note may be cached as read)."""
    folder = _deck(
        tmp_path, {"one": "See [[two]], [[Question 2|the second]], [[Elsewhere]] and [[#Top]].", "two": "Two."}
    )
    read = pipeline.check(folder)
    (one, _) = read.deck.notes
    assert one.answer_html == (
        '<p>See <a href="#q2">two</a>, <a href="#q2">the second</a>, Elsewhere and <a href="#q1">Top</a>.</p>'
    )
    (warning,) = [warning for warning in read.warnings if warning.location.path.name == "one.md"]
    assert warning.location.line == 14 and "[[Elsewhere]]" in warning.message
    two = folder / "two.md"
    two.write_text(two.read_text(encoding="utf-8").replace("number: 2", "number: 7"), encoding="utf-8")
    (one, _) = pipeline.check(folder).deck.notes
    assert '<a href="#q7">two</a>' in one.answer_html


# The corpus deck: real notes from an Obsidian vault.

LEFT_OVER = re.compile(r"!\[\[|\[\[|\]\]|==|%%|\[![A-Za-z]+\]|\^my-idea")


def _text(fragment: str) -> str:
    """What a reader sees of a fragment: no tags, no code (whose text is shown as written)."""
    return markup.visible_text(fragment)


@pytest.fixture(scope="module")
def corpus_build(tmp_path_factory: pytest.TempPathFactory) -> Path:
    output = tmp_path_factory.mktemp("obsidian")
    pipeline.build(CORPUS, output, ("apkg", "html"))
    return output


def test_corpus_checks_with_only_the_links_out_of_the_deck() -> None:
    read = pipeline.check(CORPUS)
    assert [(warning.location.path.name, warning.location.line) for warning in read.warnings] == [
        ("01-filter-graph.md", 10),
        ("03-serial-ports.md", 10),
        ("03-serial-ports.md", 11),
        ("03-serial-ports.md", 12),
    ]
    assert all("links to no note of this deck" in warning.message for warning in read.warnings)
    notes = {note.number: note for note in read.deck.notes}
    assert '<a href="#q2">Pipe and Filter Architecture</a>' in notes[1].key_points_html
    assert '<a href="#q6">here</a>' in notes[6].key_points_html  # the note's own block, by its title
    assert "<mark>UNIX philosophy,</mark>" in notes[4].key_points_html
    assert '<blockquote class="callout" data-callout="note">' in notes[3].answer_html
    assert "<strong>Individual particle effect observed with light</strong>" in notes[6].answer_html
    assert [media.as_posix() for media in notes[1].media] == ["_images/GStreamer Filter Graph Example.png"]
    for note in read.deck.notes:
        for fragment in (note.key_points_html, note.answer_html):
            assert not LEFT_OVER.search(_text(fragment)), (note.number, LEFT_OVER.search(_text(fragment)))


def test_corpus_page_embeds_the_image(corpus_build: Path) -> None:
    page = (corpus_build / "corpus-obsidian.html").read_text(encoding="utf-8")
    notes = page[page.index('<main id="questions">') : page.index("</main>")]
    assert notes.count("data:image/png;base64,") == 2  # the one image, in the two notes that embed it
    assert "_images/" not in notes
    assert notes.count("<mark>") == 4 and 'href="#q2"' in notes and "studykit-wikilink" not in notes
    assert not LEFT_OVER.search(_text(notes))


def test_corpus_apkg_carries_the_image_and_imports(corpus_build: Path, col: Any) -> None:
    from tests.test_anki_deck import import_package

    package = corpus_build / "corpus-obsidian.apkg"
    with zipfile.ZipFile(package) as archive:
        (name,) = json.loads(archive.read("media")).values()  # the one image, under its flat media name
        (stored,) = [entry for entry in archive.namelist() if entry.isdigit()]
        assert archive.read(stored) == (CORPUS / "_images" / "GStreamer Filter Graph Example.png").read_bytes()
    assert "GStreamer Filter Graph Example" in name
    counts = import_package(col, package)
    assert counts["new"] == 6
    fields = " ".join(" ".join(col.get_note(note_id).fields) for note_id in col.find_notes(""))
    assert fields.count(f'src="{name}"') == 2 and col.media.have(name)
    assert "<mark>" in fields and '<blockquote class="callout"' in fields and "studykit-wikilink" not in fields
    assert not LEFT_OVER.search(_text(fields))
