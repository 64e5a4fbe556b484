"""Shared style and helpers for the figure scripts.

Each script in this folder draws one figure and writes ``content/figures/<name>.svg``, or the path given as its
first argument. Output is byte-reproducible: text is drawn as paths (no font needed to view it), the SVG ids come
from a fixed salt and the file carries no date. The numbers a figure shows come from its note: the note's
executable ``python`` blocks are run here, so figure and text cannot disagree.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt

FIGURES_DIR = Path(__file__).resolve().parent.parent
CONTENT_DIR = FIGURES_DIR.parent

# About 85 mm wide: one column of the cheat sheet at natural size.
WIDTH_IN = 3.4
HEIGHT_IN = 2.2
FONT_PT = 7.5

# Okabe-Ito colours: distinguishable with colour-vision deficiencies, mid-lightness, so they keep their hue
# under Anki night mode's invert + hue-rotate(180deg). Meaning never rests on colour alone: line styles and
# labels carry it too.
BLUE = "#0072B2"
ORANGE = "#E69F00"
VERMILLION = "#D55E00"
GREEN = "#009E73"
PURPLE = "#CC79A7"
SKY = "#56B4E9"
INK = "#1a1a1a"
GREY = "#8a8a8a"
LIGHT = "#eeeeee"

STYLE: dict[str, Any] = {
    "svg.fonttype": "path",
    "svg.hashsalt": "studykit-figures",
    "font.family": "DejaVu Sans",
    "mathtext.fontset": "dejavusans",
    "font.size": FONT_PT,
    "axes.titlesize": FONT_PT,
    "axes.labelsize": FONT_PT,
    "xtick.labelsize": 7,
    "ytick.labelsize": 7,
    "legend.fontsize": 7,
    "axes.linewidth": 0.6,
    "axes.edgecolor": INK,
    "axes.labelcolor": INK,
    "text.color": INK,
    "xtick.color": INK,
    "ytick.color": INK,
    "xtick.major.width": 0.6,
    "ytick.major.width": 0.6,
    "xtick.major.size": 2.5,
    "ytick.major.size": 2.5,
    "lines.linewidth": 1.0,
    "hatch.linewidth": 0.5,
    "legend.frameon": False,
    "figure.facecolor": "white",
    "axes.facecolor": "white",
    "savefig.facecolor": "white",
    "savefig.edgecolor": "white",
    "path.simplify": False,
}

_FENCE = re.compile(r"^(?P<fence>`{3,})(?P<info>[^\n`]*)\n(?P<body>.*?)^(?P=fence)[ \t]*$", re.MULTILINE | re.DOTALL)
_NUMBER = re.compile(r"^number:\s*(\d+)\s*$", re.MULTILINE)


def figure(width: float = WIDTH_IN, height: float = HEIGHT_IN, **kwargs: Any) -> Any:
    """A new white figure in the shared style."""
    plt.rcParams.update(STYLE)
    return plt.figure(figsize=(width, height), **kwargs)


def note_path(number: int) -> Path:
    """The note whose front matter says ``number: <number>``."""
    for path in sorted(CONTENT_DIR.glob("*.md")):
        match = _NUMBER.search(path.read_text(encoding="utf-8").split("\n---", 1)[0])
        if match and int(match.group(1)) == number:
            return path
    raise SystemExit(f"no note with number {number} in {CONTENT_DIR}")


def note_text(number: int) -> str:
    return note_path(number).read_text(encoding="utf-8")


def note_code(number: int) -> dict[str, Any]:
    """Run the note's executable blocks (info string exactly ``python``) in order; return their names."""
    path = note_path(number)
    text = path.read_text(encoding="utf-8")
    namespace: dict[str, Any] = {"__name__": "__note__"}
    for match in _FENCE.finditer(text):
        if match["info"].strip() == "python":
            line = text.count("\n", 0, match.start("body"))
            exec(compile("\n" * line + match["body"], str(path), "exec"), namespace)
    return namespace


def save(fig: Any, name: str) -> Path:
    """Write the figure to the path given on the command line, or to content/figures/<name>.svg."""
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else FIGURES_DIR / f"{name}.svg"
    target.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(target, format="svg", facecolor="white", metadata={"Date": None})
    plt.close(fig)
    return target
