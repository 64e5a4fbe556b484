"""The Chinese booklet laid out in parts and joined gives, page for page, the booklet laid out whole as one document.

(tests/test_booklet_parts.py checks the English one; this file is apart so that a second test worker takes it.)
"""

from __future__ import annotations

from pathlib import Path

import pytest

from generator import build as pipeline
from tests.conftest import EPOCH, content_with
from tests.test_booklet_parts import NOTES, ZH, assert_page_for_page


def test_parts_joined_are_the_whole_chinese_booklet_page_for_page(tmp_path: Path, own_cache: Path) -> None:
    # Two parts, as in English: 52-53, which ends where a question opens a page (54), and 54.
    content = content_with(tmp_path, NOTES, ZH)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SOURCE_DATE_EPOCH", str(EPOCH))
        (parted,) = pipeline.build(content, tmp_path / "parts", ("full",)).written
    assert len(list(own_cache.glob("pdf/dl-interview-51-65-zh-a4+full-*.pdf"))) == 4, (
        "two parts, the contents and the page numbers"
    )
    assert_page_for_page(parted, content, tmp_path / "whole.pdf")
