"""TeX to SVG with MathJax 3, the engine Anki draws card math with, so the PDF and page match the cards.

MathJax is JavaScript; it runs here inside V8 embedded by the mini-racer wheel, so nothing but
`pip install` is needed (no Node at run time, no network). The script is one bundle built from
the npm package by tools/mathjax/build.sh (the TeX packages and why are in tools/mathjax/entry.js:
those of Anki's cards, ankitects/anki ts/mathjax/index.ts). This is the only module that knows
about MathJax or V8.
"""

from __future__ import annotations

import atexit
import difflib
import hashlib
import os
import re
import threading
from collections.abc import Sequence
from functools import cache
from importlib.resources import files
from typing import TYPE_CHECKING, Any, cast

from generator.mathrender import MathRenderError, RenderedMath

if TYPE_CHECKING:
    # mini-racer (and asyncio, below) are imported when V8 is first needed: a build whose formulas are all drawn
    # already (the cache) reads this module only for NAME and VERSION, and should not pay for loading V8's binding.
    from py_mini_racer import MiniRacer

NAME = "mathjax"
HINT = "check the LaTeX as Anki's MathJax reads it: balanced braces, known commands and environments"
_BUNDLE = "mathjax_bundle.js"


def _bundled_version() -> str:
    # build.sh writes "// MathJax 3.2.2 (mathjax-full), …" as the bundle's first line, so the version
    # is known without starting V8.
    with files("generator.engines").joinpath(_BUNDLE).open(encoding="utf-8") as bundle:
        banner = re.match(r"// MathJax (\S+) ", bundle.readline())
    if not banner:
        raise RuntimeError(f"{_BUNDLE} has no version banner; rebuild it with tools/mathjax/build.sh")
    return banner.group(1)


VERSION = _bundled_version()
# MathJax's SVG is drawn in its font's units: 1000 to the em.
_UNITS_PER_EM = 1000.0
# A formula that takes longer than this is stuck (MathJax's own limits on macro expansion and
# buffer size should stop it long before); V8 is interrupted and the formula reported.
_TIMEOUT_SECONDS = 10.0
_UNDEFINED = re.compile(r"^Undefined control sequence \\(\w+)$")
_GLYPH_HREF = re.compile(r'xlink:href="#([^"]+)"')
# mini-racer's context may be used from one thread at a time.
_LOCK = threading.Lock()


_engine: tuple[int, MiniRacer] | None = None
# Defined beside the bundle (not in it, so that the bundle need not be rebuilt): studykitCheck for a whole
# batch in one call into V8, as studykitRenderMany is for drawing. Each call costs a fixed ~0.5 ms of thread
# hops in mini-racer; a parse alone costs less than that.
_CHECK_MANY = """
globalThis.studykitCheckMany = function (items) {
  return items.map((item) => globalThis.studykitCheck(item[0], item[1]));
};
"""


def _context() -> MiniRacer:
    """The one V8 context with MathJax loaded; parsing the bundle costs ~0.2 s, so once per process.

    Keyed by process id: a worker forked from a process that had started V8 inherits a context
    whose V8 threads did not survive the fork, so it starts its own.
    """
    global _engine
    if _engine is None or _engine[0] != os.getpid():
        from py_mini_racer import MiniRacer

        context = MiniRacer()
        context.eval(files("generator.engines").joinpath(_BUNDLE).read_text(encoding="utf-8"))
        context.eval(_CHECK_MANY)
        # Freed by mini-racer's __del__ at interpreter shutdown, the context waits forever on its
        # event-loop thread, which is gone by then; freed here, while that thread still runs, it doesn't.
        atexit.register(context.close)
        _engine = (os.getpid(), context)
    return _engine[1]


def _call(function: str, *args: object, timeout: float = _TIMEOUT_SECONDS) -> Any:
    from py_mini_racer import JSTimeoutException

    with _LOCK:
        try:
            if _in_event_loop():
                # mini-racer refuses a timed call from a thread that runs an asyncio loop (Jupyter, an async
                # app, Playwright's sync API): there the call runs without V8's time limit. MathJax's own
                # limits on macro expansion and buffer size still stop a runaway formula.
                return _context().call(function, *args)
            return _context().call(function, *args, timeout_sec=timeout)
        except JSTimeoutException as error:
            raise MathRenderError(f"MathJax took longer than {timeout:g} s on this formula") from error


def _in_event_loop() -> bool:
    import asyncio

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


@cache
def _macros() -> tuple[str, ...]:
    return tuple(cast(list[str], _call("studykitMacros")))


def _explain(message: str) -> str:
    """MathJax's own message, plus the closest known command when it names an undefined one."""
    undefined = _UNDEFINED.match(message)
    if undefined:
        close = difflib.get_close_matches(undefined.group(1), _macros(), n=1, cutoff=0.7)
        if close:
            return f"{message}; did you mean \\{close[0]}?"
    return message


# MathJax fails on these with a JavaScript error about its own internals ("Cannot read properties of null").
_CONTROL_CHARACTER = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def _refuse_control_characters(tex: str) -> None:
    control = _CONTROL_CHARACTER.search(tex)
    if control:
        raise MathRenderError(f"control character U+{ord(control.group()):04X} in the formula")


def check(tex: str, display: bool) -> None:
    """Parse only (TeX to MathJax's internal MathML, no layout); raise what a card would show as an error."""
    _refuse_control_characters(tex)
    message: str = _call("studykitCheck", tex, display)
    if message:
        raise MathRenderError(_explain(message))


def check_many(formulas: Sequence[tuple[str, bool]]) -> list[MathRenderError | None]:
    """check() for each (tex, display), in one call into V8; each formula's MathRenderError, or None if it parses.

    The same parse as check() (TeX to MathJax's internal MathML, no layout), so the same messages as render().
    """
    if not formulas:
        return []
    if any(_CONTROL_CHARACTER.search(tex) for tex, _ in formulas):  # rare: those formulas one by one, the rest too
        return [_check_or_error(tex, display) for tex, display in formulas]
    try:
        items = [list(item) for item in formulas]
        messages = _call("studykitCheckMany", items, timeout=_TIMEOUT_SECONDS + len(formulas))
    except MathRenderError:  # one of them is stuck: one by one, so that only that one is reported as such
        return [_check_or_error(tex, display) for tex, display in formulas]
    return [MathRenderError(_explain(message)) if message else None for message in messages]


def _check_or_error(tex: str, display: bool) -> MathRenderError | None:
    try:
        check(tex, display)
    except MathRenderError as error:
        return error
    return None


def _glyph_id(outline: str) -> str:
    # Named after the outline itself, so one ID means one outline in every formula and a page can
    # define each glyph once. (MathJax's own IDs carry a per-formula counter.)
    return "mjx-" + hashlib.blake2b(outline.encode("ascii"), digest_size=6).hexdigest()


def render(tex: str, display: bool) -> RenderedMath:
    """Draw one formula: SVG body, its glyphs under outline-named IDs, sizes in em; MathRenderError if it can't."""
    _refuse_control_characters(tex)
    drawn = _call("studykitRender", tex, display)
    if "error" in drawn:
        raise MathRenderError(_explain(drawn["error"]))
    return _rendered(tex, display, drawn)


def render_many(formulas: Sequence[tuple[str, bool]]) -> list[RenderedMath | MathRenderError]:
    """render() for each (tex, display), in one call into V8: the same drawings, ~30 % less CPU for many.

    A formula that cannot be drawn gives its MathRenderError in its place instead of stopping the rest.
    """
    if not formulas:
        return []
    if any(_CONTROL_CHARACTER.search(tex) for tex, _ in formulas):  # rare: those formulas one by one, the rest too
        return [_render_or_error(tex, display) for tex, display in formulas]
    try:
        # The time limit grows with the batch; a batch that still runs out is drawn one by one,
        # so that only the formula that is stuck is reported as such.
        batch = _call("studykitRenderMany", [list(item) for item in formulas], timeout=_TIMEOUT_SECONDS + len(formulas))
    except MathRenderError:
        return [_render_or_error(tex, display) for tex, display in formulas]
    return [
        MathRenderError(_explain(drawn["error"])) if "error" in drawn else _rendered(tex, display, drawn)
        for (tex, display), drawn in zip(formulas, batch, strict=True)
    ]


def _render_or_error(tex: str, display: bool) -> RenderedMath | MathRenderError:
    try:
        return render(tex, display)
    except MathRenderError as error:
        return error


def _rendered(tex: str, display: bool, drawn: dict[str, Any]) -> RenderedMath:
    renamed: dict[str, str] = {}
    glyphs: dict[str, str] = {}
    for old_id, outline in drawn["glyphs"]:
        new_id = _glyph_id(outline)
        renamed[old_id] = new_id
        glyphs[new_id] = f'<path id="{new_id}" d="{outline}"/>'

    def use(match: re.Match[str]) -> str:
        found = renamed.get(match.group(1))
        return f'href="#{found}"' if found else match.group(0)

    body = _GLYPH_HREF.sub(use, drawn["body"])
    view_box: str = drawn["viewBox"]
    _min_x, min_y, width, height = (float(part) for part in view_box.split())
    glyph_list = tuple(sorted(glyphs.items()))
    # The standalone drawing (for an <img> in a PDF): the glyphs defined inside, in the default colour.
    svg = (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="{view_box}">'
        f"<defs>{''.join(element for _, element in glyph_list)}</defs>{body}</svg>"
    )
    return RenderedMath.from_drawing(
        tex, display, svg, view_box, body, glyph_list, (min_y, width, height), _UNITS_PER_EM
    )
