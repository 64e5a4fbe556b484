"""Note 54: non-maximum suppression on the worked example's five boxes, before and after."""

from __future__ import annotations

import common
from matplotlib.patches import Rectangle

ns = common.note_code(54)
boxes = ns["example_boxes"]
scores = ns["example_scores"]
threshold = ns["example_threshold"]
keep = ns["nms"](boxes, scores, threshold)
assert keep == ns["example_keep"], (keep, ns["example_keep"])

COLOURS = [common.BLUE, common.VERMILLION, common.GREEN, common.ORANGE, common.PURPLE]
# Where each box's "index: score" label sits: (x, y, ha, va) relative to the box corners, chosen so that the
# labels of overlapping boxes do not collide.
PLACES = {
    0: lambda b: (b[0], b[1] - 2, "left", "bottom"),
    1: lambda b: (b[2] + 2, b[1] - 2, "left", "top"),
    2: lambda b: (b[0], b[3] + 2, "left", "top"),
    3: lambda b: (b[0], b[1] - 2, "left", "bottom"),
    4: lambda b: (b[2] + 2, b[1] + 2, "left", "top"),
}

fig = common.figure()
axes = fig.subplots(1, 2)
fig.subplots_adjust(left=0.02, right=0.98, top=0.88, bottom=0.13, wspace=0.08)
titles = [f"Before: {len(boxes)} scored boxes", f"After NMS, IoU threshold {threshold:g}"]
for panel, (ax, title) in enumerate(zip(axes, titles, strict=True)):
    ax.set_title(title, pad=3)
    for i, (box, score) in enumerate(zip(boxes, scores, strict=True)):
        kept = i in keep
        after = panel == 1
        colour = COLOURS[i % len(COLOURS)] if kept or not after else common.GREY
        style = "-" if kept or not after else (0, (2, 1.5))
        width = 1.4 if after and kept else 0.9
        ax.add_patch(
            Rectangle((box[0], box[1]), box[2] - box[0], box[3] - box[1], fill=False, ec=colour, lw=width, ls=style)
        )
        x, y, ha, va = PLACES.get(i, PLACES[0])(box)
        label = f"{i}: {score:.2f}" if not after else (f"{i} kept" if kept else f"{i} removed")
        ax.text(x, y, label, ha=ha, va=va, color=colour, fontsize=7)
    ax.set_xlim(0, 150)
    ax.set_ylim(150, -8)  # image coordinates: y grows downwards
    ax.set_aspect("equal")
    ax.set_xticks([])
    ax.set_yticks([])
    for spine in ax.spines.values():
        spine.set_color(common.GREY)

order = ", ".join(str(int(i)) for i in sorted(range(len(scores)), key=lambda i: -scores[i]))
fig.text(0.5, 0.03, f"Score order {order}; kept {keep}", ha="center", va="bottom")

common.save(fig, "nms")
