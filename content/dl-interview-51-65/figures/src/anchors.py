"""Note 55: the nine Faster R-CNN anchors at one feature-map position, from the note's generate_anchors."""

from __future__ import annotations

import common
import numpy as np
from matplotlib.lines import Line2D
from matplotlib.patches import Rectangle

BASE, RATIOS, SCALES = 16, (0.5, 1, 2), (8, 16, 32)

ns = common.note_code(55)
anchors = ns["generate_anchors"](base_size=BASE, ratios=RATIOS, scales=SCALES)
assert np.array_equal(anchors, np.array(ns["expected_anchors"])), anchors

# Ratio is shown by colour and by line style, so it survives greyscale printing and night-mode inversion.
STYLES = {
    0.5: (common.BLUE, "-", "h/w = 0.5 (wide)"),
    1: (common.VERMILLION, (0, (4, 1.5)), "h/w = 1 (square)"),
    2: (common.GREEN, (0, (1, 1.2)), "h/w = 2 (tall)"),
}

fig = common.figure()
ax = fig.add_axes((0.015, 0.08, 0.54, 0.9))
for row, (x1, y1, x2, y2) in enumerate(anchors):
    ratio = RATIOS[row // len(SCALES)]
    colour, style, _ = STYLES[ratio]
    # Pixel-index boxes: a box covers pixels x1..x2, i.e. the area from x1 - 0.5 to x2 + 0.5.
    ax.add_patch(Rectangle((x1 - 0.5, y1 - 0.5), x2 - x1 + 1, y2 - y1 + 1, fill=False, ec=colour, lw=1.0, ls=style))
ax.add_patch(Rectangle((-0.5, -0.5), BASE, BASE, fc=common.INK, ec="none"))
ax.set_xlim(-385, 400)
ax.set_ylim(385, -370)  # image coordinates: y grows downwards
ax.set_aspect("equal")
ax.set_xticks([-256, 0, 256], ["−256", "0", "256 px"])
ax.set_yticks([])
ax.tick_params(length=2, pad=1.5)
for spine in ax.spines.values():
    spine.set_color(common.GREY)

handles = [Line2D([], [], color=c, ls=s, lw=1.2) for c, s, _ in STYLES.values()]
handles.append(Line2D([], [], color=common.INK, marker="s", ls="none", ms=3))
labels = [label for _, _, label in STYLES.values()]
labels.append(f"the {BASE}x{BASE} px cell")
fig.legend(handles, labels, loc="upper left", bbox_to_anchor=(0.575, 0.97), handlelength=2.2, borderaxespad=0)
squares = anchors[list(RATIOS).index(1) * len(SCALES) :][: len(SCALES)]
sides = "/".join(str(int(x2 - x1 + 1)) for x1, _, x2, _ in squares)
scales = "/".join(str(s) for s in SCALES)
note = (
    f"Squares: {sides} px\n= {BASE} px × scales {scales}.\n"
    f"{len(anchors)} anchors at each cell,\none cell every {BASE} px."
)
fig.text(0.585, 0.47, note, ha="left", va="top", linespacing=1.45, fontsize=7)

common.save(fig, "anchors")
