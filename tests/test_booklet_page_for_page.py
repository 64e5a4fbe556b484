"""The booklet laid out in parts and joined gives, page for page, the booklet laid out whole as one document.

(Apart from tests/test_booklet_parts.py, so that a test worker can take it while another takes that file.)
"""

from __future__ import annotations

from pathlib import Path

import pytest

from generator import build as pipeline
from tests.conftest import CONTENT, EPOCH, content_with
from tests.test_booklet_parts import ZH, _contents_links, _destinations, _placed_characters, _whole

# Five notes of each edition, two parts in both: 52-53, which ends where a question opens a page (54), and
# 54-56, a run of questions that follow on from one another. (Nine notes took twice as long and tested the same.)
PAGE_FOR_PAGE = range(52, 57)


@pytest.mark.parametrize("edition", [CONTENT, ZH], ids=["English", "Chinese"])
def test_parts_joined_are_the_whole_booklet_page_for_page(edition: Path, tmp_path: Path, own_cache: Path) -> None:
    content = content_with(tmp_path, PAGE_FOR_PAGE, edition)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SOURCE_DATE_EPOCH", str(EPOCH))
        (parted,) = pipeline.build(content, tmp_path / "parts", ("full",)).written
    whole = _whole(content, tmp_path / "whole.pdf")
    parted_pages, whole_pages = _placed_characters(parted), _placed_characters(whole)
    assert len(parted_pages) == len(whole_pages)
    for number, (ours, theirs) in enumerate(zip(parted_pages, whole_pages, strict=True), start=1):
        assert ours == theirs, f"page {number}: {sorted(set(ours) ^ set(theirs))[:10]}"
    # The contents link to every question, and each link lands where the whole booklet's does.
    questions = [f"q{note.number}" for note in pipeline.check(content).deck.notes]
    links = _contents_links(parted)
    assert links == _contents_links(whole)
    assert list(dict.fromkeys(links)) == questions
    assert _destinations(parted) == _destinations(whole)
