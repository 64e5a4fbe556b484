"""The PDF operators WeasyPrint's SVG walk appends for a MathJax formula, worked out without the walk.

Imported only by `pdfengine` (the one module that knows the PDF engine), for its formula replay: the first time a
formula is drawn, WeasyPrint walks its SVG tree in Python (a node object, a cascade and a new class per `<use>`, a
matrix product per transform: 7-10 ms a formula, a tenth of a cold build). MathJax's output is a narrow kind of SVG
(glyph paths in `<defs>`, placed by `<use>` in nested `<g transform>`, bars as `<rect>`, sometimes a nested
`<svg>` for a stretched delimiter), so its drawing can be worked out in a straight pass over the XML: the same
operators, in the same order, with the same numbers, as the walk.

Exactness is kept by reusing WeasyPrint's own code wherever a number is computed or written: its shape functions
(the memoized path drawing among them), its transform parser, its graphical-state code and pydyf's number
formatting all run as they do in the walk, on a stand-in for WeasyPrint's `SVG` object (`_Canvas`) and for its
nodes (`_Element`). What is re-done here is only the walk's bookkeeping: the cascade of attributes, `q`/`Q` (and
WeasyPrint's dropping of a `q` with nothing after it), the order of the steps of `draw_node`. Anything this does not
reproduce exactly (text, styles, clips, masks, opacity, markers, paint servers, font sizes, unknown attributes,
`inherit`, a `<use>` of anything but a path, an error raised on the way) makes it decline: the walk then draws.
"""

from __future__ import annotations

import importlib
import re
from collections import deque
from collections.abc import Callable, Iterable
from typing import Any
from xml.etree import ElementTree

# What a drawing adds: the operators before the root's own transform, those after it, the opacity states it uses
# (name and dictionary, in the order the walk first sets them).
Drawn = tuple[list[bytes], list[bytes], list[tuple[str, dict[str, Any]]]]

# The elements handled. Shapes are those `draw_node` fills and strokes; circle and ellipse are left to the walk.
_SHAPES = frozenset({"path", "rect", "line", "polyline", "polygon"})
_TAGS = _SHAPES | {"svg", "g", "defs", "use", "title", "desc"}
# The attributes handled: those WeasyPrint reads for these elements, all of them passed on to its own code (through
# the cascade), and nothing it reads elsewhere in `draw_node` (style, class, opacity, filter, clip-path, mask,
# markers, font, font-size, transform-origin, overflow, xlink:href, ...): any other attribute makes the converter
# decline.
_ATTRIBUTES = frozenset(
    {
        "fill",
        "stroke",
        "stroke-width",
        "fill-opacity",
        "stroke-opacity",
        "stroke-linecap",
        "stroke-linejoin",
        "stroke-miterlimit",
        "stroke-dasharray",
        "stroke-dashoffset",
        "fill-rule",
        "color",
        "display",
        "visibility",
        "transform",
        "id",
        "href",
        "d",
        "x",
        "y",
        "width",
        "height",
        "viewBox",
        "preserveAspectRatio",
        "rx",
        "ry",
        "x1",
        "y1",
        "x2",
        "y2",
        "points",
    }
)
# The attributes `set_graphical_state` and `fill_stroke` read: what a shape's colour and painting operators depend on.
_STATE_ATTRIBUTES = (
    "fill",
    "stroke",
    "stroke-width",
    "fill-opacity",
    "stroke-opacity",
    "stroke-dasharray",
    "stroke-dashoffset",
    "stroke-linecap",
    "stroke-linejoin",
    "stroke-miterlimit",
    "fill-rule",
)
# Lengths among them: a value that is not a plain number depends on the viewport's diagonal.
_STATE_LENGTHS = ("stroke-width", "stroke-dasharray", "stroke-dashoffset")
# Colours parsed to sRGB (a name, hex, rgb()): no colour space or profile of the document is involved. A paint server
# (url(...)), context-fill/stroke and other colour functions are left to the walk.
_COLOR = re.compile(r"none|currentColor|#[0-9A-Fa-f]{3,8}|[A-Za-z]+|rgba?\([0-9.,%\s+-]*\)")
_ID = re.compile(r"[A-Za-z0-9_-]+")
# A transform whose values are plain numbers: its matrix depends on nothing but the string (no em, no percentage).
_PLAIN_TRANSFORM = re.compile(r"(?:[\s,]*[A-Za-z]+\s*\([0-9eE.,\s+-]*\))*[\s,]*")
# Values kept per process, at most (transforms, offsets, graphical states): a formula adds a few new ones.
_MAX_KEPT = 200_000


class _Element:
    """Stands for WeasyPrint's `Node` in its drawing functions: the cascaded attributes, the tag, the vertices."""

    __slots__ = ("attrib", "tag", "vertices")

    get: Callable[..., Any]
    get_paint: Callable[..., Any]
    get_viewbox: Callable[..., Any]
    set_svg_size: Callable[..., Any]

    def __init__(self, tag: str, attrib: dict[str, str]) -> None:
        self.tag = tag
        self.attrib = attrib
        self.vertices: deque[Any] = deque()


class _NoDefinitions:
    """The gradients and patterns of an SVG that has none (a paint naming one is declined before it is looked up)."""

    def get(self, name: object) -> None:
        return None


class _Canvas:
    """Stands for WeasyPrint's `SVG` in its drawing functions: the viewport's sizes and a scratch stream."""

    point: Callable[..., Any]
    length: Callable[..., Any]
    set_graphical_state: Callable[..., Any]
    fill_stroke: Callable[..., Any]
    get_node_transform_matrix: Callable[..., Any]

    def __init__(self, stream: Any) -> None:
        self.stream = stream
        self.tree: object = None  # never one of the `_Element`s: the root's own drawing is not done here
        self.gradients = self.patterns = _NoDefinitions()
        self.inner_width = self.inner_height = self.inner_diagonal = 0.0
        self.concrete_width = self.concrete_height = self.normalized_diagonal = 0.0


class _Declined(Exception):
    """The SVG holds something the converter does not reproduce exactly."""


class _Engine:
    """WeasyPrint's pieces the conversion runs, looked up once; None of them missing (see `engine`)."""

    def __init__(self) -> None:
        weasy_svg = importlib.import_module("weasyprint.svg")
        utils = importlib.import_module("weasyprint.svg.utils")
        self.tags: dict[str, Callable[..., Any]] = weasy_svg.TAGS
        self.not_inherited: frozenset[str] = weasy_svg.NOT_INHERITED_ATTRIBUTES
        self.color_attributes: frozenset[str] = weasy_svg.COLOR_ATTRIBUTES
        self.def_types: frozenset[str] = weasy_svg.DEF_TYPES
        self.size: Callable[..., Any] = utils.size
        self.point_error: type[Exception] = utils.PointError
        self.stream_class: Any = importlib.import_module("weasyprint.pdf.stream").Stream
        self.dictionary: Any = importlib.import_module("pydyf").Dictionary
        node, svg = weasy_svg.Node, weasy_svg.SVG
        for name in ("get", "get_paint", "get_viewbox", "set_svg_size"):
            setattr(_Element, name, vars(node)[name])
        for name in ("point", "length", "set_graphical_state", "fill_stroke", "get_node_transform_matrix"):
            setattr(_Canvas, name, vars(svg)[name])
        # The font size `SVG.draw` starts from; a node's own `font-size` is declined, so every node draws at it.
        self.font_size: float = utils.size("12pt")
        # Worked out once per distinct value: a transform's `cm` (None: not invertible, nothing drawn), a
        # `<use>`'s offset `cm`, a shape's graphical state (its operators, its painting operator, its opacity states).
        self.transforms: dict[str, bytes | None] = {}
        self.offsets: dict[tuple[str | None, str | None], bytes] = {}
        self.states: dict[tuple[Any, ...], tuple[list[bytes], list[bytes], list[tuple[str, dict[str, Any]]]]] = {}

    def scratch(self) -> Any:
        """A WeasyPrint stream in its starting state, with resources of its own (for the opacity states)."""
        return self.stream_class(
            fonts={},
            page_rectangle=None,
            resources={"ExtGState": self.dictionary(), "XObject": self.dictionary()},
            images={},
            tags=None,
            color_profiles={},
            output_intent=None,
        )


_ENGINE: _Engine | None = None


def engine() -> _Engine | None:
    """WeasyPrint's pieces, or None if they are not laid out as in the version this was written for (70)."""
    global _ENGINE
    if _ENGINE is None:
        try:
            _ENGINE = _Engine()
        except (ImportError, AttributeError, KeyError):
            return None
    return _ENGINE


def drawn(svg: Any) -> Drawn | None:
    """What WeasyPrint's `SVG.draw` appends for `svg` (a `weasyprint.svg.SVG`), or None if not known exactly.

    Only for a drawing on a stream in its starting state (no colour or opacity set), as `pdfengine` replays them.
    """
    found = engine()
    root = getattr(getattr(svg, "tree", None), "_etree_node", None)
    if found is None or not isinstance(root, ElementTree.Element):
        return None
    try:
        return _Conversion(found, root).run()
    except _Declined:
        return None
    except KeyboardInterrupt:
        raise
    except Exception:  # WeasyPrint's own code failed on a value (the walk would stop there too): it draws
        return None


def _local(tag: object) -> str:
    """The tag without its namespace, as WeasyPrint's `Node.tag` gives it."""
    if not isinstance(tag, str):
        raise _Declined  # a processing instruction or comment kept by the parser
    return tag.split("}", 1)[-1]


class _Conversion:
    """One SVG's drawing: `draw_node`'s steps for each element, in the walk's order, into one list of operators."""

    def __init__(self, engine: _Engine, root: ElementTree.Element) -> None:
        self.engine = engine
        self.root = root
        self.operators: list[bytes] = []
        self.states: dict[str, dict[str, Any]] = {}
        scratch = engine.scratch()
        scratch.stream = self.operators  # shapes and nested <svg>s write straight into the drawing
        self.canvas = _Canvas(scratch)
        self.font_size = engine.font_size
        self.ids: dict[str, ElementTree.Element] = {}
        self.root_sizes = (0.0, 0.0, 0.0)

    def run(self) -> Drawn:
        root = self.root
        for element in root.iter():
            tag = _local(element.tag)
            if tag not in _TAGS or not _ATTRIBUTES.issuperset(element.attrib):
                raise _Declined
            for name, value in element.attrib.items():
                if value == "inherit" or (name in ("fill", "stroke", "color") and not _COLOR.fullmatch(value)):
                    raise _Declined
            if (identifier := element.get("id")) is not None:
                if identifier in self.ids:
                    raise _Declined  # which one a <use> finds is WeasyPrint's search order's business
                self.ids[identifier] = element
            if tag in _SHAPES and tag != "path" and len(element):
                raise _Declined  # a shape's children draw inside its colour state (path's are not drawn at all)
        if _local(root.tag) != "svg" or not root.get("viewBox"):
            raise _Declined
        if any(name in root.attrib for name in ("transform", "display", "visibility")):
            raise _Declined  # they change the root's own drawing, which `pdfengine` works out apart
        # The root as `SVG.__init__` leaves it: cascaded onto itself.
        attrib = self.cascade(dict(root.attrib), root.attrib)
        # The viewport's sizes, as `SVG.draw` sets them (and as the walk puts them back after a nested <svg>).
        _Element("svg", attrib).set_svg_size(self.canvas, 0, 0)
        canvas = self.canvas
        self.root_sizes = (canvas.inner_width, canvas.inner_height, canvas.inner_diagonal)
        # The root's `draw_node`: `q`, its own transform (worked out by `pdfengine`), its children, `Q`.
        self.children(root, attrib)
        self.operators.append(b"Q")
        return [b"q"], self.operators, list(self.states.items())

    def cascade(self, parent: dict[str, str], own: Iterable[tuple[str, str]] | dict[str, str]) -> dict[str, str]:
        """`Node.cascade`: the element's attributes, those its parent passes on, `currentColor` replaced."""
        attrib = dict(own)
        not_inherited = self.engine.not_inherited
        for name, value in parent.items():
            if name not in attrib and name not in not_inherited:
                attrib[name] = value
        for name in self.engine.color_attributes:
            if attrib.get(name) == "currentColor":
                attrib[name] = attrib.get("color", "black")
        return attrib

    def children(self, element: ElementTree.Element, attrib: dict[str, str]) -> None:
        for child in element:
            self.node(child, _local(child.tag), self.cascade(attrib, child.attrib))

    def node(self, element: ElementTree.Element, tag: str, attrib: dict[str, str]) -> None:
        """`SVG.draw_node` for one element (not the root) whose attributes are cascaded."""
        if tag == "defs":
            return
        operators = self.operators
        operators.append(b"q")
        self.transform(attrib)
        shape = tag in _SHAPES
        painting: list[bytes] = []
        if shape:
            painting = self.graphical_state(attrib)
        display = attrib.get("display") != "none"
        drawn_use: tuple[ElementTree.Element, dict[str, str]] | None = None
        if display and attrib.get("visibility") != "hidden":
            if shape:
                self.shape(tag, attrib)
            elif tag == "use":
                drawn_use = self.use(attrib)
            elif tag == "svg":
                self.nested_svg(attrib)
        if display and tag not in self.engine.def_types:
            if drawn_use is not None:  # `use` made the referenced element the node's one child, cascaded from it
                self.node(drawn_use[0], "path", drawn_use[1])
            else:
                self.children(element, attrib)
        if tag == "svg":  # the walk puts the root's viewport back after any <svg>, nested ones included
            self.canvas.inner_width, self.canvas.inner_height, self.canvas.inner_diagonal = self.root_sizes
        operators.extend(painting)
        # `Stream.pop_state`: a `q` with nothing after it is taken back rather than closed.
        if operators[-1] == b"q":
            operators.pop()
        else:
            operators.append(b"Q")

    def transform(self, attrib: dict[str, str]) -> None:
        """`SVG.transform`: the element's transform as a `cm`, unless its matrix cannot be inverted."""
        string = attrib.get("transform")
        if not string:
            return
        transforms = self.engine.transforms
        plain = _PLAIN_TRANSFORM.fullmatch(string) is not None
        operator = transforms.get(string) if plain else None
        if operator is None and (not plain or string not in transforms):
            matrix = self.canvas.get_node_transform_matrix(_Element("g", attrib), self.font_size)
            operator = None if matrix is None else self.matrix(*matrix.values)
            if plain:
                if len(transforms) >= _MAX_KEPT:
                    transforms.clear()
                transforms[string] = operator
        if operator is not None:
            self.operators.append(operator)

    def matrix(self, a: float, b: float, c: float, d: float, e: float, f: float) -> bytes:
        """The `cm` operator `Stream.transform` writes (pydyf's number formatting)."""
        operators = self.operators
        self.canvas.stream.set_matrix(a, b, c, d, e, f)
        return operators.pop()

    def graphical_state(self, attrib: dict[str, str]) -> list[bytes]:
        """A shape's colour and line operators (appended), and its painting operator (returned to append last).

        The walk sets them on a stream whose colour and opacity are unset (each shape's `Q` unsets them, and a shape
        with children is declined), so they depend on the attributes alone: worked out once per distinct set of
        them, by WeasyPrint's `set_graphical_state` and `fill_stroke` on a scratch stream.
        """
        key: tuple[Any, ...] = tuple(attrib.get(name) for name in _STATE_ATTRIBUTES)
        if not all(_plain_number(attrib.get(name)) for name in _STATE_LENGTHS):
            key = (*key, self.canvas.inner_diagonal)
        states = self.engine.states
        known = states.get(key)
        if known is None:
            scratch = self.engine.scratch()
            canvas = _Canvas(scratch)
            canvas.inner_diagonal = self.canvas.inner_diagonal
            element = _Element("path", attrib)
            fill, stroke = canvas.set_graphical_state(element, self.font_size)
            drawing = list(scratch.stream)
            del scratch.stream[:]
            canvas.fill_stroke(fill, stroke, attrib.get("fill-rule") == "evenodd")
            painting = list(scratch.stream)
            extended = scratch._resources["ExtGState"]
            known = (drawing, painting, [(name, dict(extended[name])) for name in extended])
            if len(states) >= _MAX_KEPT:
                states.clear()
            states[key] = known
        drawing, painting, opacities = known
        self.operators.extend(drawing)
        for name, state in opacities:
            self.states.setdefault(name, state)
        return painting

    def shape(self, tag: str, attrib: dict[str, str]) -> None:
        """The shape's own outline, by WeasyPrint's function for it (for a path: the memoized one, see pdfengine)."""
        try:
            self.engine.tags[tag](self.canvas, _Element(tag, attrib), self.font_size)
        except self.engine.point_error:
            raise _Declined from None  # the walk keeps what was drawn before the bad point: left to it

    def use(self, attrib: dict[str, str]) -> tuple[ElementTree.Element, dict[str, str]]:
        """`use`: the referenced path, cascaded from the `<use>`, then the `<use>`'s x and y as a `cm`."""
        href = attrib.get("href", "")
        target = self.ids.get(href[1:]) if href.startswith("#") and _ID.fullmatch(href[1:]) else None
        if target is None or _local(target.tag) != "path" or target is self.root:
            raise _Declined  # a missing element, or one other than a path (a symbol, an svg, a group)
        # A copy of the referenced element, as parsed (not as cascaded where it stands), cascaded from the <use>.
        cascaded = self.cascade(attrib, target.attrib)
        x, y = attrib.get("x"), attrib.get("y")
        offsets = self.engine.offsets
        operator = offsets.get((x, y))
        if operator is None:
            left, top = self.canvas.point(x, y, self.font_size)
            operator = self.matrix(1, 0, 0, 1, left, top)
            if _plain_number(x) and _plain_number(y):
                if len(offsets) >= _MAX_KEPT:
                    offsets.clear()
                offsets[x, y] = operator
        self.operators.append(operator)
        return target, cascaded

    def nested_svg(self, attrib: dict[str, str]) -> None:
        """An `<svg>` inside the formula (MathJax's stretched delimiters), by WeasyPrint's own function."""
        if attrib.get("width") is None or attrib.get("height") is None:
            raise _Declined  # sized by its bounding box: left to the walk
        self.engine.tags["svg"](self.canvas, _Element("svg", attrib), self.font_size)


def _plain_number(value: str | None) -> bool:
    """Absent, or a number as it is: what WeasyPrint reads without the font size or the viewport."""
    if value is None:
        return True
    try:
        float(value)
    except ValueError:
        return False
    return True
