"""The fast PDF reader the tests use (PDFium) reads what pdfplumber reads: same words, same places."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pdfplumber

from tests import pdfread


def test_pdfium_reads_the_words_and_positions_pdfplumber_reads(outputs: dict[str, Path]) -> None:
    path = outputs["pdf"]  # the cheat sheet's first page: text, formulas as text, a figure
    (page, *_) = pdfread.read(path, graphics=True)
    with pdfplumber.open(path) as pdf:
        reference = pdf.pages[0]
        words = Counter(word["text"] for word in reference.extract_words())
        chars = [c for c in reference.chars if c["text"].strip()]
        drawn = [*reference.rects, *reference.curves, *reference.lines, *reference.images]
    ours = Counter(page.text.split())
    shared = sum((words & ours).values())
    assert shared >= 0.97 * sum(words.values()), (words - ours).most_common(10)
    assert shared >= 0.97 * sum(ours.values()), (ours - words).most_common(10)
    mine = [c for c in page.chars if c["text"].strip()]
    assert abs(len(mine) - len(chars)) <= 0.01 * len(chars)
    # Every tenth character is found at its place, with its size; the formulas' text layer is stretched upright
    # (sized by two different scales), so its size is compared nowhere.
    for theirs in [c for c in chars if c["matrix"][0] == c["matrix"][3]][::10]:
        assert any(
            theirs["text"].startswith(read["text"])  # a ligature (fi) is one character there, two here
            and abs(read["x0"] - theirs["x0"]) < 1.0
            and abs(read["bottom"] - theirs["bottom"]) < 2.5
            and abs(read["size"] - theirs["size"]) < 0.1
            for read in mine
        ), theirs
    # pdfplumber cuts one path of several parts into several objects; each lies within a path read here.
    assert drawn and page.graphics
    for theirs in drawn:
        assert any(
            read["x0"] - 1 <= theirs["x0"]
            and theirs["x1"] <= read["x1"] + 1
            and read["top"] - 1 <= theirs["top"]
            and theirs["bottom"] <= read["bottom"] + 1
            for read in page.graphics
        ), theirs
