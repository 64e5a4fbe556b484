"""Note 52: bounding-box regression on the worked example: proposal P, ground truth G, the regressed box."""

from __future__ import annotations

import common
import numpy as np
from matplotlib.lines import Line2D
from matplotlib.patches import Rectangle

ns = common.note_code(52)
P = ns["example_P"]
G = ns["example_G"]
t = ns["encode"](P, G)
assert np.allclose(t, ns["example_t"], atol=1e-4), t
shifted = np.array([P[0] + P[2] * t[0], P[1] + P[3] * t[1], P[2], P[3]])  # step 1: move the centre
regressed = ns["decode"](P, t)  # step 2: also rescale; a perfect regressor lands on G


def corner(box: np.ndarray) -> tuple[float, float]:
    return box[0] - box[2] / 2, box[1] - box[3] / 2


fig = common.figure()
ax = fig.add_axes((0.02, 0.03, 0.42, 0.94))
ax.add_patch(Rectangle(corner(G), G[2], G[3], fc="#fbe3c4", ec=common.ORANGE, lw=2.4))
ax.add_patch(Rectangle(corner(P), P[2], P[3], fill=False, ec=common.BLUE, lw=1.1, ls=(0, (4, 1.5))))
ax.add_patch(Rectangle(corner(shifted), shifted[2], shifted[3], fill=False, ec=common.GREY, lw=0.8, ls=(0, (1, 1.2))))
ax.add_patch(Rectangle(corner(regressed), regressed[2], regressed[3], fill=False, ec=common.INK, lw=0.8))
ax.annotate(
    "",
    xy=(regressed[0], regressed[1]),
    xytext=(P[0], P[1]),
    arrowprops={"arrowstyle": "-|>", "color": common.INK, "lw": 0.8, "mutation_scale": 6, "shrinkA": 0, "shrinkB": 0},
)
ax.plot([P[0]], [P[1]], marker="o", ms=2.5, color=common.BLUE)
ax.plot([regressed[0]], [regressed[1]], marker="o", ms=2.5, color=common.INK)
ax.text(P[0] - P[2] / 2 + 1.5, P[1] + P[3] / 2 - 1.5, "P", color=common.BLUE, ha="left", va="bottom", fontsize=8)
ax.text(G[0] + G[2] / 2 - 1.5, G[1] - G[3] / 2 + 1.5, "G", color="#9a5a00", ha="right", va="top", fontsize=8)
pad = 2
drawn = (P, G, shifted, regressed)
xs = [b[0] - b[2] / 2 for b in drawn] + [b[0] + b[2] / 2 for b in drawn]
ys = [b[1] - b[3] / 2 for b in drawn] + [b[1] + b[3] / 2 for b in drawn]
ax.set_xlim(min(xs) - pad, max(xs) + pad)
ax.set_ylim(max(ys) + pad, min(ys) - pad)  # image coordinates: y grows downwards
ax.set_aspect("equal")
ax.axis("off")


def box_text(box: np.ndarray) -> str:
    return "(" + ", ".join(f"{v:g}" for v in box) + ")"


handles = [
    Line2D([], [], color=common.BLUE, lw=1.1, ls=(0, (4, 1.5))),
    Line2D([], [], color=common.ORANGE, lw=2.4),
    Line2D([], [], color=common.GREY, lw=0.8, ls=(0, (1, 1.2))),
    Line2D([], [], color=common.INK, lw=0.8),
]
labels = [
    f"proposal P\n{box_text(P)}",
    f"ground truth G\n{box_text(G)}",
    "P with centre moved\nby $(P_w t_x,\\ P_h t_y)$",
    "regressed box = G:\nalso scaled by\n$\\exp(t_w)$, $\\exp(t_h)$",
]
fig.text(0.47, 0.97, "Boxes: (x centre, y centre, w, h)", ha="left", va="top", fontsize=7)
fig.legend(handles, labels, loc="upper left", bbox_to_anchor=(0.44, 0.9), handlelength=2.0, labelspacing=0.6)
targets = f"$t_x = {t[0]:.2f}$,  $t_y = {t[1]:.2f}$\n$t_w = {t[2]:.3f}$,  $t_h = {t[3]:.3f}$"
fig.text(0.47, 0.04, targets, ha="left", va="bottom", linespacing=1.5, fontsize=7)

common.save(fig, "bbox_regression")
