"""A PDF read back fast: each page's characters and drawn objects, with pdfplumber's coordinates.

pdfplumber (pdfminer) interprets every page in Python: a 39-page booklet full of formulas takes 15-20 s.
PDFium (pypdfium2, which pdfplumber itself installs to draw pages) reads the same in about a second. The
records below use pdfplumber's keys and units (points, `top` measured from the page's top edge, colours
as 0-1 tuples), so a check written against one reads the same against the other; `tests/test_pdfread.py`
compares the two on a real booklet page.
"""

from __future__ import annotations

import ctypes
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pypdfium2 as pdfium
import pypdfium2.raw as pdfium_c

# A line's extent around its baseline, in ems (DejaVu Sans's ascent and descent).
_ASCENT, _DESCENT = 0.93, 0.24


@dataclass
class Page:
    page_number: int  # 1-based, as pdfplumber numbers pages
    width: float
    height: float
    chars: list[dict[str, Any]] = field(default_factory=list)
    graphics: list[dict[str, Any]] = field(default_factory=list)  # paths and images: bounds, fill, colour

    @property
    def text(self) -> str:
        """The page's lines top to bottom, each left to right (as pdfplumber's `extract_text` reads a page)."""
        return lines_text(self.chars)

    def chars_within(self, x0: float, top: float, x1: float, bottom: float) -> list[dict[str, Any]]:
        """The characters that reach into the box, as pdfplumber's `crop` keeps them."""
        return [char for char in self.chars if _reaches_into(char, x0, top, x1, bottom)]

    def paths_within(self, x0: float, top: float, x1: float, bottom: float) -> list[dict[str, Any]]:
        """The paths drawn (read with `graphics`) that reach into the box."""
        paths = [drawn for drawn in self.graphics if drawn["kind"] == "path"]
        return [drawn for drawn in paths if _reaches_into(drawn, x0, top, x1, bottom)]

    def text_within(self, x0: float, top: float, x1: float, bottom: float) -> str:
        """The text of the characters that reach into the box (as pdfplumber's `crop` keeps them), line by line."""
        return lines_text(self.chars_within(x0, top, x1, bottom))


def _reaches_into(found: dict[str, Any], x0: float, top: float, x1: float, bottom: float) -> bool:
    return found["x1"] > x0 and found["x0"] < x1 and found["bottom"] > top and found["top"] < bottom


def lines_text(chars: list[dict[str, Any]], tolerance: float = 3.0) -> str:
    """Characters grouped into lines by their top (within `tolerance` points), a space where a gap shows one."""
    lines: list[list[dict[str, Any]]] = []
    for char in sorted(chars, key=lambda c: (c["top"], c["x0"])):
        if lines and abs(char["top"] - lines[-1][0]["top"]) <= tolerance:
            lines[-1].append(char)
        else:
            lines.append([char])
    result = []
    for line in lines:
        text = ""
        previous: dict[str, Any] | None = None
        for char in sorted(line, key=lambda c: c["x0"]):
            if previous is not None and char["x0"] - previous["x1"] > tolerance and not text.endswith(" "):
                text += " "
            text += char["text"]
            previous = char
        result.append(" ".join(text.split()) if text.strip() else "")
    return "\n".join(line for line in result if line)


def _colour(read: Any, handle: Any, index: int | None = None) -> tuple[float, ...] | None:
    red, green, blue, alpha = (ctypes.c_uint() for _ in range(4))
    arguments = (handle, index) if index is not None else (handle,)
    if not read(*arguments, red, green, blue, alpha):
        return None
    return tuple(round(value.value / 255, 4) for value in (red, green, blue))


def _size(text_page: Any, index: int) -> float:
    """The character's size as drawn: its font size scaled by the text and page matrices (as pdfplumber gives it)."""
    matrix = pdfium_c.FS_MATRIX()
    size = float(pdfium_c.FPDFText_GetFontSize(text_page, index))
    if pdfium_c.FPDFText_GetMatrix(text_page, index, matrix):
        size *= abs(matrix.a * matrix.d - matrix.b * matrix.c) ** 0.5
    return size


def _drawn(objects: Any, outer: Any, height: float) -> Any:
    """Every path and image, forms opened (their contents are in the form's space: the matrices are composed)."""
    for item in objects:
        if item.type == pdfium_c.FPDF_PAGEOBJ_FORM:
            inner = item.get_matrix().multiply(outer)
            count = pdfium_c.FPDFFormObj_CountObjects(item.raw)
            children = (
                pdfium.PdfObject(pdfium_c.FPDFFormObj_GetObject(item.raw, i), page=item.page, pdf=item.pdf, level=0)
                for i in range(count)
            )
            yield from _drawn(children, inner, height)
            continue
        if item.type not in (pdfium_c.FPDF_PAGEOBJ_PATH, pdfium_c.FPDF_PAGEOBJ_IMAGE):
            continue
        left, bottom, right, top = item.get_bounds()
        corners = [outer.on_point(x, y) for x in (left, right) for y in (bottom, top)]
        fill, stroke = ctypes.c_int(), ctypes.c_int()
        is_path = item.type == pdfium_c.FPDF_PAGEOBJ_PATH
        if is_path:
            pdfium_c.FPDFPath_GetDrawMode(item.raw, fill, stroke)
        yield {
            "kind": "path" if is_path else "image",
            "x0": min(x for x, _ in corners),
            "x1": max(x for x, _ in corners),
            "top": height - max(y for _, y in corners),
            "bottom": height - min(y for _, y in corners),
            "fill": bool(fill.value),
            "non_stroking_color": _colour(pdfium_c.FPDFPageObj_GetFillColor, item.raw),
        }


def read(path: Path, graphics: bool = False) -> list[Page]:
    """Every page of the PDF at `path`; with `graphics`, also every path and image (inside forms too)."""
    document = pdfium.PdfDocument(str(path))
    pages = []
    page_top = 0.0  # the page's top edge from the document's (pdfplumber's `doctop`)
    try:
        for number, page in enumerate(document, start=1):
            width, height = page.get_size()
            result = Page(number, width, height)
            text_page = page.get_textpage()
            font_name = ctypes.create_string_buffer(256)
            origin_x, origin_y = ctypes.c_double(), ctypes.c_double()
            flags = ctypes.c_int()
            for index in range(text_page.count_chars()):
                character = chr(pdfium_c.FPDFText_GetUnicode(text_page.raw, index))
                if character in "\r\n\ufffe" or pdfium_c.FPDFText_IsGenerated(text_page.raw, index) == 1:
                    continue
                left, _, right, _ = text_page.get_charbox(index, loose=True)
                pdfium_c.FPDFText_GetFontInfo(text_page.raw, index, font_name, len(font_name), flags)
                size = _size(text_page.raw, index)
                pdfium_c.FPDFText_GetCharOrigin(text_page.raw, index, origin_x, origin_y)
                baseline = height - origin_y.value
                result.chars.append(
                    {
                        "text": character,
                        "x0": left,
                        "x1": right,
                        # From the baseline and the size, not the glyph's font: characters of one size on one line
                        # share their top whatever font draws them (Latin and CJK), as pdfplumber gives them.
                        "top": baseline - _ASCENT * size,
                        "bottom": baseline + _DESCENT * size,
                        # pdfplumber's too, so that its `extract_words` and `extract_text` group these characters.
                        "doctop": page_top + baseline - _ASCENT * size,
                        "upright": True,
                        "size": size,
                        "fontname": font_name.value.decode("utf-8", "replace"),
                        "non_stroking_color": _colour(pdfium_c.FPDFText_GetFillColor, text_page.raw, index),
                    }
                )
            if graphics:
                result.graphics = list(_drawn(page.get_objects(max_depth=1), pdfium.PdfMatrix(), height))
            pages.append(result)
            page_top += height
    finally:
        document.close()
    return pages
