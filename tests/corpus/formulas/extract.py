"""Rebuilds formulas.tsv from fetched copies of the repositories named in SOURCES.md.

    python tests/corpus/formulas/extract.py OWNER/NAME=GIT_DIR=LICENCE ...

Reads every Markdown file at the repository's HEAD (git show, so a bare mirror will do), drops
fenced and inline code, and keeps each $$…$$ (display) and $…$ (inline) formula once per corpus.
So that the engine test stays near 20 s, it keeps a fixed half of the formulas of 20 characters
or more (chosen by a hash of the TeX, so a rerun keeps the same ones) plus every formula that
shows one of the known problem shapes; then it appends the issue's own problem cases (KNOWN).
"""

from __future__ import annotations

import hashlib
import re
import subprocess
import sys
from pathlib import Path

_FENCE = re.compile(r"^(```|~~~).*?^\1[^\n]*$", re.S | re.M)
_INLINE_CODE = re.compile(r"`[^`\n]*`")
_DISPLAY = re.compile(r"\$\$(.+?)\$\$", re.S)
_INLINE = re.compile(r"(?<![\\$])\$(?!\$)([^$\n]+?)(?<![\\$\s])\$(?!\$)")
_OUT = Path(__file__).with_name("formulas.tsv")
_MIN_LENGTH = 20
# Keep one formula in _EVERY (by hash): a half of four licensed repositories gives the test its 1,500+ formulas.
_EVERY = 2
# Shapes ziamath drew wrongly on real notes ("Math that matches Anki's"); formulas showing them are always kept.
_PROBLEMS = (
    "\\limits",
    "\\bigr",
    "\\|",
    "\\not",
    "\\tag",
    "eqnarray",
    "\\newline",
    "\\vec",
    "\\text{",
)
# The problem cases, written for studykit in the shapes the notes above use them.
KNOWN: tuple[tuple[int, str], ...] = (
    (1, r"D^* = \arg\mathop{\max}\limits_D V(D,G)"),
    (1, r"\mathop {\min }\limits_G \mathop {\max }\limits_D V(G,D)\neq\mathop{\max}\limits_D \mathop\min\limits_G V"),
    (0, r"S = \bigr\{ x \mid x > 0 \bigr\}"),
    (0, r"\|\boldsymbol{w}\|_2^2 = \boldsymbol{w}^\top \boldsymbol{w}"),
    (0, r"y_i \not = \hat{y}_i"),
    (1, "g_t = \\nabla f(w_t; x^{(i:i+n)}, y^{(i:i+n)})\n\\tag{1.3-1}"),
    (
        1,
        "\\begin{eqnarray}\nE(w) &=& \\frac{1}{2}\\sum_i (y_i - w x_i)^2 \\\\\n"
        "&=& \\frac{1}{2}\\|y-Xw\\|^2\n\\end{eqnarray}",
    ),
    (1, "\\begin{align}\nf(x) &= x^2 + 2x + 1 \\newline\n&= (x+1)^2\n\\end{align}"),
    (0, r"\hat{\vec\theta}_m = E(\vec\theta_m)"),
    (1, r"L(\theta) = \text{损失函数} + \lambda \|\theta\|^2"),
    (0, r"\text{中文}"),
)


def _escape(tex: str) -> str:
    return tex.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n")


def _formulas(text: str) -> list[tuple[int, str]]:
    text = _INLINE_CODE.sub(" ", _FENCE.sub(" ", text))
    found = [(1, match.group(1).strip()) for match in _DISPLAY.finditer(text)]
    text = _DISPLAY.sub(" ", text)
    found += [(0, match.group(1).strip()) for match in _INLINE.finditer(text)]
    return [(display, tex) for display, tex in found if tex]


def _keep(tex: str) -> bool:
    if any(shape in tex for shape in _PROBLEMS):
        return True
    return len(tex) >= _MIN_LENGTH and hashlib.blake2b(tex.encode("utf-8"), digest_size=1).digest()[0] % _EVERY == 0


def main(sources: list[str]) -> None:
    seen: set[tuple[int, str]] = set()
    rows = ["repo\tpath\tlicence\tdisplay\ttex"]
    for source in sources:
        repo, git_dir, licence = source.split("=")
        names = subprocess.run(
            ["git", "-C", git_dir, "ls-tree", "-r", "--name-only", "HEAD"], capture_output=True, text=True, check=True
        ).stdout.splitlines()
        for path in sorted(name for name in names if name.endswith(".md")):
            blob = subprocess.run(["git", "-C", git_dir, "show", f"HEAD:{path}"], capture_output=True, check=True)
            for display, tex in _formulas(blob.stdout.decode("utf-8", "replace")):
                if (display, tex) not in seen and _keep(tex):
                    seen.add((display, tex))
                    rows.append(f"{repo}\t{path}\t{licence}\t{display}\t{_escape(tex)}")
    for display, tex in KNOWN:
        if (display, tex) not in seen:
            seen.add((display, tex))
            rows.append(f"studykit/known-cases\tissue: Math that matches Anki's\tMIT\t{display}\t{_escape(tex)}")
    _OUT.write_text("\n".join(rows) + "\n", encoding="utf-8")
    print(f"{len(rows) - 1} formulas", file=sys.stderr)


if __name__ == "__main__":
    main(sys.argv[1:])
