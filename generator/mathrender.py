"""TeX to vector SVG at build time, for the outputs that run no JavaScript (PDF, study page).

ziamath is pure Python and bundles the STIX Two Math font, so rendering needs no TeX install
and no network. Each SVG is sized in `em` so that it scales with the text around it, and is
shifted down by its depth so that its baseline sits on the text's baseline.
"""

from __future__ import annotations

import base64
import concurrent.futures
import hashlib
import json
import os
import re
from collections.abc import Callable
from dataclasses import asdict, dataclass
from functools import lru_cache
from importlib.metadata import version
from pathlib import Path

import ziamath
from ziamath import tex as ziamath_tex

# The size ziamath draws at; only ratios to it matter, because the output is sized in em.
_RENDER_SIZE = 16.0
_VIEWBOX = re.compile(r'viewBox="([-\d.e]+) ([-\d.e]+) ([-\d.e]+) ([-\d.e]+)"')
# ziamath prints an unknown command such as \foo as the literal text "\foo" without complaint.
_UNKNOWN_COMMAND = re.compile(r">\s*(\\[A-Za-z]+)\s*<")
_RENDERER_VERSION = version("ziamath")
# Below this many uncached formulas, starting worker processes costs more than it saves.
_PARALLEL_THRESHOLD = 64
_GROUP_BRACE = re.compile(r"(?<!\\)[{}]")
# ziamath writes these into its MathML unescaped and then fails to parse it ("not well-formed").
_AMPERSAND_OR_ENVIRONMENT = re.compile(r"\\begin\{|\\end\{|(?<!\\)&")
_CONTROL_CHARACTER = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


class MathRenderError(Exception):
    """A formula that cannot be rendered; the message says why."""


@dataclass(frozen=True)
class RenderedMath:
    tex: str
    display: bool
    svg: str
    width_em: float
    height_em: float
    depth_em: float

    @property
    def data_uri(self) -> str:
        return "data:image/svg+xml;base64," + base64.b64encode(self.svg.encode("utf-8")).decode("ascii")


def unknown_commands(tex: str) -> list[str]:
    _check_characters(tex)
    try:
        mathml = ziamath_tex.tex2mml(tex)
    except Exception as error:  # ziamath raises bare exceptions of several kinds on bad input
        raise MathRenderError(_describe(error)) from error
    return sorted(set(_UNKNOWN_COMMAND.findall(mathml)))


def cache_root() -> Path:
    """Where studykit keeps what it rendered between runs: $STUDYKIT_CACHE_DIR, else the user's cache folder."""
    if configured := os.environ.get("STUDYKIT_CACHE_DIR"):
        return Path(configured)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "studykit"


def cache_dir() -> Path:
    """Where rendered formulas are kept."""
    return cache_root() / "math"


def _cache_key(tex: str, display: bool) -> str:
    # The renderer's version is part of the key: a new ziamath may draw differently.
    material = json.dumps([tex, display, _RENDER_SIZE, _RENDERER_VERSION])
    return hashlib.sha256(material.encode("utf-8")).hexdigest()


# Formulas kept in memory between the reader and the writers. Bounded: a bank of thousands of notes has
# tens of thousands of formulas (~10 KB of SVG each); beyond this many, a writer reads the disk cache again.
_IN_MEMORY = 4096


@lru_cache(maxsize=_IN_MEMORY)
def render(tex: str, display: bool) -> RenderedMath:
    """Render one formula, from the disk cache when it was rendered before."""
    path = cache_dir() / f"{_cache_key(tex, display)}.json"
    try:
        return RenderedMath(**json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError, TypeError):
        pass  # not cached yet, or a damaged entry: render afresh
    rendered = _render_uncached(tex, display)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_suffix(f".{os.getpid()}.tmp")
        temporary.write_text(json.dumps(asdict(rendered)), encoding="utf-8")
        os.replace(temporary, path)
    except OSError:
        pass  # a read-only cache only costs speed
    return rendered


def is_cached(tex: str, display: bool) -> bool:
    return (cache_dir() / f"{_cache_key(tex, display)}.json").is_file()


def _render_for_pool(formula: tuple[str, bool]) -> str | None:
    """Worker: render into the disk cache; return the error message, if any (exceptions do not pickle well)."""
    try:
        render(*formula)
    except MathRenderError as error:
        return str(error)
    return None


def prerender(
    formulas: list[tuple[str, bool]], jobs: int, progress: Callable[[int], None] | None = None
) -> dict[tuple[str, bool], str]:
    """Render every formula not yet cached, on `jobs` processes; return the errors by formula.

    Rendering is pure CPU work in Python, so threads would not help; worker processes write the
    disk cache and the caller's later `render` calls read it back.
    """
    unique = list(dict.fromkeys(formulas))
    todo = [formula for formula in unique if not is_cached(*formula)]
    errors: dict[tuple[str, bool], str] = {}
    if jobs > 1 and len(todo) >= _PARALLEL_THRESHOLD:
        with concurrent.futures.ProcessPoolExecutor(max_workers=jobs) as pool:
            for formula, error in zip(todo, pool.map(_render_for_pool, todo, chunksize=16), strict=True):
                if error is not None:
                    errors[formula] = error
                if progress:
                    progress(1)
        todo = [formula for formula in todo if formula not in errors and not is_cached(*formula)]
    for formula in todo:  # serially: few formulas, one core, or a cache that cannot be written
        error = _render_for_pool(formula)
        if error is not None:
            errors[formula] = error
        if progress:
            progress(1)
    return errors


def _render_uncached(tex: str, display: bool) -> RenderedMath:
    if not tex.strip():
        raise MathRenderError("empty formula")
    balance = _brace_balance(tex)
    if balance:
        raise MathRenderError(f"{abs(balance)} {'unclosed `{`' if balance > 0 else 'unmatched `}`'}")
    unknown = unknown_commands(tex)
    if unknown:
        raise MathRenderError(f"unknown LaTeX command{'s' if len(unknown) > 1 else ''} {', '.join(unknown)}")
    try:
        svg = ziamath.Latex(  # type: ignore[attr-defined]
            tex, size=_RENDER_SIZE, inline=not display
        ).svg()
    except Exception as error:
        raise MathRenderError(_describe(error)) from error
    viewbox = _VIEWBOX.search(svg)
    if viewbox is None:
        raise MathRenderError("the renderer produced no drawing")
    _, min_y, width, height = (float(value) for value in viewbox.groups())
    return RenderedMath(
        tex=tex,
        display=display,
        svg=svg,
        width_em=width / _RENDER_SIZE,
        height_em=height / _RENDER_SIZE,
        depth_em=(min_y + height) / _RENDER_SIZE,
    )


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
