"""Note 53: Selective Search's merge order on a row of regions a..h, even (with the size term) versus greedy."""

from __future__ import annotations

import common

LEAVES = "abcdefgh"
# Each merge joins two existing regions; the list order is the merge order (step 1, 2, ...).
EVEN = [("a", "b"), ("c", "d"), ("e", "f"), ("g", "h"), ("ab", "cd"), ("ef", "gh"), ("abcd", "efgh")]
GREEDY = [("a", "b"), ("ab", "c"), ("abc", "d"), ("abcd", "e"), ("abcde", "f"), ("abcdef", "g"), ("abcdefg", "h")]


def draw(ax, merges: list[tuple[str, str]], colour: str, title: str) -> None:
    """A dendrogram whose height is the merge step, with each merged region named above its bar."""
    x = {leaf: float(i) for i, leaf in enumerate(LEAVES)}
    y = dict.fromkeys(LEAVES, 0.0)
    for step, (left, right) in enumerate(merges, start=1):
        new = left + right
        for child in (left, right):
            ax.plot([x[child], x[child]], [y[child], step], color=colour, lw=1.1, solid_capstyle="butt")
        ax.plot([x[left], x[right]], [step, step], color=colour, lw=1.1, solid_capstyle="projecting")
        x[new], y[new] = (x[left] + x[right]) / 2, float(step)
        # Named up and to the left of its node, clear of the line that leaves the node upwards.
        ax.text(x[new] - 0.1, step + 0.1, new, ha="right", va="bottom", fontsize=7)
    for leaf in LEAVES:
        ax.text(x[leaf], -0.25, leaf, ha="center", va="top", fontsize=7.5)
    ax.set_title(title, pad=2)
    ax.set_xlim(-0.7, len(LEAVES) - 0.3)
    ax.set_ylim(-1.1, len(merges) + 0.9)
    ax.set_xticks([])
    ax.set_yticks(range(1, len(merges) + 1))
    for side in ("top", "right", "bottom"):
        ax.spines[side].set_visible(False)
    ax.spines["left"].set_bounds(1, len(merges))


fig = common.figure()
axes = fig.subplots(1, 2, sharey=True)
fig.subplots_adjust(left=0.08, right=0.995, top=0.9, bottom=0.02, wspace=0.06)
draw(axes[0], EVEN, common.BLUE, "Even (size term on)")
draw(axes[1], GREEDY, common.VERMILLION, "Greedy (size term off)")
axes[0].set_ylabel("merge step", labelpad=1)
axes[1].tick_params(axis="y", length=0)
axes[1].spines["left"].set_visible(False)

common.save(fig, "selective_search")
