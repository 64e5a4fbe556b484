"""Join tagged PDFs written by WeasyPrint into one, keeping what makes them accessible and navigable.

Copying pages (qpdf, pypdf) leaves behind each file's structure tree (the PDF/UA tags a screen
reader follows), outline and named destinations (`cheatsheet.pdf#q57`). WeasyPrint writes all three
in one simple shape: a StructTreeRoot whose one /Document element holds every top-level element, a
flat ParentTree (keys 0…pages-1 for the pages, then one per link annotation), a flat outline and a
flat /Dests name tree. Each is carried over here with its keys and page references renumbered.
"""

from __future__ import annotations

import contextlib
import os
import warnings
from dataclasses import dataclass
from pathlib import Path

import pikepdf

from generator.context import iso_timestamp


class JoinError(Exception):
    """A part that is not a PDF in the shape WeasyPrint writes (a damaged cache entry, say)."""


@dataclass(frozen=True)
class Metadata:
    """What is set on the joined file, replacing what its first part carries."""

    keywords: str
    created: float  # seconds since the epoch


def pages_in(path: Path) -> int | None:
    """How many pages the PDF at `path` has; None if it is missing or damaged."""
    try:
        # No recovery: a damaged part is rendered again, not patched over.
        with pikepdf.open(path, attempt_recovery=False) as pdf:
            return len(pdf.pages)
    except (OSError, pikepdf.PdfError):
        return None


def ends_whole(path: Path) -> bool:
    """Whether the file at `path` is there and ends as a whole PDF does (`%%EOF` in its last bytes).

    For a cache entry named by the hash of what it holds, whose page count a build recorded: opening it to count its
    pages again (`pages_in`) takes ~20 ms, for each of a big booklet's hundreds of parts on every build. A file cut
    short (a build killed mid-write where renaming is not atomic, a disk that filled up) does not end so.
    """
    try:
        with path.open("rb") as file:
            size = file.seek(0, os.SEEK_END)
            file.seek(max(0, size - 64))
            return b"%%EOF" in file.read()
    except OSError:
        return False


def join(parts: list[Path], target: Path, metadata: Metadata | None, page_numbers: Path | None = None) -> None:
    """Write `parts`, in order, as one PDF at `target`; byte-identical for identical inputs.

    `metadata`: what to set on the result (None: the first part's, as it is: a part joined again later).
    `page_numbers`, if given, is a PDF with one page per page of the result, laid over it.
    """
    try:
        with contextlib.ExitStack() as stack:
            joined = stack.enter_context(pikepdf.open(parts[0]))
            with joined.open_outline() as outline:
                for part in parts[1:]:
                    # qpdf copies stream data lazily, from the part's file: it stays open until the save.
                    _append(joined, stack.enter_context(pikepdf.open(part)), outline.root)
            if page_numbers is not None:
                _overlay(joined, stack.enter_context(pikepdf.open(page_numbers)))
            if metadata is not None:
                _set_metadata(joined, metadata)
            joined.save(target, deterministic_id=True, object_stream_mode=pikepdf.ObjectStreamMode.generate)
    except (pikepdf.PdfError, KeyError, AttributeError, IndexError) as error:
        raise JoinError(f"cannot join {len(parts)} PDF parts: {error}") from error


def _append(joined: pikepdf.Pdf, part: pikepdf.Pdf, outline: list[pikepdf.OutlineItem]) -> None:
    page_offset = len(joined.pages)
    tree = joined.Root.StructTreeRoot
    nums = tree.ParentTree.Nums
    key_offset = max((int(nums[i]) for i in range(0, len(nums), 2)), default=-1) + 1

    # Pages first: every later copy of an object that points at a page then lands on the copied page
    # (qpdf keeps one map from the part's objects to their copies). pikepdf warns that a link to a named destination
    # (a note's `[see](#q54)`) may not resolve after `extend`: the names are carried over below, and a user would
    # see the library's warning, source line and all, among the build's messages.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", pikepdf.PageCopyWarning)
        joined.pages.extend(part.pages)
    for page in joined.pages[page_offset:]:
        if "/StructParents" in page.obj:
            page.obj.StructParents = int(page.obj.StructParents) + key_offset
        for annotation in page.obj.get("/Annots", []):
            if "/StructParent" in annotation:
                annotation.StructParent = int(annotation.StructParent) + key_offset

    document = tree.K[0]
    part_document = part.Root.StructTreeRoot.K[0]
    for element in part_document.K:
        del element.P  # else the copy would drag in the part's own document element and tree root
        copied = joined.copy_foreign(element)
        copied.P = document
        document.K.append(copied)

    part_nums = part.Root.StructTreeRoot.ParentTree.Nums
    for index in range(0, len(part_nums), 2):
        value = part_nums[index + 1]
        nums.append(int(part_nums[index]) + key_offset)
        if value.is_indirect:
            nums.append(joined.copy_foreign(value))
        else:  # a page's array of marked-content elements, written inline
            nums.append(pikepdf.Array([joined.copy_foreign(element) for element in value]))

    with part.open_outline() as part_outline:
        outline.extend(_copy_outline(joined, part_outline.root))

    if "/Names" in part.Root and "/Dests" in part.Root.Names:
        if "/Names" not in joined.Root:
            joined.Root.Names = pikepdf.Dictionary()
        if "/Dests" not in joined.Root.Names:
            joined.Root.Names.Dests = joined.make_indirect(pikepdf.Dictionary(Names=pikepdf.Array()))
        destinations = pikepdf.NameTree(joined.Root.Names.Dests)
        # A name an earlier part also has now points into this part: the booklet's contents, laid out apart from
        # the questions, name each question itself (else WeasyPrint would drop the link), and the question wins.
        for name, destination in pikepdf.NameTree(part.Root.Names.Dests).items():
            destinations[name] = _copy_destination(joined, destination)


def _overlay(joined: pikepdf.Pdf, stamps: pikepdf.Pdf) -> None:
    """Draw each page of `stamps` over the same page of `joined`, marked as an artifact (not read aloud)."""
    if len(stamps.pages) != len(joined.pages):
        raise JoinError(f"{len(stamps.pages)} pages of page numbers for {len(joined.pages)} pages")
    for page, stamp in zip(joined.pages, stamps.pages, strict=True):
        form = joined.copy_foreign(stamp.as_form_xobject())
        # WeasyPrint shares one resource dictionary between pages: give each page its own before adding
        # its number under a fixed name (add_resource's own names are random: the file would not reproduce).
        resources = pikepdf.Dictionary({key: value for key, value in page.obj.Resources.items()})
        resources.XObject = pikepdf.Dictionary(
            {key: value for key, value in page.obj.Resources.get("/XObject", {}).items()}
        )
        resources.XObject.StudykitPageNumber = form
        page.obj.Resources = resources
        # q … Q around the page's own drawing, so that whatever state it leaves does not move the stamp.
        page.contents_add(b"q\n", prepend=True)
        page.contents_add(b"\nQ\n/Artifact BMC q /StudykitPageNumber Do Q EMC\n")


def _copy_destination(joined: pikepdf.Pdf, destination: pikepdf.Object) -> pikepdf.Object:
    if isinstance(destination, pikepdf.Array):  # [page /XYZ left top zoom]
        return _copied_array(joined, destination)
    return destination  # a named destination: names are carried over as they are


def _copied_array(joined: pikepdf.Pdf, destination: pikepdf.Array) -> pikepdf.Array:
    return pikepdf.Array([joined.copy_foreign(destination[0]), *destination[1:]])


def _copy_outline(joined: pikepdf.Pdf, items: list[pikepdf.OutlineItem]) -> list[pikepdf.OutlineItem]:
    copies = []
    for item in items:
        destination = item.destination
        if isinstance(destination, pikepdf.Array):
            destination = _copied_array(joined, destination)
        copy = pikepdf.OutlineItem(item.title, destination)
        copy.children.extend(_copy_outline(joined, item.children))
        copies.append(copy)
    return copies


def _set_metadata(joined: pikepdf.Pdf, metadata: Metadata) -> None:
    moment = iso_timestamp(metadata.created)
    with joined.open_metadata(set_pikepdf_as_editor=False, update_docinfo=True) as xmp:
        xmp["pdf:Keywords"] = metadata.keywords
        xmp["xmp:CreateDate"] = moment
        xmp["xmp:ModifyDate"] = moment
