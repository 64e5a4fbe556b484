"""WeasyPrint, the PDF engine: the one module that lays HTML out as PDF.

Every PDF studykit writes is tagged PDF/UA-1 (structure tree, /Lang, title shown, fonts embedded)
and loads nothing but data URIs and files inside the content folder and the templates: WeasyPrint's
default fetcher follows any URL, so `file:///etc/passwd` in a note would end up embedded in the PDF,
and http(s) requests would leave the machine. Writers import this module only when they run, so a
build without PDFs never loads WeasyPrint.
"""

from __future__ import annotations

import base64
import collections
import contextlib
import dataclasses
import email.message
import email.policy
import functools
import hashlib
import itertools
import json
import logging
import os
import re
import signal
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path
from types import FrameType
from typing import Any
from urllib.parse import unquote, urlsplit


@contextlib.contextmanager
def _libraries_found_in_the_linker_cache() -> Iterator[None]:
    """While WeasyPrint loads: its native libraries looked up in the dynamic linker's cache, once.

    WeasyPrint tries several names for each of its seven libraries (Pango, HarfBuzz, fontconfig…), and cffi hands
    each name it cannot open as it is to `ctypes.util.find_library`, which on Linux runs `ldconfig -p` and then
    gcc and ld to search for it: 22 lookups, 280 ms of every process that lays out a PDF (half of loading
    WeasyPrint). Here the cache is listed once and each lookup answers from that listing what `find_library`'s
    own first step would; the gcc and ld searches only find libraries outside the cache, which a WeasyPrint
    installed as its documentation says does not use. Without `ldconfig` (not Linux), nothing changes.
    """
    import ctypes.util
    import shutil
    import subprocess

    ldconfig = shutil.which("ldconfig") or ("/sbin/ldconfig" if os.path.exists("/sbin/ldconfig") else None)
    original = ctypes.util.find_library
    try:
        listed = (
            subprocess.run(
                [ldconfig, "-p"], capture_output=True, text=True, env={"LC_ALL": "C", "LANG": "C"}, timeout=10
            ).stdout
            if ldconfig
            else ""
        )
    except (OSError, subprocess.SubprocessError):
        listed = ""
    if not listed:
        yield
        return

    def find_library(name: str) -> str | None:
        # As ctypes.util._findSoname_ldconfig reads the listing (its machine check aside: the cache holds the
        # libraries of this machine's own ABI first, and a foreign one would not open, as before).
        found = re.search(rf"\s+(lib{re.escape(name)}\.[^\s]+)\s+\(", listed)
        return found.group(1) if found else None

    ctypes.util.find_library = find_library
    try:
        yield
    finally:
        ctypes.util.find_library = original


with _libraries_found_in_the_linker_cache():
    import weasyprint
    from weasyprint.formatting_structure import boxes as weasy_boxes
    from weasyprint.urls import FatalURLFetchingError, URLFetcher, URLFetcherResponse

from generator import formuladraw  # noqa: E402 (WeasyPrint first, loaded as above)
from generator.errors import OutputError  # noqa: E402

# WeasyPrint and fontTools log what they cannot do (a glyph no font has, a CSS property they skip) straight to
# the terminal, as raw library lines that -q cannot hide. The reader reports characters without a font at their
# file and line before anything is laid out, so these lines only repeat it, or are noise.
for _noisy in ("weasyprint", "fontTools"):
    logging.getLogger(_noisy).setLevel(logging.CRITICAL)


_interrupted = False  # a Ctrl-C came while WeasyPrint was drawing (see `interrupts_kept`)


@contextlib.contextmanager
def interrupts_kept() -> Iterator[None]:
    """Let Ctrl-C stop WeasyPrint, which catches every exception (BaseException) raised while it draws an SVG image.

    Without this, a Ctrl-C during the drawing of a formula is logged as a failed image and lost: the formula is
    left out and the build goes on to write a PDF missing it. Here the interrupt is remembered, every later SVG
    path raises it again (so the rest of the drawing goes fast), and it is raised once WeasyPrint returns.
    """
    global _interrupted
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.getsignal(signal.SIGINT)

    def remember(number: int, frame: FrameType | None) -> None:
        global _interrupted
        _interrupted = True
        raise KeyboardInterrupt

    if previous is not signal.default_int_handler:  # ignored, or someone else's handler: leave it alone
        yield
        return
    signal.signal(signal.SIGINT, remember)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
        interrupted, _interrupted = _interrupted, False
    if interrupted:
        raise KeyboardInterrupt


def _memoize_svg_paths() -> None:
    """Draw each distinct SVG path once per process, then replay its PDF operators.

    WeasyPrint parses an SVG `<path d=…>` in Python every time it is drawn, and a MathJax formula is made of
    glyph paths that recur across formulas (every italic x, every sum sign): in the booklet, a fifth of the time
    went into parsing the same `d` strings again. The operators a path appends to the content stream depend
    only on `d`, the font size and the SVG's viewport (for percentages), so replaying them gives the same bytes.
    Only the registry entry for `<path>` is wrapped, and only when WeasyPrint is laid out as expected.
    """
    import importlib

    weasy_svg = importlib.import_module("weasyprint.svg")
    # By its module name: the package's attribute `path` is the function it imports from that module.
    weasy_path = importlib.import_module("weasyprint.svg.path")
    draw: Callable[[Any, Any, float], None] = weasy_svg.TAGS.get("path")
    if draw is None or draw is not getattr(weasy_path, "path", None):
        return  # another WeasyPrint layout: draw as it does
    recorded: dict[object, tuple[list[Any], list[Any]]] = {}

    def replayed(svg: Any, node: Any, font_size: float) -> None:
        if _interrupted:
            raise KeyboardInterrupt  # WeasyPrint swallows it for this image; `interrupts_kept` raises it at the end
        operators = getattr(svg.stream, "stream", None)
        vertices = getattr(node, "vertices", None)
        if not isinstance(operators, list) or not isinstance(vertices, (list, collections.deque)):
            draw(svg, node, font_size)
            return
        d = node.get("d", "")
        # Plain numbers (MathJax's glyphs) draw the same in any SVG; a unit or a percentage depends on it.
        key: object = d if _PLAIN_PATH.fullmatch(d) else (d, font_size, svg.inner_width, svg.inner_height)
        if (hit := recorded.get(key)) is not None:
            operators.extend(hit[0])
            vertices.extend(hit[1])
            return
        operators_before, vertices_before = len(operators), len(vertices)
        draw(svg, node, font_size)  # a PointError (a malformed path) leaves nothing recorded, as it should
        if len(recorded) >= _MAX_RECORDED_PATHS:
            recorded.clear()
        recorded[key] = (operators[operators_before:], list(itertools.islice(vertices, vertices_before, None)))

    weasy_svg.TAGS["path"] = replayed


# Distinct paths kept: a glyph outline is about a kilobyte of operators; a big bank draws a few thousand.
_MAX_RECORDED_PATHS = 50_000
_PLAIN_PATH = re.compile(r"[\d\s.,+\-eEachlmqstvzACHLMQSTVZ]*")
_memoize_svg_paths()


# The formulas drawn in this process, by data URI (see `_memoize_formulas`).
_RECORDED_FORMULAS: dict[str, tuple[list[Any], list[Any], dict[str, dict[str, Any]]]] = {}


def _memoize_formulas() -> None:
    """Draw each distinct formula once per process, then replay its PDF operators, at any size.

    A formula is an SVG data URI drawn as a box's background, and the same formula is drawn in the booklet's key
    points and answer, the cheat sheet and the flashcards (each at its own type size): two draws in three, in a
    build of every output. Walking the SVG tree costs ~7 ms a formula even with its paths replayed (a new class per
    `<use>`, a matrix product per transform), a sixth of a booklet's drawing.

    What a drawing appends depends on the SVG alone, but for the root's own transform, which scales its viewBox to
    the box: so that transform is worked out afresh for each draw (by WeasyPrint's own code, on a scratch stream)
    and the rest replayed. Only an SVG whose drawing touches nothing but the operators of the stream it is drawn
    into (and its opacity states) is replayed: plain shapes and `<use>`, no text (glyphs are recorded in the
    document's fonts), images, gradients, patterns, masks, clips, filters or styles; with a viewBox (without one,
    percentages follow the box's size); and drawn on a stream in its starting state (a group of its own, as a
    background is), since an operator that sets the colour or opacity already set is left out.
    """
    import importlib

    weasy_images = importlib.import_module("weasyprint.images")
    weasy_svg = importlib.import_module("weasyprint.svg")
    svg_class: Any = getattr(weasy_images, "SVGImage", None)
    draw: Callable[..., None] | None = getattr(svg_class, "draw", None)
    svg_tag: Callable[[Any, Any, float], None] | None = weasy_svg.TAGS.get("svg")
    size: Callable[..., float] | None = getattr(weasy_svg, "size", None)
    if draw is None or svg_tag is None or size is None:
        return  # another WeasyPrint layout: draw as it does

    # (operators before the root's own transform, those after it, opacity states), by data URI. Those after it are
    # kept joined as one item of the stream: pydyf joins a stream's items with newlines, so one item holding them
    # joined by newlines writes the same bytes, in a thousandth of the memory of a thousand items. (WeasyPrint only
    # compares a stream's last item with `q` or `ET` otherwise, and a drawing ends with `Q`.)
    recorded = _RECORDED_FORMULAS
    # Whether each formula drawn in this process replays, by `_url_key`: every formula of a big bank passes through
    # here, and keyed by its data URI (~10 KB) this alone held ~350 MB at 5,000 notes.
    replayable: dict[tuple[int, int], bool] = {}
    recorded_bytes = 0

    def root_transform(svg: Any, stream: Any, width: float, height: float) -> list[Any]:
        """The operators the root element's own drawing appends at this size (its position and viewBox scale)."""
        scratch = stream.clone(extra=None)
        svg.stream = scratch
        svg.tree.set_svg_size(svg, width, height)
        font_size = size(svg.tree.get("font-size", "1em"), size("12pt"), size("12pt"))
        svg_tag(svg, svg.tree, font_size)
        return list(scratch.stream)

    def keep(url: str, entry: tuple[list[Any], list[Any], dict[str, dict[str, Any]]], *, on_disk: bool) -> None:
        """The formula's drawing kept for replay in this process (within the bound), and on disk unless it came from
        there."""
        nonlocal recorded_bytes
        if recorded_bytes > _MAX_RECORDED_FORMULA_BYTES:
            recorded.clear()
            recorded_bytes = 0
        recorded[url] = entry
        replayable[_url_key(url)] = True
        recorded_bytes += _recorded_size(entry[1])
        if not on_disk:
            _KEPT_DRAWINGS.save(url, entry)

    def replayed(image: Any, stream: Any, width: float, height: float, style: Any) -> None:
        assert draw is not None
        url = getattr(image, "_base_url", None)
        svg = getattr(image, "_svg", None)
        if _interrupted or not isinstance(url, str) or svg is None or not _starting_state(stream):
            draw(image, stream, width, height, style)
            return
        # The disk only for a formula not known to draw other than plainly (one with text is looked up there once).
        hit = recorded.get(url)
        key = _url_key(url)
        if hit is None and replayable.get(key) is not False and (hit := _KEPT_DRAWINGS.load(url)) is not None:
            keep(url, hit, on_disk=True)
        # Not drawn yet: worked out from the SVG's XML without walking it, when it holds only what the converter
        # knows exactly (its own checks make `_plain_svg`'s needless), else walked below if it is plain.
        fresh = hit is None and replayable.get(key) is not False and url.startswith("data:")
        if fresh and (hit := _converted(svg)) is not None:
            keep(url, hit, on_disk=False)
        if hit is None and not replayable.setdefault(key, url.startswith("data:") and _plain_svg(svg.tree)):
            draw(image, stream, width, height, style)
            return
        if hit is not None:
            before, after, states = hit
            stream.stream.extend(before)
            stream.stream.extend(root_transform(svg, stream, width, height))
            stream.stream.extend(after)
            extended = stream._resources["ExtGState"]
            for name, state in states.items():
                if name not in extended:
                    extended[name] = type(extended)(state)
            return
        start = len(stream.stream)
        resources = {name: len(value) for name, value in stream._resources.items() if isinstance(value, dict)}
        depth, ctm = len(stream._ctm_stack), list(stream.ctm)
        draw(image, stream, width, height, style)
        if _interrupted:
            return  # WeasyPrint swallowed the interrupt: the drawing stopped half way
        operators = stream.stream[start:]
        extended = stream._resources["ExtGState"]
        added = list(extended)[resources.get("ExtGState", 0) :]
        unchanged = all(
            len(value) == resources.get(name)
            for name, value in stream._resources.items()
            if isinstance(value, dict)
            if name != "ExtGState"
        )
        opacity_only = all(set(extended[name]) <= {"ca", "CA"} for name in added)
        balanced = len(stream._ctm_stack) == depth and list(stream.ctm) == ctm
        if not (unchanged and opacity_only and balanced and _starting_state(stream)):
            replayable[key] = False
            return
        # Where the root's transform lies: right after the root's `q` (a root with a transform of its own is not plain).
        root = root_transform(svg, stream, width, height)
        at = next((index for index in range(3) if operators[index : index + len(root)] == root), None)
        if at is None or not root:
            replayable[key] = False
            return
        states = {name: dict(extended[name]) for name in added}
        keep(url, (operators[:at], _joined(operators[at + len(root) :]), states), on_disk=False)

    # The drawing it stands for, as `__wrapped__` (the tests compare the two).
    svg_class.draw = functools.wraps(draw)(replayed)


def _url_key(url: str) -> tuple[int, int]:
    """A formula's data URI as `_memoize_formulas` remembers whether it replays: its hash (computed once per string
    and kept on it) and length. Two URIs that met here would only mean one is walked as the other was judged: the
    drawing itself is recorded and looked up by the whole URI."""
    return hash(url), len(url)


def _joined(after: list[Any]) -> list[Any]:
    """The operators after the root's transform as one item, when they are all bytes (see `_memoize_formulas`)."""
    if after and all(isinstance(operator, bytes) for operator in after) and after[-1] not in (b"q", b"ET"):
        return [b"\n".join(after)]
    return after


def _converted(svg: Any) -> tuple[list[Any], list[Any], dict[str, dict[str, Any]]] | None:
    """The entry WeasyPrint's walk of `svg` would record (see `_memoize_formulas`), worked out without the walk.

    `formuladraw` knows MathJax's kind of SVG and declines anything else (None): the walk draws those.
    """
    found = formuladraw.drawn(svg)
    if found is None:
        return None
    before, after, states = found
    # As `_joined` would join them: the converter's operators are all bytes and end with the root's `Q`.
    return before, [b"\n".join(after)], dict(states)


def _recorded_size(operators: list[Any]) -> int:
    """About what a recorded drawing's operators take in memory (the bytes, and an object's overhead each)."""
    return sum(len(operator) + 64 for operator in operators if isinstance(operator, bytes))


class _KeptDrawings:
    """The formulas' recorded drawings (see `_memoize_formulas`), kept in the cache folder between processes.

    Each build is a new process, and drawing a formula the first time walks its SVG tree in Python (10-20 ms): after
    a one-note edit, every formula on the pages laid out again was walked again, a fifth of the rebuild. A drawing
    is kept by the hash of its data URI (what it draws depends on nothing else, see `_memoize_formulas`), under
    the WeasyPrint and pydyf versions that drew it, as JSON (operators as Latin-1 text: bytes one for one). Only
    plain entries are written or read back: bytes operators and numeric opacity states. A file that cannot be
    read, or holds anything else, is a miss: the formula is drawn, as without the cache.
    """

    @functools.cached_property
    def format(self) -> str:
        """The folder's name: what drew the entries (asked on the first lookup, not when the module loads)."""
        return f"weasyprint-{VERSION}-pydyf-{version('pydyf')}-1"

    def _path(self, url: str) -> Path:
        from generator.context import cache_root  # read each time: the environment names the cache

        return cache_root() / "drawn" / self.format / f"{hashlib.sha256(url.encode('utf-8')).hexdigest()[:40]}.json"

    def load(self, url: str) -> tuple[list[Any], list[Any], dict[str, dict[str, Any]]] | None:
        try:
            stored = json.loads(self._path(url).read_text(encoding="utf-8"))
            before, after, states = stored["before"], stored["after"], stored["states"]
            entry = (
                [operator.encode("latin-1") for operator in before],
                [operator.encode("latin-1") for operator in after],
                {str(name): dict(state) for name, state in states.items()},
            )
        except (OSError, ValueError, TypeError, KeyError, AttributeError):
            return None
        return entry if _plain_drawing(entry) else None

    def save(self, url: str, entry: tuple[list[Any], list[Any], dict[str, dict[str, Any]]]) -> None:
        if not _plain_drawing(entry):
            return
        before, after, states = entry
        path = self._path(url)
        temporary = path.with_name(f"{path.name}.{os.getpid()}.tmp")
        text = json.dumps(
            {
                "before": [operator.decode("latin-1") for operator in before],
                "after": [operator.decode("latin-1") for operator in after],
                "states": states,
            }
        )
        try:  # a cache that cannot be written only costs the drawing next time
            path.parent.mkdir(parents=True, exist_ok=True)
            temporary.write_text(text, encoding="utf-8")
            os.replace(temporary, path)
        except OSError:
            with contextlib.suppress(OSError):
                temporary.unlink()


def _plain_drawing(entry: tuple[list[Any], list[Any], dict[str, dict[str, Any]]]) -> bool:
    before, after, states = entry
    return (
        all(isinstance(operator, bytes) for operator in (*before, *after))
        and all(isinstance(name, str) and isinstance(state, dict) for name, state in states.items())
        and all(
            isinstance(key, str) and isinstance(value, (int, float)) and not isinstance(value, bool)
            for state in states.values()
            for key, value in state.items()
        )
    )


_KEPT_DRAWINGS = _KeptDrawings()


# The elements a replayed formula may hold (MathJax draws glyphs as paths placed by <use>, bars as rects).
_PLAIN_SVG_TAGS = frozenset({"svg", "g", "defs", "path", "use", "rect", "line", "polyline", "polygon", "title", "desc"})
# Attributes that draw into other objects (groups, clips, masks) or depend on more than the SVG.
_UNPLAIN_ATTRIBUTES = frozenset(
    {
        "style",
        "class",
        "clip-path",
        "mask",
        "filter",
        "marker-start",
        "marker-mid",
        "marker-end",
        "marker",
        "transform-origin",
    }
)
# Operators kept for replay, at most: a formula is ~10-30 KB of them.
_MAX_RECORDED_FORMULA_BYTES = 48 * 1024 * 1024


def _plain_svg(tree: Any) -> bool:
    """Whether the SVG holds only plain shapes and `<use>` of them, and has a viewBox (see `_memoize_formulas`)."""
    root = getattr(tree, "_etree_node", None)
    if root is None or not tree.get("viewBox") or tree.get("transform") is not None:
        return False
    for element in root.iter():
        tag = element.tag if isinstance(element.tag, str) else ""
        if tag.rpartition("}")[2] not in _PLAIN_SVG_TAGS or _UNPLAIN_ATTRIBUTES.intersection(element.attrib):
            return False
        if any(str(value).lstrip().startswith("url(") for value in element.attrib.values()):
            return False  # a paint server (gradient, pattern)
    return True


def _starting_state(stream: Any) -> bool:
    """No colour, opacity or font set on the stream: what a drawing appends does not depend on what came before."""
    return all(
        getattr(stream, name, None) is None
        for name in (
            "_current_color",
            "_current_color_stroke",
            "_current_alpha",
            "_current_alpha_stroke",
            "_current_font",
        )
    )


_memoize_formulas()


def _memoize_page_references() -> None:
    """Build a PDF's list of page references once per page count, not once per tagged element.

    pydyf makes the tuple afresh on every read of `page_references`, and WeasyPrint's tagging (PDF/UA) reads it for
    every marked element: on a twenty-page part, a tuple of twenty for each of thousands of elements, a few per cent
    of writing the PDF. Pages are only ever appended (`add_page`), so the tuple for a given count never changes.
    """
    import importlib

    pydyf = importlib.import_module("pydyf")  # WeasyPrint's PDF writer
    prop = getattr(pydyf.PDF, "page_references", None)
    compute = prop.fget if isinstance(prop, property) else None
    if compute is None:
        return

    def page_references(pdf: Any) -> Any:
        kids = pdf.pages["Kids"]
        cached = pdf.__dict__.get("_studykit_page_references")
        if cached is None or cached[0] is not kids or cached[1] != len(kids):
            cached = (kids, len(kids), compute(pdf))
            pdf.__dict__["_studykit_page_references"] = cached
        return cached[2]

    pydyf.PDF.page_references = property(functools.wraps(compute)(page_references))  # `__wrapped__`: pydyf's own


_memoize_page_references()


def _faster_matrix_products() -> None:
    """Multiply WeasyPrint's 3x3 matrices without a generator per entry: the same products summed in the same order.

    Every transform on a PDF stream (each glyph of a formula is placed by one) multiplies two matrices, and the
    library's product builds nine generators to do it: a few per cent of a build. `sum` over a tuple adds the same
    terms, from the same start, as `sum` over the generator, so the floats are the same to the last bit.
    """
    import importlib

    matrix_class: Any = getattr(importlib.import_module("weasyprint.matrix"), "Matrix", None)
    if matrix_class is None or "__matmul__" not in vars(matrix_class):
        return
    original = matrix_class.__matmul__

    def product(self: Any, other: Any) -> Any:
        assert len(self[0]) == len(other) == len(other[0]) == 3
        first, second, third = other[0], other[1], other[2]
        return matrix_class(
            matrix=[
                [
                    sum((row[0] * first[0], row[1] * second[0], row[2] * third[0])),
                    sum((row[0] * first[1], row[1] * second[1], row[2] * third[1])),
                    sum((row[0] * first[2], row[1] * second[2], row[2] * third[2])),
                ]
                for row in self
            ]
        )

    matrix_class.__matmul__ = functools.wraps(original)(product)


_faster_matrix_products()


def _faster_css_urls() -> None:
    """Read a CSS `url(...)` without quotes or escapes in one regular-expression match, not a character at a time.

    Each formula is a box whose style attribute holds its SVG as a data URI of ~10 KB, and tinycss2 (WeasyPrint's
    CSS parser) reads and then re-escapes such a URL one character at a time in Python: a twentieth of a build.
    A URL the fast path does not take whole (whitespace, a quote, an escape, a bracket, a control character) goes
    to tinycss2's own code, and so does the re-escaping of one holding a character it escapes.
    """
    import importlib

    tokenizer: Any = importlib.import_module("tinycss2.tokenizer")
    consume: Callable[[str, int], tuple[str | None, int, Any]] | None = getattr(tokenizer, "_consume_url", None)
    serialize: Callable[[str], str] | None = getattr(tokenizer, "serialize_url", None)
    if consume is None or serialize is None:
        return

    def consume_url(css: str, pos: int) -> tuple[str | None, int, Any]:
        assert consume is not None
        if (plain := _PLAIN_URL.match(css, pos)) is not None:
            return plain.group(1), plain.end(), None
        return consume(css, pos)

    def serialize_url(value: str) -> str:
        assert serialize is not None
        return serialize(value) if _ESCAPED_IN_URL.search(value) else value

    tokenizer._consume_url = functools.wraps(consume)(consume_url)
    tokenizer.serialize_url = functools.wraps(serialize)(serialize_url)


# After `url(`: whitespace, then characters tinycss2 takes as they are (not whitespace, a quote, a bracket, a
# backslash or a non-printable character), then `)` at once.
_PLAIN_URL = re.compile(r"[ \n\t]*([^\"'()\\ \n\t\x00-\x08\x0b\x0e-\x1f\x7f]+)\)")
# The characters tinycss2's serialize_url escapes.
_ESCAPED_IN_URL = re.compile(r"[\"'\\ \t\n\r\f()]")
_faster_css_urls()


NAME = "weasyprint"
VERSION = version("weasyprint")
# Tagged PDF/UA-1: structure tree, /Lang, document title shown, fonts embedded.
PDF_OPTIONS: dict[str, Any] = {"pdf_variant": "pdf/ua-1", "uncompressed_pdf": False}
# A box may reach this far past its area before it counts as overflowing: a quarter of a point, in CSS
# pixels (WeasyPrint's layout unit).
_TOLERANCE_PX = 0.33


class ResourceRefused(FatalURLFetchingError):  # type: ignore[misc]
    """A document asked for a resource outside the allowed folders."""


class ContentOnlyFetcher(URLFetcher):  # type: ignore[misc]
    def __init__(self, allowed_roots: list[Path], **kwargs: Any) -> None:
        super().__init__(allowed_protocols={"data", "file"}, allow_redirects=False, **kwargs)
        self._roots = [root.resolve() for root in allowed_roots]

    def allows(self, url: str) -> bool:
        """Whether `url` is a data: URI or a file (symlinks followed, `..` resolved) inside an allowed root."""
        try:
            parts = urlsplit(url)
            if parts.scheme == "data":
                return True
            if parts.scheme != "file" or parts.netloc:
                return False
            target = Path(unquote(parts.path)).resolve()
            return any(target.is_relative_to(root) for root in self._roots) and target.is_file()
        except (ValueError, OSError):  # a NUL byte, a malformed URL, a loop of symlinks
            return False

    def fetch(self, url: str, headers: Any = None) -> Any:
        if not self.allows(url):
            raise ResourceRefused(
                f"refused to load {url[:200]}: only files inside the content folder and templates may load"
            )
        if (plain := _PLAIN_DATA_URI.fullmatch(url)) is not None:
            return _data_response(url, plain["type"], plain["payload"])
        return super().fetch(url, headers)


# A data: URI as studykit writes them (formulas, the page's images): a media type without parameters, base64.
_PLAIN_DATA_URI = re.compile(r"data:(?P<type>[a-z]+/[a-z0-9.+-]+);base64,(?P<payload>[A-Za-z0-9+/]*={0,2})")


def _data_response(url: str, media_type: str, payload: str) -> Any:
    """What urllib's data: handler and URLFetcher.fetch make of such a URI, without their header parsing.

    urllib writes the headers out as text and parses them back (`email.message_from_string`), and WeasyPrint copies
    them into an `EmailMessage`, whose default policy parses each header again: half a millisecond a formula, for
    every formula of every document laid out. The same two headers in a compat32 message read the same.
    """
    body = base64.decodebytes(payload.encode("ascii"))
    headers = email.message.EmailMessage(policy=email.policy.compat32)
    headers["Content-type"] = media_type
    headers["Content-length"] = str(len(body))
    return URLFetcherResponse(url, body, headers, None)


def layout(document: str, base: Path, roots: list[Path], target: Path) -> Any:
    """Lay the document out (a `weasyprint.Document`), loading files only from `roots`.

    Relative references (images) resolve against the folder `base`; `target` only names the output in errors.
    """
    fetcher = ContentOnlyFetcher(roots)
    try:
        with interrupts_kept():
            return weasyprint.HTML(string=document, base_url=str(base.resolve()) + "/", url_fetcher=fetcher).render(
                **PDF_OPTIONS
            )
    except ResourceRefused as error:
        raise OutputError(f"{target.name}: {error}") from error


def save_atomically(laid_out: Any, path: Path) -> None:
    """Write the laid-out document at `path` whole or not at all (a cache entry is never half written)."""
    temporary = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    try:
        with interrupts_kept():
            laid_out.write_pdf(temporary, **PDF_OPTIONS)
        os.replace(temporary, path)
    finally:
        with contextlib.suppress(OSError):
            temporary.unlink()


def write(document: str, base: Path, roots: list[Path], target: Path) -> None:
    """Lay the document out and write it as a PDF at `target`."""
    save_atomically(layout(document, base, roots, target), target)


def write_atomically(document: str, base_url: str, roots: list[str], path: str, options: dict[str, Any]) -> str | None:
    """Render one HTML document to `path` (whole or not at all); the error message, if any.

    Plain arguments and a message instead of an exception, so that it runs as well in a worker process.
    """
    return write_measured(document, base_url, roots, path, options)[0]


def write_measured(
    document: str,
    base_url: str,
    roots: list[str],
    path: str,
    options: dict[str, Any],
    measure: Callable[[Any], Any] | None = None,
) -> tuple[str | None, Any]:
    """As `write_atomically`, and also what `measure` reads from the laid-out document (None without it).

    `measure` is a module-level function (a worker process is handed it by name) given the `weasyprint.Document`.
    """
    temporary = f"{path}.{os.getpid()}.tmp"
    fetcher = ContentOnlyFetcher([Path(root) for root in roots])
    measured: Any = None
    try:
        with interrupts_kept():
            laid_out = weasyprint.HTML(string=document, base_url=base_url, url_fetcher=fetcher).render(**options)
            if measure is not None:
                measured = measure(laid_out)
            laid_out.write_pdf(temporary, **options)
        os.replace(temporary, path)
    except ResourceRefused as error:
        return str(error), None
    except OSError as error:
        return f"cannot write {path}: {error.strerror}", None
    finally:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
    return None, measured


@dataclass(frozen=True)
class Placed:
    """Where an element marked with an attribute lies in a laid-out document (CSS px, pages counted from 0)."""

    value: str  # the attribute's value
    first_page: int
    last_page: int
    bottom: float  # the bottom of its border box on its last page
    page_bottom: float  # the bottom of that page's area (where the margin starts)
    top: float = 0.0  # the top of its border box on its first page
    left: float = 0.0  # the left of its border box on its first page
    margin_bottom: float = 0.0
    page_top: float = 0.0  # the top of its first page's area (where the margin ends)


def placed(laid_out: Any, attribute: str) -> list[Placed]:
    """The elements carrying `attribute` among the block-level boxes of each page, in document order.

    The search does not go inside such an element (they are not nested) nor inside a line of text.
    """
    first: dict[str, Placed] = {}
    for number, page in enumerate(laid_out.pages):
        page_box = page._page_box
        page_top = page_box.content_box_y()
        page_bottom = page_top + page_box.height
        stack = list(reversed(page_box.children[:1]))  # the root element's box; the others are margin boxes
        while stack:
            box = stack.pop()
            element = box.element
            value = element.get(attribute) if element is not None and box.element_tag == element.tag else None
            if value is not None:
                bottom = box.border_box_y() + box.border_height()
                start = first.get(value)
                if start is None:
                    top, left = box.border_box_y(), box.border_box_x()
                    start = Placed(value, number, number, bottom, page_bottom, top, left, page_top=page_top)
                first[value] = dataclasses.replace(
                    start, last_page=number, bottom=bottom, page_bottom=page_bottom, margin_bottom=box.margin_bottom
                )
            elif not isinstance(box, weasy_boxes.LineBox):
                stack.extend(reversed(getattr(box, "children", [])))
    return list(first.values())


def overflowing(laid_out: Any) -> set[str]:
    """Names (`data-fit`) of the areas whose laid-out content reaches past their box.

    Reads WeasyPrint's laid-out box tree; absolutely positioned boxes hide behind placeholders.
    """
    found = set()
    for page in laid_out.pages:
        for area in page._page_box.descendants(placeholders=True):
            element = area.element
            name = element.get("data-fit") if element is not None else None
            if not name or name in found:
                continue
            bottom = area.content_box_y() + area.height + _TOLERANCE_PX
            right = area.content_box_x() + area.width + _TOLERANCE_PX
            for box in area.descendants(placeholders=True):
                if box.border_box_y() + box.border_height() > bottom or box.border_box_x() + box.border_width() > right:
                    found.add(name)
                    break
    return found
