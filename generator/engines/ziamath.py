"""ziamath: TeX to vector SVG in pure Python, with the STIX Two Math font it bundles.

The only module that imports ziamath. Its limits: it knows fewer commands than MathJax, silently
draws some it does not know as text, and fails on some environments with an XML parser's message;
the checks below turn the cases found so far into errors that say what is wrong.
"""

from __future__ import annotations

import re
from importlib.metadata import version

import ziamath
from ziamath import tex as ziamath_tex

from generator.mathrender import MathRenderError, RenderedMath

NAME = "ziamath"
VERSION = version("ziamath")
HINT = "check the LaTeX: balanced braces, known commands (see ziamath's supported commands)"
# The size ziamath draws at; only ratios to it matter, because the output is sized in em.
_RENDER_SIZE = 16.0
_VIEWBOX = re.compile(r'viewBox="([-\d.e]+) ([-\d.e]+) ([-\d.e]+) ([-\d.e]+)"')
# ziamath prints an unknown command such as \foo as the literal text "\foo" without complaint.
_UNKNOWN_COMMAND = re.compile(r">\s*(\\[A-Za-z]+)\s*<")
_GROUP_BRACE = re.compile(r"(?<!\\)[{}]")
# ziamath writes these into its MathML unescaped and then fails to parse it ("not well-formed").
_AMPERSAND_OR_ENVIRONMENT = re.compile(r"\\begin\{|\\end\{|(?<!\\)&")
_CONTROL_CHARACTER = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
# A glyph is a <symbol id=…> (an empty one, a space, is self-closing), placed by <use>.
_SYMBOL = re.compile(r'<symbol id="(?P<id>[^"]+)"[^>]*?(?:/>|>.*?</symbol>)', re.DOTALL)
_SVG_ELEMENT = re.compile(r'^<svg\b[^>]*?\bviewBox="(?P<view>[^"]*)"[^>]*>(?P<body>.*)</svg>\s*$', re.DOTALL)
_BLACK = re.compile(r'\b(fill|stroke)="black"')


def check(tex: str, display: bool) -> None:
    """Raise for a formula ziamath cannot draw right, without drawing it."""
    if not tex.strip():
        raise MathRenderError("empty formula")
    balance = _brace_balance(tex)
    if balance:
        raise MathRenderError(f"{abs(balance)} {'unclosed `{`' if balance > 0 else 'unmatched `}`'}")
    unknown = _unknown_commands(tex)
    if unknown:
        raise MathRenderError(f"unknown LaTeX command{'s' if len(unknown) > 1 else ''} {', '.join(unknown)}")


def render(tex: str, display: bool) -> RenderedMath:
    check(tex, display)
    try:
        svg = ziamath.Latex(  # type: ignore[attr-defined]
            tex, size=_RENDER_SIZE, inline=not display
        ).svg()
    except Exception as error:  # ziamath raises bare exceptions of several kinds on bad input
        raise MathRenderError(_describe(error)) from error
    viewbox = _VIEWBOX.search(svg)
    if viewbox is None:
        raise MathRenderError("the renderer produced no drawing")
    _, min_y, width, height = (float(value) for value in viewbox.groups())
    view_box, body, glyphs = _shared_parts(svg)
    return RenderedMath.from_drawing(tex, display, svg, view_box, body, glyphs, (min_y, width, height), _RENDER_SIZE)


def _shared_parts(svg: str) -> tuple[str, str, tuple[tuple[str, str], ...]]:
    """The drawing split into its glyph definitions (<symbol>s) and what places them (<use>s).

    ziamath names a glyph by font and glyph, so one id means one outline in every formula. The body
    draws in currentColor, so that a formula takes the colour of the text around it.
    """
    element = _SVG_ELEMENT.match(svg)
    if element is None:
        return "", "", ()
    body = element.group("body")
    glyphs = tuple((found.group("id"), found.group(0)) for found in _SYMBOL.finditer(body))
    drawing = _BLACK.sub(r'\1="currentColor"', _SYMBOL.sub("", body))
    return element.group("view"), drawing, tuple(dict(glyphs).items())


def _unknown_commands(tex: str) -> list[str]:
    _check_characters(tex)
    try:
        mathml = ziamath_tex.tex2mml(tex)
    except Exception as error:  # ziamath raises bare exceptions of several kinds on bad input
        raise MathRenderError(_describe(error)) from error
    return sorted(set(_UNKNOWN_COMMAND.findall(mathml)))


def _check_characters(tex: str) -> None:
    """Raise for what ziamath would only report as malformed XML."""
    control = _CONTROL_CHARACTER.search(tex)
    if control:
        raise MathRenderError(f"control character U+{ord(control.group()):04X} in the formula")
    depth = 0
    for token in _AMPERSAND_OR_ENVIRONMENT.findall(tex):
        if token == "&" and depth <= 0:
            raise MathRenderError("`&` outside a matrix or aligned environment; write \\& for an ampersand")
        depth += 1 if token.startswith("\\begin") else -1 if token.startswith("\\end") else 0


def _brace_balance(tex: str) -> int:
    """Open minus closed groups; ziamath silently closes a missing `}` itself."""
    depth = 0
    for brace in _GROUP_BRACE.findall(tex):
        depth += 1 if brace == "{" else -1
        if depth < 0:
            return depth
    return depth


def _describe(error: Exception) -> str:
    text = str(error).strip()
    if not text:
        # ziamath's exceptions carry their meaning in the class name: ExtraLeftOrMissingRightError.
        words = re.findall(r"[A-Z][a-z]*", type(error).__name__.removesuffix("Error"))
        text = " ".join(words).lower().replace("left", "\\left").replace("right", "\\right")
    return text.splitlines()[0][:200]
