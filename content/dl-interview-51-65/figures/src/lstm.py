"""Note 65: an LSTM cell, its three gates and the cell-state path, drawn by hand."""

from __future__ import annotations

import common
from matplotlib.patches import Circle, FancyArrowPatch, FancyBboxPatch
from matplotlib.path import Path

CELL_Y = 5.25  # the cell-state line
BUS_Y = 1.15  # [h_{t-1}, x_t], shared by every gate
GATE_Y = 2.55
R = 0.27  # radius of the pointwise-operation circles
F_X, I_X, G_X, O_X, OUT_X = 2.0, 3.2, 4.4, 6.0, 7.9
MUL_I_Y, TANH_Y = 4.0, 4.05

fig = common.figure()
ax = fig.add_axes((0, 0, 1, 1))
ax.set_xlim(0, 10)
ax.set_ylim(0, 10 * common.HEIGHT_IN / common.WIDTH_IN)
ax.set_aspect("equal")
ax.axis("off")


def line(points: list[tuple[float, float]], colour: str = common.INK, lw: float = 0.9, head: bool = True) -> None:
    ax.add_patch(
        FancyArrowPatch(
            path=Path(points),
            arrowstyle="-|>" if head else "-",
            mutation_scale=6,
            color=colour,
            lw=lw,
            joinstyle="miter",
            capstyle="butt",
            zorder=2,
        )
    )


def box(x: float, y: float, text: str, fill: str, width: float = 0.9) -> None:
    ax.add_patch(
        FancyBboxPatch(
            (x - width / 2, y - 0.3),
            width,
            0.6,
            boxstyle="round,pad=0,rounding_size=0.12",
            fc=fill,
            ec=common.INK,
            lw=0.8,
            zorder=3,
        )
    )
    ax.text(x, y, text, ha="center", va="center", fontsize=8, zorder=4)


def op(x: float, y: float, symbol: str) -> None:
    ax.add_patch(Circle((x, y), R, fc="white", ec=common.INK, lw=0.8, zorder=3))
    ax.text(x, y, symbol, ha="center", va="center", fontsize=9, zorder=4)


def label(x: float, y: float, text: str, **kwargs: object) -> None:
    ax.text(x, y, text, **({"fontsize": 7, "linespacing": 1.15, "zorder": 4} | kwargs))


# The cell body.
ax.add_patch(
    FancyBboxPatch(
        (1.0, 0.6), 8.0, 5.25, boxstyle="round,pad=0,rounding_size=0.3", fc="#f3f3f3", ec=common.GREY, lw=0.6
    )
)

# The cell-state path: only a pointwise product and a sum, no weight matrix.
line([(0.15, CELL_Y), (9.85, CELL_Y)], common.VERMILLION, lw=2.2)
op(F_X, CELL_Y, "×")
op(G_X, CELL_Y, "+")
label(0.15, CELL_Y + 0.15, "$C_{t-1}$", ha="left", va="bottom", fontsize=8)
label(9.85, CELL_Y + 0.15, "$C_t$", ha="right", va="bottom", fontsize=8)
label(G_X + 0.4, CELL_Y + 0.14, "cell state path", ha="left", va="bottom", color=common.VERMILLION)

# Inputs: h_{t-1} and x_t joined into one vector feeding all four layers.
line([(0.15, BUS_Y), (O_X, BUS_Y)], head=False)
line([(1.5, 0.05), (1.5, BUS_Y)], head=False)
ax.add_patch(Circle((1.5, BUS_Y), 0.06, fc=common.INK, ec="none", zorder=3))
label(0.15, BUS_Y + 0.12, "$h_{t-1}$", ha="left", va="bottom", fontsize=8)
label(1.62, 0.12, "$x_t$", ha="left", va="bottom", fontsize=8)
for x in (F_X, I_X, G_X, O_X):
    line([(x, BUS_Y), (x, GATE_Y - 0.3)], head=False)

# The four layers: three sigmoid gates and the tanh candidate.
SIGMA_FILL, TANH_FILL = "#cfe3f1", "#fbe3c4"
box(F_X, GATE_Y, "σ", SIGMA_FILL)
box(I_X, GATE_Y, "σ", SIGMA_FILL)
box(G_X, GATE_Y, "tanh", TANH_FILL)
box(O_X, GATE_Y, "σ", SIGMA_FILL)

# Forget: f_t scales the old memory.
line([(F_X, GATE_Y + 0.3), (F_X, CELL_Y - R)])
label(F_X + 0.1, 3.3, "forget\n$f_t$", ha="left", va="bottom")
# Input: i_t scales the candidate, and the product is added to the memory.
op(G_X, MUL_I_Y, "×")
line([(I_X, GATE_Y + 0.3), (I_X, MUL_I_Y), (G_X - R, MUL_I_Y)])
line([(G_X, GATE_Y + 0.3), (G_X, MUL_I_Y - R)])
line([(G_X, MUL_I_Y + R), (G_X, CELL_Y - R)])
label(I_X + 0.1, 2.95, "input\n$i_t$", ha="left", va="bottom")
label(G_X + 0.1, 2.95, "candidate\n$\\tilde{C}_t$", ha="left", va="bottom")
# Output: o_t chooses what of tanh(C_t) becomes h_t.
box(OUT_X, TANH_Y, "tanh", TANH_FILL)
op(OUT_X, GATE_Y, "×")
line([(OUT_X, CELL_Y), (OUT_X, TANH_Y + 0.3)])
line([(OUT_X, TANH_Y - 0.3), (OUT_X, GATE_Y + R)])
line([(O_X + 0.45, GATE_Y), (OUT_X - R, GATE_Y)])
label(O_X + 0.55, GATE_Y + 0.1, "output\n$o_t$", ha="left", va="bottom")
line([(OUT_X + R, GATE_Y), (9.85, GATE_Y)])
label(9.85, GATE_Y + 0.12, "$h_t$", ha="right", va="bottom", fontsize=8)

common.save(fig, "lstm")
