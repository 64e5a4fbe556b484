"""TeX to vector SVG at build time, for the outputs that run no JavaScript (PDF, study page).

This module is the math-engine interface: writers get a `RenderedMath` (the SVG, its size and
baseline in em, its glyphs apart for sharing, the TeX as label) and never see the engine's markup.
The engine itself is one module under `generator/engines/`; rendered formulas are kept on disk by
a key that names the engine and its version, and in memory for the rest of the build.
"""

from __future__ import annotations

import base64
import hashlib
import importlib
import json
import os
from collections.abc import Callable
from dataclasses import asdict, dataclass
from functools import lru_cache
from pathlib import Path
from types import ModuleType

from generator import context
from generator.processes import worker_pool

# MathJax 3, as Anki's cards draw math; ziamath (pure Python, fewer commands) stays as a documented fallback.
DEFAULT_ENGINE = "mathjax"
ENGINES = ("mathjax", "ziamath")
# Below this many uncached formulas, starting worker processes costs more than it saves. Each worker starts Python
# and V8 with MathJax (~0.4 s of CPU): a cold build of 100 notes (~500 formulas) drew no sooner on two workers than
# in the build's own process and took 0.8 s more CPU; at 200 notes (~1,000) two workers saved 0.7 s of 4 s.
_PARALLEL_THRESHOLD = 800
# Formulas drawn per call into the engine (and per task of a worker).
_BATCH = 64
# Checking (parsing, no layout) is ~5x cheaper than drawing: more formulas per call, and workers only for many.
_CHECK_BATCH = 256
_PARALLEL_CHECK_THRESHOLD = 2000
# Formulas kept in memory between the reader and the writers. Bounded: a bank of thousands of notes has
# tens of thousands of formulas (~10 KB of SVG each); beyond this many, a writer reads the disk cache again.
_IN_MEMORY = 4096


class MathRenderError(Exception):
    """A formula that cannot be rendered; the message is the engine's own account of why."""


@dataclass(frozen=True)
class RenderedMath:
    tex: str
    display: bool
    svg: str  # a standalone SVG document, as the engine drew it
    view_box: str  # the drawing's viewBox; "" when the engine's SVG could not be split into the parts below
    body: str  # the drawing without its glyph definitions, in currentColor; places glyphs with <use href="#id">
    glyphs: tuple[tuple[str, str], ...]  # (id, defining element) of every glyph `body` uses; one id, one outline
    width_em: float
    height_em: float
    depth_em: float  # how far below the text's baseline the drawing reaches

    @classmethod
    def from_drawing(
        cls,
        tex: str,
        display: bool,
        svg: str,
        view_box: str,
        body: str,
        glyphs: tuple[tuple[str, str], ...],
        box: tuple[float, float, float],
        units_per_em: float,
    ) -> RenderedMath:
        """A drawing sized in em: `box` is the viewBox's (min-y, width, height) in units of `units_per_em`.

        The viewBox runs from min-y (the top, negative: above the baseline) down to the depth below it.
        """
        min_y, width, height = box
        return cls(
            tex=tex,
            display=display,
            svg=svg,
            view_box=view_box,
            body=body,
            glyphs=glyphs,
            width_em=width / units_per_em,
            height_em=height / units_per_em,
            depth_em=(min_y + height) / units_per_em,
        )

    @property
    def label(self) -> str:
        """What a screen reader says: the TeX as written."""
        return self.tex

    @property
    def data_uri(self) -> str:
        return "data:image/svg+xml;base64," + base64.b64encode(self.svg.encode("utf-8")).decode("ascii")


@lru_cache(maxsize=1)
def engine() -> ModuleType:
    """The engine module, imported once per process (and only when a formula is drawn or checked)."""
    name = os.environ.get("STUDYKIT_MATH_ENGINE", DEFAULT_ENGINE)
    return importlib.import_module(f"generator.engines.{name}")


def use(name: str) -> None:
    """Draw math with the engine `name` from now on, in this process and the workers it starts."""
    if name not in ENGINES:
        raise ValueError(f"unknown math engine {name!r}; choose from {', '.join(ENGINES)}")
    os.environ["STUDYKIT_MATH_ENGINE"] = name
    engine.cache_clear()
    render.cache_clear()


def hint() -> str:
    """What to do about a formula the engine refuses, in the engine's terms."""
    return str(engine().HINT)


def cache_dir() -> Path:
    """Where rendered formulas are kept."""
    return context.cache_root() / "math"


def _cache_key(tex: str, display: bool) -> str:
    # The engine and its version are part of the key: another engine, or a new version, may draw differently.
    material = json.dumps([tex, display, engine().NAME, engine().VERSION])
    return hashlib.sha256(material.encode("utf-8")).hexdigest()


def _cache_path(tex: str, display: bool) -> Path:
    return cache_dir() / f"{_cache_key(tex, display)}.json"


def _checked_key(tex: str, display: bool) -> str:
    material = json.dumps(["checked", tex, display, engine().NAME, engine().VERSION])
    return hashlib.sha256(material.encode("utf-8")).hexdigest()


def _checked_path(tex: str, display: bool) -> Path:
    """Where a formula the engine parsed without error is marked: a folder of its own and a key of its own,
    so that a formula only checked is never taken for one drawn (whose entry holds the drawing)."""
    return cache_dir() / "checked" / _checked_key(tex, display)


def is_checked(tex: str, display: bool) -> bool:
    """The engine read this formula without error before: it was checked, or drawn."""
    return _checked_path(tex, display).is_file() or is_cached(tex, display)


def _listing(folder: Path) -> set[str]:
    """The names in `folder` (one listing instead of a look-up per formula)."""
    try:
        return set(os.listdir(folder))
    except OSError:
        return set()


def _mark_checked(formulas: list[tuple[str, bool]]) -> None:
    try:
        folder = cache_dir() / "checked"
        folder.mkdir(parents=True, exist_ok=True)
        for tex, display in formulas:
            _checked_path(tex, display).touch()
    except OSError:
        pass  # a read-only cache only costs speed


@lru_cache(maxsize=_IN_MEMORY)
def render(tex: str, display: bool) -> RenderedMath:
    """Render one formula, from the disk cache when it was rendered before."""
    path = _cache_path(tex, display)
    try:
        stored = json.loads(path.read_text(encoding="utf-8"))
        stored["glyphs"] = tuple(tuple(pair) for pair in stored["glyphs"])
        return RenderedMath(**stored)
    except (OSError, ValueError, TypeError, KeyError):
        pass  # not cached yet, or a damaged entry: render afresh
    rendered: RenderedMath = engine().render(tex, display)
    _store(rendered)
    return rendered


def _store(rendered: RenderedMath) -> None:
    path = _cache_path(rendered.tex, rendered.display)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_suffix(f".{os.getpid()}.tmp")
        temporary.write_text(json.dumps(asdict(rendered)), encoding="utf-8")
        os.replace(temporary, path)
    except OSError:
        pass  # a read-only cache only costs speed


def is_cached(tex: str, display: bool) -> bool:
    return _cache_path(tex, display).is_file()


def _render_batch(formulas: list[tuple[str, bool]]) -> list[str | None]:
    """Render formulas into the disk cache; the error message of each, or None (exceptions do not pickle well).

    An engine with `render_many` draws a whole batch in one call (MathJax: one call into V8 instead of one per
    formula); the others draw one at a time.
    """
    current = engine()
    if hasattr(current, "render_many"):
        results: list[str | None] = []
        for outcome in current.render_many(formulas):
            if isinstance(outcome, RenderedMath):
                _store(outcome)
                results.append(None)
            else:
                results.append(str(outcome))
        return results
    errors: list[str | None] = []
    for tex, display in formulas:
        try:
            render(tex, display)
            errors.append(None)
        except MathRenderError as error:
            errors.append(str(error))
    return errors


def _check_batch(formulas: list[tuple[str, bool]]) -> list[str | None]:
    """Check formulas (parse, no drawing) and mark those that pass; the error message of each, or None.

    An engine without `check_many` draws them instead (its check may miss what only drawing finds).
    """
    current = engine()
    if not hasattr(current, "check_many"):
        return _render_batch(formulas)
    results = [None if error is None else str(error) for error in current.check_many(formulas)]
    _mark_checked([formula for formula, error in zip(formulas, results, strict=True) if error is None])
    return results


def precheck(
    formulas: list[tuple[str, bool]], jobs: int, progress: Callable[[int], None] | None = None
) -> dict[tuple[str, bool], str]:
    """Check every formula not checked (or drawn) before, without drawing it; return the errors by formula.

    For a build whose outputs draw no math (the Anki deck: Anki's MathJax draws it on the card), where
    knowing that each formula reads is all that is needed. Failures are not kept: they are checked again.
    """
    unique = list(dict.fromkeys(formulas))
    checked = _listing(cache_dir() / "checked")
    todo = [formula for formula in unique if _checked_key(*formula) not in checked]
    if todo:  # drawn before counts as checked
        drawn = _listing(cache_dir())
        todo = [formula for formula in todo if f"{_cache_key(*formula)}.json" not in drawn]
    if progress and len(todo) < len(unique):
        progress(len(unique) - len(todo))
    parallel = jobs > 1 and len(todo) >= _PARALLEL_CHECK_THRESHOLD
    return _run_batches(todo, _CHECK_BATCH, _check_batch, jobs if parallel else 1, progress)


def prerender(
    formulas: list[tuple[str, bool]], jobs: int, progress: Callable[[int], None] | None = None
) -> dict[tuple[str, bool], str]:
    """Render every formula not yet cached, in batches on `jobs` processes; return the errors by formula.

    Rendering is CPU work, so threads would not help; worker processes write the disk cache and
    the caller's later `render` calls read it back.
    """
    unique = list(dict.fromkeys(formulas))
    drawn = _listing(cache_dir())
    todo = [formula for formula in unique if f"{_cache_key(*formula)}.json" not in drawn]
    parallel = jobs > 1 and len(todo) >= _PARALLEL_THRESHOLD
    return _run_batches(todo, _BATCH, _render_batch, jobs if parallel else 1, progress)


def _run_batches(
    todo: list[tuple[str, bool]],
    size: int,
    work: Callable[[list[tuple[str, bool]]], list[str | None]],
    jobs: int,
    progress: Callable[[int], None] | None,
) -> dict[tuple[str, bool], str]:
    """`work` on `todo` in batches of `size`, on `jobs` worker processes (shut down before this returns)."""
    batches = [todo[start : start + size] for start in range(0, len(todo), size)]
    errors: dict[tuple[str, bool], str] = {}

    def collect(batch: list[tuple[str, bool]], results: list[str | None]) -> None:
        for formula, error in zip(batch, results, strict=True):
            if error is not None:
                errors[formula] = error
        if progress:
            progress(len(batch))

    if jobs > 1:
        # spawn, not fork: a forked worker would share the parent's engine (V8's threads do not survive fork).
        with worker_pool(jobs) as pool:
            for batch, results in zip(batches, pool.map(work, batches), strict=True):
                collect(batch, results)
    else:
        for batch in batches:
            collect(batch, work(batch))
    return errors
