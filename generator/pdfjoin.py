"""Join tagged PDFs written by WeasyPrint into one, keeping what makes them accessible and navigable.

Copying pages (qpdf, pypdf) leaves behind each file's structure tree (the PDF/UA tags a screen
reader follows), outline and named destinations (`cheatsheet.pdf#q57`). WeasyPrint writes all three
in one simple shape: a StructTreeRoot whose one /Document element holds every top-level element, a
flat ParentTree (keys 0…pages-1 for the pages, then one per link annotation), a flat outline and a
flat /Dests name tree. Each is carried over here with its keys and page references renumbered.

The joined file is written here object by object, not built in memory and saved: a 5,000-note booklet is hundreds
of parts and ~200 MB, and qpdf's object model of it took ~22 times that. Each part is opened alone (pikepdf reads
its objects lazily); every object reachable from its pages, structure elements, parent tree, outline and named
destinations is written under the next free number as it is met (references renumbered in the text qpdf unparses
each object to; stream data copied as stored, filters and all), and the part is closed before the next. What
refers to the whole (the catalog, page tree, structure tree root and /Document element, parent tree, outline,
/Dests, metadata) is written at the end, from small records: a number a page, a key a parent-tree entry, a title
and a destination an outline entry. Non-stream objects go into object streams and the cross-reference table into
a compressed stream (PDF 1.5), as qpdf's `object_stream_mode=generate` did: the file is ~1 % smaller than qpdf's.
"""

from __future__ import annotations

import hashlib
import itertools
import os
import re
import sys
import zlib
from array import array
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

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
    if not parts:
        raise JoinError("no PDF parts to join")
    # Beside the target, then renamed: a join that fails half-way leaves nothing behind.
    partial = target.with_name(f".{target.name}.{os.getpid()}.join")
    try:
        with partial.open("wb") as file:
            stamps = pikepdf.open(page_numbers) if page_numbers is not None else None
            try:
                joiner = _Joiner(_Writer(file), stamps, metadata)
                for path in parts:
                    with pikepdf.open(path) as part:
                        joiner.add(part)
                joiner.finish()
            finally:
                if stamps is not None:
                    stamps.close()
        os.replace(partial, target)
    except (pikepdf.PdfError, KeyError, AttributeError, IndexError, TypeError, ValueError) as error:
        raise JoinError(f"cannot join {len(parts)} PDF parts: {error}") from error
    finally:
        partial.unlink(missing_ok=True)


# In the text qpdf unparses an object to: a literal string (qpdf escapes every parenthesis in one, so the first
# unescaped `)` ends it; hex strings hold no `R`), a parent-tree key (`/StructParent 3` on an annotation or form,
# `/StructParents 0` on a page), or a reference. Strings are matched only to be passed over: a title reading
# "(see 1 0 R)" is not a reference.
_TOKENS = re.compile(
    rb"(\((?:[^\\)]|\\.)*\))|(/StructParents?\s+)(\d+)|(?<![\w.])(\d+) (\d+) R(?![\w#])",
    re.DOTALL,
)
# Where there is neither (most objects): references alone, found ~3 times faster.
_REFERENCES = re.compile(rb"\b(\d+) (\d+) R\b")
# The entries a page takes from its page tree nodes when it has none of its own (PDF 32000-1, table 30).
_INHERITED = ("/Resources", "/MediaBox", "/CropBox", "/Rotate")
# The page-number overlay's drawing, after the page's own (wrapped in q … Q: whatever state it leaves does not
# move the number), marked as an artifact (not read aloud). One stream each, shared by every page.
_BEFORE = b"q\n"
_AFTER = b"\nQ\n/Artifact BMC q /StudykitPageNumber Do Q EMC\n"
_OBJECTS_PER_STREAM = 100  # as qpdf
_ROWS_AT_ONCE = 1 << 13  # ~50 kB of rows: the arithmetic on them takes ~10 times that


class _Writer:
    """The output file: objects as they come, numbered by `allocate`; the cross-reference stream at the end."""

    def __init__(self, file: IO[bytes]) -> None:
        self._file = file
        self._offset = 0
        self._digest = hashlib.md5(usedforsecurity=False)
        # One row per object number (0 is the free list's head): its kind (1: at an offset, 2: in an object
        # stream), then its offset or object stream, and its index there. Arrays: ~13 bytes an object.
        self._kinds = array("B")
        self._where = array("Q")
        self._index = array("B")
        self._count = 1  # numbers allocated; the rows are added in bulk when written (`_room`)
        self._batch: list[tuple[int, bytes]] = []

    def header(self, version: str) -> None:
        # The second line's bytes above 127 tell a transfer program the file is binary.
        self._write(b"%%PDF-%s\n%%\xbf\xf7\xa2\xfe\n" % version.encode("ascii"))

    def allocate(self) -> int:
        self._count += 1
        return self._count - 1

    def object(self, number: int, text: bytes) -> None:
        self._batch.append((number, text))
        if len(self._batch) >= _OBJECTS_PER_STREAM:
            self._flush()

    def stream(self, number: int, dictionary: bytes, data: bytes) -> None:
        self._room()
        self._kinds[number] = 1
        self._where[number] = self._offset
        self._write(b"%d 0 obj\n%s\nstream\n" % (number, dictionary))
        self._write(data)
        self._write(b"\nendstream\nendobj\n")

    def finish(self, root: int, info: int | None) -> None:
        self._flush()
        number = self.allocate()
        self._room()
        self._kinds[number] = 1
        self._where[number] = self._offset
        size = len(self._kinds)
        wide = max(1, (max(self._where).bit_length() + 7) // 8)
        columns = 2 + wide
        data = self._table(wide)
        identifier = self._digest.hexdigest().encode("ascii")  # of every byte before: qpdf's deterministic ID
        info_entry = b" /Info %d 0 R" % info if info is not None else b""
        dictionary = (
            b"<< /Type /XRef /Size %d /W [ 1 %d 1 ] /Root %d 0 R%s /ID [ <%s> <%s> ]"
            b" /Filter /FlateDecode /DecodeParms << /Columns %d /Predictor 12 >> /Length %d >>"
            % (size, wide, root, info_entry, identifier, identifier, columns, len(data))
        )
        self._write(b"%d 0 obj\n%s\nstream\n" % (number, dictionary))
        self._write(data)
        self._write(b"\nendstream\nendobj\nstartxref\n%d\n%%%%EOF\n" % self._where[number])

    def _table(self, wide: int) -> bytes:
        """The cross-reference table, compressed: one row of [kind, where (`wide` bytes), index] per object, with
        PNG's Up predictor (each byte less the one above, mod 256: successive offsets differ in their low bytes
        only, and the table compresses ~10 times better; qpdf does the same).

        Slices of rows at a time: the whole table at once would take ~10 times its size, tens of MB for a
        5,000-note booklet. Slice assignments and integer arithmetic: no Python loop over objects.
        """
        width = 3 + wide
        compressor = zlib.compressobj()
        pieces = []
        above = bytes(width)
        for start in range(0, len(self._kinds), _ROWS_AT_ONCE):
            stop = min(start + _ROWS_AT_ONCE, len(self._kinds))
            rows = bytearray((stop - start) * width)
            rows[1::width] = self._kinds[start:stop].tobytes()
            where = self._where[start:stop]
            if sys.byteorder == "little":
                where.byteswap()
            big_endian = where.tobytes()
            for byte in range(wide):
                rows[2 + byte :: width] = big_endian[8 - wide + byte :: 8]
            rows[2 + wide :: width] = self._index[start:stop].tobytes()
            pieces.append(compressor.compress(_up_predicted(bytes(rows), above)))
            above = bytes(rows[-width:])
        pieces.append(compressor.flush())
        return b"".join(pieces)

    def _flush(self) -> None:
        if not self._batch:
            return
        number = self.allocate()
        self._room()
        kinds, where, indices = self._kinds, self._where, self._index
        for index, (member, _) in enumerate(self._batch):
            kinds[member] = 2
            where[member] = number
            indices[member] = index
        texts = [text for _, text in self._batch]
        starts = itertools.accumulate((len(text) + 1 for text in texts[:-1]), initial=0)  # each after a newline
        pairs = zip(self._batch, starts, strict=True)
        head = b" ".join(b"%d %d" % (member, start) for (member, _), start in pairs) + b"\n"
        data = zlib.compress(head + b"\n".join(texts) + b"\n")
        self.stream(
            number,
            b"<< /Type /ObjStm /N %d /First %d /Filter /FlateDecode /Length %d >>"
            % (len(self._batch), len(head), len(data)),
            data,
        )
        self._batch = []

    def _room(self) -> None:
        """A row for each number allocated."""
        missing = self._count - len(self._kinds)
        self._kinds.frombytes(bytes(missing))
        self._where.frombytes(bytes(8 * missing))
        self._index.frombytes(bytes(missing))

    def _write(self, data: bytes) -> None:
        self._file.write(data)
        self._digest.update(data)
        self._offset += len(data)


def _up_predicted(rows: bytes, above: bytes) -> bytes:
    """`rows` (each as long as `above`, the row before them, and starting with 0) with PNG's Up predictor.

    Worked on the rows as one integer, byte by byte without borrows (SWAR: Hacker's Delight 2-18).
    """
    width = len(above)
    size = len(rows)
    current = int.from_bytes(rows, "big")
    before = int.from_bytes(above + rows[:-width], "big")
    high = int.from_bytes(b"\x80" * size, "big")
    every = (1 << (8 * size)) - 1
    difference = ((current | high) - (before & (every ^ high))) ^ ((current ^ before ^ every) & high)
    predicted = bytearray(difference.to_bytes(size, "big"))
    predicted[0::width] = b"\x02" * (size // width)  # each row's predictor: Up
    return bytes(predicted)


class _Source:
    """One input file's objects as written out: its object numbers mapped to the output's as they are met."""

    def __init__(self, pdf: pikepdf.Pdf, writer: _Writer, key_offset: int = 0) -> None:
        self.pdf = pdf
        self._writer = writer
        self.key_offset = key_offset
        self.numbers: dict[tuple[int, int], int] = {}
        self._pending: deque[tuple[int, int]] = deque()
        # What each reference and parent-tree key met so far is written as: most are met again and again (a page,
        # a font, a structure element's parent), and looking the text up is most of renumbering's time saved.
        self._written_as: dict[bytes, bytes] = {}

    def number(self, objgen: tuple[int, int]) -> int:
        """The output's number for the object `objgen`; one not met yet is written by `drain`."""
        number = self.numbers.get(objgen)
        if number is None:
            number = self.numbers[objgen] = self._writer.allocate()
            self._pending.append(objgen)
        return number

    def renumber(self, text: bytes) -> bytes:
        """Unparsed PDF `text` with its references and parent-tree keys made the output's."""
        if b"(" in text or b"/StructParent" in text:
            return _TOKENS.sub(self._replace, text)
        return _REFERENCES.sub(self._replace_reference, text)

    def token(self, value: Any) -> bytes:
        """A value read from a dictionary or array of this file, as it is written in the output."""
        if isinstance(value, pikepdf.Object):
            return self.renumber(value.unparse())
        if isinstance(value, bool):
            return b"true" if value else b"false"
        if isinstance(value, int):
            return b"%d" % value
        raise JoinError(f"unexpected value {value!r}")

    def drain(self) -> None:
        """Write every object referred to so far (and what it refers to) that is not written yet."""
        # Once for each of the output's objects: names looked up once.
        pending, numbers, get_object, renumber = self._pending, self.numbers, self.pdf.get_object, self.renumber
        write_object, write_stream, stream = self._writer.object, self._writer.stream, pikepdf.Stream
        while pending:
            objgen = pending.popleft()
            number = numbers[objgen]
            found = get_object(objgen)
            if found is None:  # a reference to no object is to null (PDF 32000-1, 7.3.10)
                write_object(number, b"null")
            elif isinstance(found, stream):
                raw = found.read_raw_bytes()
                dictionary = found.stream_dict
                if dictionary.get("/Length") != len(raw):  # written indirectly, or found wrong by qpdf
                    dictionary = pikepdf.Dictionary({key: value for key, value in dictionary.items()})
                    dictionary.Length = len(raw)
                write_stream(number, renumber(dictionary.unparse(resolved=True)), raw)
            else:
                write_object(number, renumber(found.unparse(resolved=True)))

    def _replace_reference(self, match: re.Match[bytes]) -> bytes:
        text = match[0]
        found = self._written_as.get(text)
        if found is None:
            found = self._written_as[text] = b"%d 0 R" % self.number((int(match[1]), int(match[2])))
        return found

    def _replace(self, match: re.Match[bytes]) -> bytes:
        text = match[0]
        found = self._written_as.get(text)
        if found is not None:
            return found
        string, key_name, key, number, generation = match.groups()
        if string is not None:
            return string
        if key is not None:
            found = key_name + b"%d" % (int(key) + self.key_offset)
        else:
            found = b"%d 0 R" % self.number((int(number), int(generation)))
        self._written_as[text] = found
        return found


@dataclass
class _OutlineItem:
    title: bytes
    destination: bytes | None
    action: bytes | None
    closed: bool
    children: list[_OutlineItem] = field(default_factory=list)


class _Joiner:
    """The parts added in turn; what refers to all of them, kept small until `finish` writes it."""

    def __init__(self, writer: _Writer, stamps: pikepdf.Pdf | None, metadata: Metadata | None) -> None:
        self._writer = writer
        self._stamps = _Source(stamps, writer) if stamps is not None else None
        self._stamp_pages = len(stamps.pages) if stamps is not None else 0
        self._stamp_streams: tuple[int, int] | None = None
        self._metadata = metadata
        self._catalog = writer.allocate()
        self._page_tree = writer.allocate()
        self._pages = array("Q")
        self._tree: tuple[int, int] | None = None  # StructTreeRoot and /Document, once a part has them
        self._tree_extra = b""
        self._document_extra = b""
        self._document_kids = bytearray()
        self._keys = array("Q")  # the parent tree: keys, and the objects they map to
        self._key_values = array("Q")
        self._next_key = 0
        self._outline: list[_OutlineItem] = []
        self._destinations: dict[str, bytes] = {}
        self._catalog_extra = b""
        self._names_extra = b""
        self._info: int | None = None
        self._metadata_stream: int | None = None
        self._first = True

    def add(self, part: pikepdf.Pdf) -> None:
        if part.is_encrypted:
            raise JoinError("an encrypted part")
        source = _Source(part, self._writer, self._next_key)
        root = part.Root
        if self._first:
            self._writer.header(max(part.pdf_version, "1.5"))  # object streams are PDF 1.5

        # Pages first, numbered before anything that points at them; the page tree's nodes become the output's.
        pages = self._page_list(part.Root.Pages, source, {}, set())
        if len(pages) != len(part.pages):
            raise JoinError(f"a page tree of {len(pages)} pages where qpdf finds {len(part.pages)}")
        for page, _ in pages:
            # Mapped, not queued for `drain`: `_write_page` writes pages.
            number = source.numbers[page.objgen] = self._writer.allocate()
            self._pages.append(number)
        source.numbers[root.objgen] = self._catalog

        tree = root.get("/StructTreeRoot")
        if tree is not None:
            self._add_tree(tree, source)
        if "/Outlines" in root:
            self._outline.extend(self._outline_items(root.Outlines, source, set()))
        names = root.get("/Names")
        if names is not None and "/Dests" in names:
            # A name an earlier part also has now points into this part: the booklet's contents, laid out apart
            # from the questions, name each question itself (else WeasyPrint would drop the link), and the
            # question wins.
            for name, destination in pikepdf.NameTree(names.Dests).items():
                self._destinations[name] = source.renumber(destination.unparse(resolved=True))

        if self._first:
            self._keep_first(part, source)
        first_page = len(self._pages) - len(pages)
        for index, (page, inherited) in enumerate(pages):
            self._write_page(page, inherited, source, first_page + index)
        source.drain()
        if self._stamps is not None:
            self._stamps.drain()
        self._first = False

    def finish(self) -> None:
        pages = len(self._pages)
        if self._stamps is not None and self._stamp_pages != pages:
            raise JoinError(f"{self._stamp_pages} pages of page numbers for {pages} pages")
        writer = self._writer
        kids = b" ".join(b"%d 0 R" % number for number in self._pages)
        writer.object(self._page_tree, b"<< /Type /Pages /Count %d /Kids [ %s ] >>" % (pages, kids))

        catalog = b"<< /Type /Catalog /Pages %d 0 R" % self._page_tree
        if self._tree is not None:
            catalog += b" /StructTreeRoot %d 0 R" % self._tree[0]
            self._write_tree(*self._tree)
        if self._outline:
            catalog += b" /Outlines %d 0 R" % self._write_outline()
        names = self._names_extra
        if self._destinations:
            dests = writer.allocate()
            entries = b" ".join(
                pikepdf.String(name).unparse() + b" " + self._destinations[name] for name in sorted(self._destinations)
            )
            writer.object(dests, b"<< /Names [ %s ] >>" % entries)
            names += b" /Dests %d 0 R" % dests
        if names:
            catalog += b" /Names << %s >>" % names
        if self._metadata_stream is not None:
            catalog += b" /Metadata %d 0 R" % self._metadata_stream
        writer.object(self._catalog, catalog + self._catalog_extra + b" >>")
        writer.finish(self._catalog, self._info)

    def _page_list(
        self,
        node: pikepdf.Object,
        source: _Source,
        inherited: dict[str, pikepdf.Object],
        seen: set[tuple[int, int]],
    ) -> list[tuple[pikepdf.Object, dict[str, pikepdf.Object]]]:
        """The pages under `node`, in order, each with what it inherits; the nodes are mapped to the output's one."""
        if node.objgen in seen or not node.is_indirect:
            raise JoinError("a page tree that is not a tree")
        seen.add(node.objgen)
        source.numbers[node.objgen] = self._page_tree
        inherited = inherited | {key: node[key] for key in _INHERITED if key in node}
        pages = []
        for kid in node.Kids:
            if "/Kids" in kid:
                pages.extend(self._page_list(kid, source, inherited, seen))
            elif kid.objgen in seen or not kid.is_indirect:
                raise JoinError("a page twice in the page tree, or not an object of its own")
            else:
                seen.add(kid.objgen)
                pages.append((kid, {key: value for key, value in inherited.items() if key not in kid}))
        return pages

    def _add_tree(self, tree: pikepdf.Object, source: _Source) -> None:
        """The part's structure elements, under the one /Document element; its parent tree, keys shifted."""
        top = tree.get("/K")
        if isinstance(top, pikepdf.Array) and len(top) == 1:
            top = top[0]
        if not isinstance(top, pikepdf.Dictionary) or top.get("/S") != "/Document":
            raise JoinError("a structure tree that is not one /Document element")
        if self._tree is None:
            self._tree = (self._writer.allocate(), self._writer.allocate())
            self._tree_extra = self._extra(tree, source, ("/Type", "/K", "/ParentTree", "/ParentTreeNextKey"))
            self._document_extra = self._extra(top, source, ("/Type", "/S", "/P", "/K"))
        source.numbers[tree.objgen] = self._tree[0]
        source.numbers[top.objgen] = self._tree[1]  # the top elements' /P: now the joined file's /Document

        kids = top.get("/K")
        if isinstance(kids, pikepdf.Array):
            text = source.renumber(kids.unparse(resolved=True)).strip()
            text = text.removeprefix(b"[").removesuffix(b"]").strip()
        elif kids is not None:
            text = source.token(kids)
        else:
            text = b""
        if text:
            self._document_kids += text + b" "

        parent_tree = tree.ParentTree
        if "/Kids" in parent_tree:
            raise JoinError("a parent tree of more than one node")
        nums = parent_tree.get("/Nums", pikepdf.Array())
        if len(nums) % 2:
            raise JoinError("a parent tree with a key and no value")
        for index in range(0, len(nums), 2):
            key = int(nums[index]) + source.key_offset
            value = nums[index + 1]
            if value.is_indirect:
                number = source.number(value.objgen)
            else:  # a page's array of marked-content elements, written inline: its own object here
                number = self._writer.allocate()
                self._writer.object(number, source.renumber(value.unparse()))
            self._keys.append(key)
            self._key_values.append(number)
            self._next_key = max(self._next_key, key + 1)

    def _outline_items(self, parent: pikepdf.Object, source: _Source, seen: set[tuple[int, int]]) -> list[_OutlineItem]:
        items = []
        item = parent.get("/First")
        while item is not None:
            if item.objgen in seen:
                raise JoinError("an outline that loops")
            seen.add(item.objgen)
            destination = item.get("/Dest")
            action = item.get("/A")
            count = item.get("/Count")
            items.append(
                _OutlineItem(
                    title=item.Title.unparse(),
                    destination=source.renumber(destination.unparse(resolved=True))
                    if destination is not None
                    else None,
                    action=source.renumber(action.unparse(resolved=True)) if action is not None else None,
                    closed=isinstance(count, int) and count < 0,
                    children=self._outline_items(item, source, seen),
                )
            )
            item = item.get("/Next")
        return items

    def _keep_first(self, part: pikepdf.Pdf, source: _Source) -> None:
        """The first part's catalog entries other than those made here, and its metadata (or the build's)."""
        root = part.Root
        made = ["/Type", "/Pages", "/StructTreeRoot", "/Outlines", "/Names"]
        if self._metadata is not None:
            made.append("/Metadata")
        self._catalog_extra = self._extra(root, source, tuple(made))
        if "/Names" in root:
            self._names_extra = self._extra(root.Names, source, ("/Dests",))
        info = part.trailer.get("/Info")
        if self._metadata is None:
            if info is not None:
                self._info = self._indirect(info, source)
            return
        # pikepdf's own metadata editing, on a scratch file holding the part's: the same XMP and document
        # information as editing the joined file in memory gave.
        with pikepdf.new() as scratch:
            if "/Metadata" in root:
                scratch.Root.Metadata = scratch.make_stream(root.Metadata.read_bytes())
            if info is not None:
                scratch.docinfo = scratch.make_indirect(
                    pikepdf.Dictionary({key: _resolved(value) for key, value in info.items()})
                )
            _set_metadata(scratch, self._metadata)
            xmp = scratch.Root.Metadata
            kept = pikepdf.Dictionary(
                {key: value for key, value in xmp.stream_dict.items() if key not in ("/Length", "/Filter")}
            )
            data = xmp.read_bytes()
            self._metadata_stream = self._writer.allocate()
            # Uncompressed, as qpdf writes it: a program that looks for XMP in the file's bytes finds it.
            self._writer.stream(self._metadata_stream, kept.unparse()[:-2] + b"/Length %d >>" % len(data), data)
            self._info = self._writer.allocate()
            self._writer.object(self._info, scratch.docinfo.unparse(resolved=True))

    def _write_page(
        self, page: pikepdf.Object, inherited: dict[str, pikepdf.Object], source: _Source, index: int
    ) -> None:
        number = source.numbers[page.objgen]
        if self._stamps is None or index >= self._stamp_pages:  # too few numbers: `finish` says so
            if inherited:
                dictionary = pikepdf.Dictionary({key: value for key, value in page.items()} | inherited)
                text = dictionary.unparse()
            else:
                text = page.unparse(resolved=True)
            self._writer.object(number, source.renumber(text))
            return
        entries = {key: value for key, value in page.items()} | inherited
        contents = entries.pop("/Contents", None)
        resources = entries.pop("/Resources", pikepdf.Dictionary())
        own = source.renumber(pikepdf.Dictionary(entries).unparse())

        if isinstance(contents, pikepdf.Array):
            drawing = source.renumber(contents.unparse(resolved=True)).strip()[1:-1].strip()
        elif contents is not None:
            drawing = source.token(contents)
        else:
            drawing = b""
        before, after = self._stamp_streams_numbers()
        contents_text = b"[ %d 0 R %s %d 0 R ]" % (before, drawing, after)

        # Its own resource dictionary (WeasyPrint shares one between pages), with the number's drawing under a
        # fixed name (a name made up at random would not reproduce).
        entries = {key: value for key, value in resources.items()}
        xobjects = entries.pop("/XObject", pikepdf.Dictionary())
        named = source.renumber(pikepdf.Dictionary({key: value for key, value in xobjects.items()}).unparse())
        stamp = self._write_stamp(index)
        named = named[:-2] + b"/StudykitPageNumber %d 0 R >>" % stamp
        resources_text = source.renumber(pikepdf.Dictionary(entries).unparse())[:-2] + b"/XObject " + named + b" >>"
        self._writer.object(
            number, own[:-2] + b"/Contents " + contents_text + b" /Resources " + resources_text + b" >>"
        )

    def _stamp_streams_numbers(self) -> tuple[int, int]:
        if self._stamp_streams is None:
            self._stamp_streams = (self._writer.allocate(), self._writer.allocate())
            for number, data in zip(self._stamp_streams, (_BEFORE, _AFTER), strict=True):
                self._writer.stream(number, b"<< /Length %d >>" % len(data), data)
        return self._stamp_streams

    def _write_stamp(self, index: int) -> int:
        """Page `index` of the page numbers as a form XObject (qpdf's conversion), written; its number."""
        assert self._stamps is not None
        form = self._stamps.pdf.pages[index].as_form_xobject()
        dictionary = pikepdf.Dictionary(
            {key: value for key, value in form.stream_dict.items() if key not in ("/Length", "/Filter", "/DecodeParms")}
        )
        data = zlib.compress(form.read_bytes())
        number = self._writer.allocate()
        text = self._stamps.renumber(dictionary.unparse())[:-2] + b"/Filter /FlateDecode /Length %d >>" % len(data)
        self._writer.stream(number, text, data)
        return number

    def _write_tree(self, root: int, document: int) -> None:
        writer = self._writer
        order = sorted(range(len(self._keys)), key=self._keys.__getitem__)
        nums = b" ".join(b"%d %d 0 R" % (self._keys[i], self._key_values[i]) for i in order)
        parent_tree = writer.allocate()
        writer.object(parent_tree, b"<< /Nums [ %s ] >>" % nums)
        writer.object(
            root,
            b"<< /Type /StructTreeRoot /K [ %d 0 R ] /ParentTree %d 0 R /ParentTreeNextKey %d%s >>"
            % (document, parent_tree, self._next_key, self._tree_extra),
        )
        writer.object(
            document,
            b"<< /Type /StructElem /S /Document /P %d 0 R /K [ %s]%s >>"
            % (root, bytes(self._document_kids), self._document_extra),
        )

    def _write_outline(self) -> int:
        root = self._writer.allocate()
        visible, ends = self._write_items(self._outline, root)
        self._writer.object(root, b"<< /Type /Outlines /Count %d%s >>" % (visible, ends))
        return root

    def _write_items(self, items: list[_OutlineItem], parent: int) -> tuple[int, bytes]:
        """Write `items` under `parent`: how many entries they show (PDF 32000-1, table 153: /Count), and the
        parent's /First and /Last."""
        numbers = [self._writer.allocate() for _ in items]
        visible = len(items)
        for index, item in enumerate(items):
            text = b"<< /Title %s /Parent %d 0 R" % (item.title, parent)
            if index > 0:
                text += b" /Prev %d 0 R" % numbers[index - 1]
            if index + 1 < len(items):
                text += b" /Next %d 0 R" % numbers[index + 1]
            if item.children:
                shown, ends = self._write_items(item.children, numbers[index])
                text += ends + b" /Count %d" % (-len(item.children) if item.closed else shown)
                if not item.closed:
                    visible += shown
            if item.destination is not None:
                text += b" /Dest " + item.destination
            if item.action is not None:
                text += b" /A " + item.action
            self._writer.object(numbers[index], text + b" >>")
        return visible, b" /First %d 0 R /Last %d 0 R" % (numbers[0], numbers[-1])

    def _extra(self, dictionary: pikepdf.Object, source: _Source, made: tuple[str, ...]) -> bytes:
        """The entries of `dictionary` other than those `made` here, as text to end a dictionary with."""
        kept = pikepdf.Dictionary({key: value for key, value in dictionary.items() if key not in made})
        text = source.renumber(kept.unparse()).strip()
        return b" " + text[2:-2].strip() if len(kept) else b""

    def _indirect(self, value: pikepdf.Object, source: _Source) -> int:
        if value.is_indirect:
            return source.number(value.objgen)
        number = self._writer.allocate()
        self._writer.object(number, source.renumber(value.unparse()))
        return number


def _resolved(value: Any) -> Any:
    """A document information value (a string, or a name) as a direct object, for another file."""
    if not isinstance(value, pikepdf.Object) or not value.is_indirect:
        return value
    if isinstance(value, pikepdf.String):
        return pikepdf.String(bytes(value))
    if isinstance(value, pikepdf.Name):
        return pikepdf.Name(str(value))
    raise JoinError(f"a document information entry that is not a string: {value!r}")


def _set_metadata(joined: pikepdf.Pdf, metadata: Metadata) -> None:
    moment = iso_timestamp(metadata.created)
    with joined.open_metadata(set_pikepdf_as_editor=False, update_docinfo=True) as xmp:
        xmp["pdf:Keywords"] = metadata.keywords
        xmp["xmp:CreateDate"] = moment
        xmp["xmp:ModifyDate"] = moment
