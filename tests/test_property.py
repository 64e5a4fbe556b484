"""Random notes never crash studykit: every run succeeds, or fails with `<file>:<line>:` messages.

Hypothesis writes a content folder (the shipped deck.yaml plus one to three generated notes) and
runs the command line in-process. The notes mix Markdown (headings, lists, code fences, tables,
emphasis, links, raw HTML), math from a small TeX grammar and random junk TeX, front-matter
values of the wrong types, broken structure, and awkward text: right-to-left scripts, emoji,
control characters, CRLF line ends. Whatever comes in, the result is exit 0, or exit 1 with a
message that names a file and line; never an escaping exception (which `studykit` reports as
"internal error", exit 2).

The runs are derandomised and use no example database, so CI sees the same examples every time.
"""

from __future__ import annotations

import re
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st
from hypothesis.control import currently_in_test_context

from generator.cli import cli
from tests.conftest import CONTENT

SETTINGS = {
    "deadline": None,
    "database": None,
    "derandomize": True,
    "suppress_health_check": [HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
}

# --- TeX ------------------------------------------------------------------------------------------

TEX_ATOMS = ["x", "y", "z_1", "n", "2", "0.5", "\\alpha", "\\theta", "\\infty", "\\pi", "+", "-", "=", "\\cdot"]
TEX_ATOMS += ["\\le", "\\to", "\\partial", "\\nabla", "'", "\\ldots", "\\{a\\}", "\\%", "\\&", "é", "😀", "<", ">"]


def _tex_compound(inner: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    pair = st.tuples(inner, inner)
    return st.one_of(
        pair.map(lambda p: f"\\frac{{{p[0]}}}{{{p[1]}}}"),
        pair.map(lambda p: f"{{{p[0]}}}^{{{p[1]}}}"),
        pair.map(lambda p: f"{{{p[0]}}}_{{{p[1]}}}"),
        inner.map(lambda c: f"\\sqrt{{{c}}}"),
        inner.map(lambda c: f"\\left( {c} \\right)"),
        inner.map(lambda c: f"\\mathbf{{{c}}}"),
        inner.map(lambda c: f"\\hat{{{c}}}"),
        inner.map(lambda c: f"\\sum_{{i=1}}^{{n}} {c}"),
        inner.map(lambda c: f"\\operatorname{{softmax}}({c})"),
        pair.map(lambda p: f"\\begin{{pmatrix}} {p[0]} & {p[1]} \\\\ {p[1]} & {p[0]} \\end{{pmatrix}}"),
        pair.map(lambda p: f"\\begin{{cases}} {p[0]} & x > 0 \\\\ {p[1]} & \\text{{otherwise}} \\end{{cases}}"),
        st.text(alphabet="ab xé", min_size=1, max_size=6).map(lambda w: f"\\text{{{w}}}"),
        st.lists(inner, min_size=2, max_size=3).map(" ".join),
    )


GOOD_TEX = st.recursive(st.sampled_from(TEX_ATOMS), _tex_compound, max_leaves=6)
JUNK_TEX = st.lists(
    st.sampled_from(
        [
            *"\\{}^_&%#~'[]()|<>$ a1",
            "\\frac",
            "\\left",
            "\\right",
            "\\begin{",
            "\\end{",
            "\\nosuch",
            "\\sqrt[",
            "\\\\",
            "\\text{",
            "}}",
            "{{c1::",
            "::",
            "\n",
            "\\(",
            "\\)",
            "\\[",
            "\\]",
            "\u202e",
            "\x01",
            "|x|",
        ]
    ),
    max_size=10,
).map("".join)
TEX = st.one_of(GOOD_TEX, GOOD_TEX, JUNK_TEX, st.tuples(GOOD_TEX, JUNK_TEX).map("".join))

# --- text -----------------------------------------------------------------------------------------

AWKWARD = [
    "שלום עולם",  # Hebrew, right to left
    "مرحبا بالعالم",  # Arabic
    "\u202eRTL override\u202c",
    "\u200fmark",
    "😀👩‍💻🇫🇷",
    "e\u0301",  # a combining accent
    "\t",
    "\x0b",
    "\x0c",
    "\x1b[31m",
    "\x7f",
    "\u2028",
    "\ufeff",
    "\ufffd",
    "\r",
    "&amp;",
    "&nbsp;",
    "&#0;",
    "<",
    "a < b > c",
    "\\$",
    "$5",
    "US$ 3",
    "{{c1::x}}",
    "\\",
    "*",
    "_",
    "`",
    "[link](https://example.com)",
    "<https://example.com>",
    "<b>bold</b>",
    "<span class='x'>",
    "</div>",
    "<!-- comment -->",
    "{: .class}",
    "[^1]",
]
WORD = st.text(
    alphabet=st.characters(codec="utf-8", exclude_characters="\x00\n", exclude_categories=("Cs",)), max_size=12
)
# Fewer scripts than WORD: the PDF renderer looks for a font for every unusual character, which is slow.
TAME_WORD = st.lists(
    st.one_of(
        st.characters(min_codepoint=0x20, max_codepoint=0x17F),
        st.sampled_from([*"שלוםمرحباΩπ中文\t\x0b\x0c\x1b\x7f\u200f\u202e", "😀", "👩\u200d💻", "e\u0301"]),
    ),
    max_size=12,
).map("".join)
PLAIN = st.text(alphabet="abcdefghij klmnop", min_size=1, max_size=12)
IMAGE = st.sampled_from(["figures/softmax.svg", "figures/nope.png", "../deck.yaml", "figures/Soft max.svg"]).map(
    lambda src: f"![a figure]({src})"
)


def _markdown(wild: bool) -> st.SearchStrategy[str]:
    """A note body: several blocks. `wild` adds junk TeX, broken structure and missing files."""
    word = WORD if wild else TAME_WORD
    inline_choices = [
        PLAIN,
        PLAIN,
        word,
        st.sampled_from(AWKWARD),
        GOOD_TEX.map(lambda t: f"${t}$"),
        GOOD_TEX.map(lambda t: f"\\({t}\\)"),
        PLAIN.map(lambda w: f"*{w}*"),
        PLAIN.map(lambda w: f"**{w}**"),
        PLAIN.map(lambda w: f"_{w}_"),
        word.map(lambda w: f"`{w}`"),
        st.just("![the softmax figure](figures/softmax.svg)"),
    ]
    if wild:
        inline_choices += [TEX.map(lambda t: f"${t}$"), IMAGE]
    inline = st.one_of(*inline_choices)
    line = st.lists(inline, min_size=1, max_size=6).map(" ".join)

    def lines(prefix: str) -> st.SearchStrategy[str]:
        return st.lists(line.map(lambda text: prefix + text), min_size=1, max_size=4).map("\n".join)

    fence = st.tuples(
        st.sampled_from(["```", "~~~", "````"]), st.sampled_from(["python", "", "tex", "nosuchlang"]), line
    )
    block_choices = [
        line,
        line,
        lines("- "),
        lines("1. "),
        st.tuples(line, line).map(lambda p: f"- {p[0]}\n    - {p[1]}"),
        lines("> "),
        line.map(lambda t: f"### {t}"),
        GOOD_TEX.map(lambda t: f"$$\n{t}\n$$"),
        GOOD_TEX.map(lambda t: f"\\[\n{t}\n\\]"),
        fence.map(lambda p: f"{p[0]}{p[1]}\n{p[2]}\n## Key points\n$x$ and $\n{p[0]}"),
        st.lists(st.lists(inline, min_size=2, max_size=2).map(" | ".join), min_size=1, max_size=3).map(
            lambda rows: "| a | b |\n|---|:-:|\n" + "\n".join(f"| {row} |" for row in rows)
        ),
        st.just("***"),
        PLAIN.map(lambda t: f"<div>{t}</div>"),
        line.map(lambda t: f"    {t}"),  # an indented code block
    ]
    if wild:
        block_choices += [
            line.map(lambda t: f"## {t}"),  # a section that does not exist
            line.map(lambda t: f"# {t}"),
            TEX.map(lambda t: f"$$\n{t}\n$$"),
            TEX.map(lambda t: f"$${t}$$"),
            TEX.map(lambda t: f"$$\n{t}"),  # never closed
            line.map(lambda t: f"```\n{t}"),  # a fence never closed
            st.just("---"),
            line.map(lambda t: f"<div>{t}</div>"),  # math in raw HTML is not rendered
        ]
    return st.lists(st.one_of(*block_choices), min_size=1, max_size=5).map("\n\n".join)


BODY = {True: _markdown(wild=True), False: _markdown(wild=False)}
CLOZE_ITEM = st.one_of(
    st.tuples(PLAIN, TAME_WORD).map(lambda p: f"- {p[0]} {{{{c1::{p[1]}}}}}"),
    st.tuples(PLAIN, GOOD_TEX).map(lambda p: f"- {p[0]} {{{{c1::${p[1]}$}}}} and {{{{c2::more}}}}"),
    st.tuples(PLAIN, GOOD_TEX).map(lambda p: f"- {p[0]} ${{{{c1::{p[1]}}}}}$"),
    st.sampled_from(AWKWARD).map(lambda t: f"- {t} {{{{c1::{t}}}}}"),
)
WILD_CLOZE_ITEM = st.one_of(CLOZE_ITEM, PLAIN.map(lambda t: f"- {t}"), WORD.map(lambda t: f"- {{{{c1::{t}"), WORD)

# --- front matter ---------------------------------------------------------------------------------

HEX_ID = st.from_regex(r"[0-9a-f]{12}", fullmatch=True)
TAG = st.from_regex(r"[a-z][a-z0-9-]{0,8}(::[a-z0-9]{1,4})?", fullmatch=True)
IDS = st.one_of(
    HEX_ID,
    HEX_ID,
    st.sampled_from(["", "''", "ab", "12345", "1.5", "1e400", ".nan", "true", "null", "[a, b]", "{a: 1}", "ünï-cødé"]),
    WORD,
)
NUMBERS = st.one_of(
    st.integers(1, 200).map(str),
    st.integers(1, 200).map(str),
    st.sampled_from(["fifty", "5.5", "-3", "0", "99999999999999999999999", "true", "[1]", "", "0x10", "'7'", "1_0"]),
)
SAFE_QUESTION = st.lists(
    st.one_of(PLAIN, st.sampled_from(["שלום", "مرحبا", "😀👩‍💻", "e\u0301", "<b>", "&amp;", "$x$"])),
    min_size=1,
    max_size=4,
).map(lambda words: '"' + " ".join(words).replace('"', "'") + '?"')
QUESTIONS = st.one_of(
    SAFE_QUESTION,
    WORD,
    st.sampled_from(["", "[a, b]", "42", "null", "|\n  a block\n  question", ">-\n  folded", "What: this?"]),
)
TAGS = st.one_of(
    st.lists(TAG, max_size=3).map(lambda t: f"[{', '.join(t)}]"),
    st.lists(st.one_of(TAG, WORD), max_size=3).map(lambda t: f"[{', '.join(t)}]"),
    st.sampled_from(["cnn detection", "{a: 1}", "[1, 2]", "[[a]]", "[ÜBER]", "", "null", "[a::b, c::]", "- a\n  - b"]),
)
EXTRA_KEYS = st.lists(
    st.sampled_from(
        [
            "true: 1",
            "null: x",
            "~: y",
            "0x10: z",
            "2024-01-01: d",
            "<<: {id: abcd1234, foo: 1}",
            "extra: field",
            "? [a, b]\n: c",
            "id: again",
            "&anchor key: *anchor",
            "\t tab: indented",
            "   : empty key",
            "!!binary x: y",
        ]
    ),
    max_size=2,
)


def _chance(denominator: int) -> st.SearchStrategy[bool]:
    """True once in `denominator` draws (roughly): for rarer breakage."""
    return st.integers(0, denominator - 1).map(lambda n: n == 0)


@st.composite
def note_texts(draw: st.DrawFn, number: int, wild: bool) -> str:
    """One note. Tame notes have a valid front matter and math, so that most of them build."""
    if wild:
        front = [
            f"id: {draw(IDS)}",
            f"number: {draw(NUMBERS)}",
            f"question: {draw(QUESTIONS)}",
            f"tags: {draw(TAGS)}",
            *draw(EXTRA_KEYS),
        ]
        if draw(_chance(6)):
            front = draw(st.permutations(front))[: draw(st.integers(0, len(front)))]
    else:
        tags = draw(st.lists(TAG, min_size=1, max_size=3))
        front = [f"id: {draw(HEX_ID)}", f"number: {number}", f"question: {draw(SAFE_QUESTION)}", f"tags: {tags}"]
    sections = [("Key points", draw(BODY[wild])), ("Full answer", draw(BODY[wild]))]
    if draw(_chance(3)):
        items = draw(st.lists(WILD_CLOZE_ITEM if wild else CLOZE_ITEM, min_size=1, max_size=3))
        sections.append(("Cloze", "\n".join(items)))
    if wild and draw(_chance(8)):
        sections = draw(st.permutations(sections))
    if wild and draw(_chance(10)):
        sections = sections[: draw(st.integers(0, len(sections)))]
    body = "\n\n".join(f"## {title}\n\n{text}" for title, text in sections)
    parts = ["---", *front]
    if not (wild and draw(_chance(15))):
        parts.append("---")
    if wild and draw(_chance(15)):
        parts.append(draw(PLAIN))  # text before the first section
    text = "\n".join(parts) + "\n\n" + body + "\n"
    if draw(_chance(4)):
        text = text.replace("\n", "\r\n")
    elif wild and draw(_chance(10)):
        text = text.replace("\n", draw(st.sampled_from(["\r", "\r\n\r", "\n\r"])))
    if draw(_chance(10)):
        text = "\ufeff" + text
    return text


@st.composite
def decks(draw: st.DrawFn, wild: bool) -> list[str]:
    count = draw(st.integers(1, 3))
    return [draw(note_texts(number=index + 1, wild=wild and draw(_chance(2)))) for index in range(count)]


# --- running --------------------------------------------------------------------------------------

FIGURE = CONTENT / "figures" / "softmax.svg"


@pytest.fixture(scope="module", autouse=True)
def math_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Random formulas go to a throwaway math cache, not the user's."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("STUDYKIT_CACHE_DIR", str(tmp_path_factory.mktemp("math-cache")))
        yield


def write_content(folder: Path, notes: list[str]) -> Path:
    content = folder / "content"
    (content / "figures").mkdir(parents=True)
    shutil.copy(CONTENT / "deck.yaml", content / "deck.yaml")
    shutil.copy(FIGURE, content / "figures" / FIGURE.name)
    for index, text in enumerate(notes):
        (content / f"{index + 1:02d}-note.md").write_bytes(text.encode("utf-8"))
    return content


def invoke(*arguments: str) -> Result:
    return CliRunner().invoke(cli, list(arguments), catch_exceptions=True)


def assert_clean(result: Result, content: Path) -> None:
    """Exit 0, or exit 1 with at least one `<file>:<line>:` message; never an exception escaping."""
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception  # hypothesis shows it, with the example that caused it
    assert result.exit_code in (0, 1), result.output
    if result.exit_code == 1:
        assert re.search(rf"{re.escape(str(content))}/[^\n]*:\d+: (error|warning): ", result.output), result.output


def check_and_build(notes: list[str], outputs: tuple[str, ...]) -> int:
    """Check and build the notes; the build's exit code."""
    with tempfile.TemporaryDirectory(prefix="studykit-property-") as folder:
        content = write_content(Path(folder), notes)
        checked = invoke("check", "--content", str(content), "--jobs", "1")
        assert_clean(checked, content)
        output = Path(folder) / "out"
        built = invoke("build", *outputs, "--content", str(content), "--output", str(output), "--jobs", "1")
        assert_clean(built, content)
        assert (built.exit_code == 0) == (checked.exit_code == 0), (checked.output, built.output)
        if currently_in_test_context():  # not in a plain test
            event(f"exit {built.exit_code}")
            for message in re.findall(r":\d+: error: ([a-z`#$ ]{4,24})", checked.output):
                event(f"error: {message}")
        written = sorted(p.name for p in output.iterdir()) if output.exists() else []
        if built.exit_code == 0:
            assert len(written) == len(outputs), written
        else:
            assert written == [], "a failed build wrote something"
        return built.exit_code


def _note(front: str) -> str:
    return f"---\n{front}\n---\n\n## Key points\n\n- a point\n\n## Full answer\n\nAn answer.\n"


# Crashes hypothesis found, kept so that they are tried first on every run.
FOUND = [
    # KeyError 'True': YAML reads the key `true` as True, and the key's line was filed under "true".
    [_note("id: abcd1234\nnumber: 1\nquestion: Q?\ntags: [a]\ntrue: 1")],
    # KeyError 'id': a key merged in with `<<` has no line of its own.
    [_note("<<: {id: ab, foo: 1}\nnumber: 1\nquestion: Q?\ntags: [a]")],
    [_note("<<: {id: abcd1234, foo: 1}\nnumber: 1\nquestion: Q?\ntags: [a]\nnull: x\n0x10: z")],
]


# Decks written by hand so that every kind of problem the random decks run into (the events
# `--hypothesis-show-statistics` lists for test_check_and_page_never_crash) is tried on every run, whatever
# hypothesis draws; they let the random part run 80 examples instead of 160.
def _front_matter(lines: str, body: str, close: bool = True) -> str:
    return "---\n" + lines + ("\n---\n" if close else "\n") + "\n" + body


NOTE_BODY = "## Key points\n\n- a point\n\n## Full answer\n\nAn answer.\n"

DETERMINISTIC = {
    "front-matter values of the wrong type": [
        _front_matter(
            "id: [a, b]\nnumber: fifty\nquestion: [a, b]\ntags: {a: 1}\ntrue: 1\n<<: {extra: 2}",
            "## Key points\n\n## Summary\n\nText.\n\n## Full answer\n\nAn answer.\n",
        ),
        _front_matter("id: ''\nnumber: 2\nquestion:\ntags: cnn detection", NOTE_BODY),
        _front_matter("id: abcdef123456\ntags: [a]", NOTE_BODY),
    ],
    "broken structure": [
        NOTE_BODY,
        _front_matter("id: 0123456789ab\nnumber: 2\nquestion: Q?\ntags: [a]", NOTE_BODY, close=False),
        _front_matter("id: 0123456789ac\nnumber: 3\nquestion: a: b\ntags: [a]", NOTE_BODY),
        _front_matter(
            "id: 0123456789ad\nnumber: 4\nquestion: Q?\ntags: [a]", "## Key points\n\n## Full answer\n\nAn answer.\n"
        ),
        _front_matter("id: 0123456789ba\nnumber: 5\nquestion: Q?\ntags: [a]", "## Key points\n\n- a point\n"),
        _front_matter(
            "id: 0123456789bb\nnumber: 6\nquestion: Q?\ntags: [a]",
            "## Full answer\n\nAn answer.\n\n## Key points\n\n- a point\n",
        ),
    ],
    "junk math and awkward text": [
        "\ufeff"
        + _front_matter(
            'id: 0123456789ad\nnumber: 1\nquestion: "שלום مرحبا 😀 e\u0301?"\ntags: [a]',
            "## Key points\n\n- $\\frac{a}{b$ and $\\nosuch x$ and $a & b$ and $x\x01y$ and $\u202e x$\n"
            "- $|x|$ in | a | table |\n\n## Full answer\n\nThe cost is $x + y here.\n\n"
            "| a | b |\n| --- | --- |\n| $x$ | $|x|$ |\n\n$$\n\\sqrt[\n\n```python\nnever closed\n\n"
            "## Cloze\n\n- {{c1::never closed\n",
        ).replace("\n", "\r\n"),
    ],
    "duplicates and a list for front matter": [
        _front_matter("id: 0123456789ae\nnumber: 1\nquestion: Q?\ntags: [a]", NOTE_BODY),
        _front_matter("id: 0123456789ae\nnumber: 1\nquestion: Q?\ntags: [a]", NOTE_BODY),
        "---\n- a\n- b\n---\n\n" + NOTE_BODY,
    ],
    "every construct, valid": [
        _front_matter(
            'id: 0123456789af\nnumber: 1\nquestion: "Why $x$ and <b>bold</b> & more?"\ntags: [a, b::c]',
            "## Key points\n\n- *a* **b** _c_ `code` [link](https://example.com)"
            " ![the softmax figure](figures/softmax.svg)\n"
            "    - nested $\\sum_{i=1}^{n} x_i$\n1. one \\(a_1\\)\n\n> quote $\\alpha$\n\n### Heading\n\n"
            "$$\n\\begin{pmatrix} a & b \\\\ c & d \\end{pmatrix}\n$$\n\n\\[\n\\frac{1}{2}\n\\]\n\n"
            "| a | b |\n|---|:-:|\n| $x$ | $\\lvert x \\rvert$ |\n\n"
            "## Full answer\n\n~~~python\nprint(1)\n~~~\n\n````\n```\n````\n\n    indented code\n\n"
            "שלום עולם, مرحبا, 😀, e\u0301, US$ 3, \\$5, &amp;, <div>raw $x$</div>\n\n***\n\n"
            "## Cloze\n\n- softmax {{c1::$\\frac{e^{z_i}}{\\sum_j e^{z_j}}$}} and {{c2::more::a hint}}\n"
            "- inside ${{c1::\\hat{y}}}$\n",
        ).replace("\n", "\r\n"),
    ],
}


def _with_examples(test: Any) -> Any:
    for notes in [*FOUND, *DETERMINISTIC.values()]:
        test = example(notes)(test)
    return test


@settings(max_examples=80, **SETTINGS)  # type: ignore[arg-type]
@given(decks(wild=True))
@_with_examples
def test_check_and_page_never_crash(notes: list[str]) -> None:
    check_and_build(notes, ("html",))


def test_a_note_with_every_construct_builds_every_output() -> None:
    assert check_and_build(DETERMINISTIC["every construct, valid"], ("apkg", "pdf", "html")) == 0


@settings(max_examples=8, **SETTINGS)  # type: ignore[arg-type]
@given(decks(wild=False))
def test_every_output_never_crashes(notes: list[str]) -> None:
    check_and_build(notes, ("apkg", "pdf", "html"))
