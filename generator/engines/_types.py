"""What a math engine returns; generator.mathrender defines the same on the main branch."""

from __future__ import annotations

from dataclasses import dataclass


class MathRenderError(Exception):
    """A formula that cannot be rendered; the message says why (engine's own words)."""


@dataclass(frozen=True)
class RenderedMath:
    tex: str
    display: bool
    view_box: str  # "min-x min-y width height" of the drawing
    body: str  # SVG elements that go inside <svg>, glyphs placed with <use href="#ID">
    glyphs: tuple[tuple[str, str], ...]  # (ID, defining element) for every ID body uses
    width_em: float
    height_em: float
    depth_em: float  # how far the drawing reaches below the text baseline
