"""Note 63: the note's example logits next to their softmax probabilities."""

from __future__ import annotations

import re

import common
import numpy as np

# The example is stated in the note's prose: "Example: $z = (2, 1, 0.1)$ gives ...".
found = re.search(r"Example: \$z = \(([^)]*)\)\$", common.note_text(63))
if found is None:
    raise SystemExit("note 63 no longer states its example logits as 'Example: $z = (...)$'")
z = np.array([float(v) for v in found.group(1).split(",")])
p = common.note_code(63)["softmax"](z)
classes = np.arange(1, len(z) + 1)

fig = common.figure()
left, right = fig.subplots(1, 2)
fig.subplots_adjust(left=0.02, right=0.98, top=0.86, bottom=0.12, wspace=0.45)
panels = [
    (left, z, "Logits $z$", common.GREY, "{:g}", (min(0.0, z.min()), z.max() * 1.15)),
    (right, p, "softmax$(z)$: sums to 1", common.BLUE, "{:.3f}", (0, 1.15)),
]
for ax, values, title, colour, fmt, limits in panels:
    bars = ax.bar(classes, values, width=0.6, color=colour, edgecolor=common.INK, linewidth=0.6)
    if ax is left:
        for bar in bars:
            bar.set_hatch("////")
            bar.set_facecolor("white")
    for x, v in zip(classes, values, strict=True):
        ax.text(x, v + (limits[1] - limits[0]) * 0.02, fmt.format(v), ha="center", va="bottom", fontsize=7)
    ax.set_title(title, pad=3)
    ax.set_xticks(classes, [f"class {c}" for c in classes])
    ax.set_xlim(0.4, len(z) + 0.6)
    ax.set_ylim(*limits)
    ax.tick_params(axis="x", length=0)
    ax.set_yticks([])
    ax.axhline(0, color=common.INK, lw=0.6)
    for side in ("top", "right", "left", "bottom"):
        ax.spines[side].set_visible(False)
right.axhline(1, color=common.GREY, lw=0.6, ls=(0, (2, 2)))
right.text(0.45, 1.01, "1", ha="right", va="bottom", color=common.INK, fontsize=7)
fig.text(0.5, 0.5, "→", ha="center", va="center", fontsize=16)
fig.text(0.5, 0.4, "exp, then\ndivide by\nthe sum", ha="center", va="top", fontsize=7, linespacing=1.2)

common.save(fig, "softmax")
