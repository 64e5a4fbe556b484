"""A long document's page numbers laid out a piece at a time: each page of the joined PDF reads as before.

`rendercache.page_numbers` lays an overlay longer than `_PAGES_IN_PROCESS` pages out in pieces of that many
(each numbered from where it starts, the total written in) and puts them one after another. Here the limit is
a few pages, so that the shipped deck's booklet (39 pages) and cheat sheet (3) are overlaid in pieces, and every
page's text, page numbers included, must be the text of the same build with the overlay laid out whole.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from generator import build as pipeline
from generator import rendercache
from tests.conftest import CONTENT, EPOCH


def _pages_text(pdf: Path) -> list[str]:
    text = subprocess.run(["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True, check=True).stdout
    return text.split("\f")


@pytest.mark.skipif(shutil.which("pdftotext") is None, reason="poppler-utils absent (pdftotext)")
def test_an_overlay_laid_out_in_pieces_numbers_every_page_as_one_laid_out_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SOURCE_DATE_EPOCH", str(EPOCH))
    whole = pipeline.build(CONTENT, tmp_path / "whole", ("full", "pdf")).written
    pieces_made: list[int] = []
    real = rendercache.render_for

    def counted(*arguments: object, **options: object) -> None:
        pieces_made.extend(1 for path, _ in arguments[3] if str(path).endswith(".piece"))  # type: ignore[attr-defined]
        real(*arguments, **options)  # type: ignore[arg-type]

    monkeypatch.setattr(rendercache, "render_for", counted)
    monkeypatch.setattr(rendercache, "_PAGES_IN_PROCESS", 2)
    # A cache of its own: the whole overlays above are cached under the same key.
    monkeypatch.setenv("STUDYKIT_CACHE_DIR", str(tmp_path / "cache"))
    pieced = pipeline.build(CONTENT, tmp_path / "pieced", ("full", "pdf")).written
    assert len(pieces_made) == 20 + 2, pieces_made  # 39 booklet pages in pieces of 2, the sheet's 3
    for before, after in zip(sorted(whole), sorted(pieced), strict=True):
        assert before.name == after.name
        pages_before, pages_after = _pages_text(before), _pages_text(after)
        assert len(pages_before) == len(pages_after)
        for number, (one, other) in enumerate(zip(pages_before, pages_after, strict=True), start=1):
            assert one == other, f"{after.name}, page {number}"
    assert not list((tmp_path / "cache" / "pdf").glob("*.piece")), "the pieces are not left in the cache"
