"""Join tagged PDFs written by WeasyPrint into one, keeping what makes them accessible and navigable.

Copying pages (qpdf, pypdf) leaves behind each file's structure tree (the PDF/UA tags a screen
reader follows), outline and named destinations (`cheatsheet.pdf#q57`). WeasyPrint writes all three
in one simple shape: a StructTreeRoot whose one /Document element holds every top-level element, a
flat ParentTree (keys 0…pages-1 for the pages, then one per link annotation), a flat outline and a
flat /Dests name tree. Each is carried over here with its keys and page references renumbered.

The joined file is written here object by object, not built in memory and saved: a 5,000-note booklet is hundreds
of parts and ~200 MB, and qpdf's object model of it took ~22 times that. Each part is opened alone (pikepdf reads
its objects lazily); every object reachable from its pages, structure elements, parent tree, outline and named
destinations is written under a number of the part's own range as it is met (references renumbered in the text
qpdf unparses each object to; stream data copied as stored, filters and all), and the part is closed before the
next. What refers to the whole (the catalog, page tree, structure tree root and /Document element, parent tree,
outline, /Dests, metadata, and the pages themselves, which the page numbers change) is written at the end, from
small records: a page's own entries, a key a parent-tree entry, a title and a destination an outline entry.
Non-stream objects go into object streams and the cross-reference table into a compressed stream (PDF 1.5), as
qpdf's `object_stream_mode=generate` did.

A part's share of the file (its *join form*: its objects' bytes, their cross-reference rows, and its records)
depends on the part and on nothing before it but where its numbers start, so it is kept beside a cached part
(`keep_forms`) and copied as bytes by the next join, which renumbers only the parts that changed:

- Numbers. The objects every part refers to have fixed numbers (1 the catalog, 2 the page tree, 3 the structure
  tree root, 4 the /Document element), written at the end. Part i's objects are numbered from base_i = 5 + the
  sum of `_reserved(span)` of the parts before it, where a part's span is how many numbers it uses, rounded up to
  a multiple of `_RESERVE`: a part edited without crossing a multiple moves no later part's numbers, and its
  unused numbers are free rows of the cross-reference stream, which compress to next to nothing (a run of
  identical rows under the Up predictor is a run of zeros). The pages' numbers are in their part's range too, so
  what points at a page (structure elements, links, destinations) stays in the form; the page objects are
  written at the end from the form's records, with the page-number overlay of this build.
- Parent-tree keys. A part's key k becomes base_i + k: a part has at most as many keys (one a page, one a link)
  as objects, so its keys fit its range; the keys of a number tree need not be contiguous.
- Offsets. A form's rows for stream objects (content streams, fonts, images, its object streams) hold offsets
  from the start of its bytes; the start is added as it is copied.
- The file identifier, the MD5 of what comes before the cross-reference stream (qpdf's deterministic ID), is here
  the MD5 of the bytes written directly and of the MD5 of each part's bytes: a copied form is not hashed again.

The same rules make a cold join (nothing kept) and one that copies forms: both write the same bytes. A form is
used only if it was made for the same part file (size and time), base, role (first part or not, metadata kept or
replaced), overlay or none, and format; its records and bytes are checked against their MD5s, else it is made
again from the part.
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import marshal
import os
import re
import struct
import sys
import zlib
from array import array
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, TypeAlias

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


# The join forms' format: a form of another format is made again, not read.
_FORM_FORMAT = 1
# How `join` writes a file: a PDF that is itself a join and is cached by what it holds (the cheat sheet's last part,
# two pieces joined) names this in its key, so a build with a join that writes other bytes makes it afresh.
JOIN_FORMAT = "joined a part at a time, forms 1"
FORM_SUFFIX = f".join{_FORM_FORMAT}"


def form_path(part: Path) -> Path:
    """Where the join form of the part at `part` is kept: beside it, named for it (never `*.pdf`: not a part)."""
    return part.with_name(part.name + FORM_SUFFIX)


def concatenate(parts: list[Path], target: Path) -> None:
    """The pages of untagged PDFs (a page-number overlay's pieces), one after another, at `target` (whole or not at
    all). Small pages of text only: qpdf's model of them is small, unlike a joined booklet's."""
    partial = target.with_name(f".{target.name}.{os.getpid()}.concatenated")
    try:
        with pikepdf.Pdf.new() as whole, contextlib.ExitStack() as stack:
            for part in parts:
                # qpdf copies stream data lazily, from the part's file: it stays open until the save.
                whole.pages.extend(stack.enter_context(pikepdf.open(part)).pages)
            whole.save(partial, deterministic_id=True, object_stream_mode=pikepdf.ObjectStreamMode.generate)
        os.replace(partial, target)
    except (pikepdf.PdfError, OSError) as error:
        raise JoinError(f"cannot put {len(parts)} pieces of page numbers together: {error}") from error
    finally:
        partial.unlink(missing_ok=True)


def join(
    parts: list[Path],
    target: Path,
    metadata: Metadata | None,
    page_numbers: Path | None = None,
    *,
    keep_forms: bool = False,
) -> None:
    """Write `parts`, in order, as one PDF at `target`; byte-identical for identical inputs.

    `metadata`: what to set on the result (None: the first part's, as it is: a part joined again later).
    `page_numbers`, if given, is a PDF with one page per page of the result, laid over it.
    `keep_forms`: use each part's join form kept beside it, and keep the ones made (for cached parts, whose file
    does not change; the result is the same bytes either way).
    """
    _join(parts, target, metadata, page_numbers, keep_forms)


def _join(
    parts: list[Path], target: Path, metadata: Metadata | None, page_numbers: Path | None, keep_forms: bool
) -> None:
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
                    joiner.add(path, keep_forms)
                joiner.finish(parts[0])
            finally:
                if stamps is not None:
                    stamps.close()
        os.replace(partial, target)
    except (pikepdf.PdfError, KeyError, AttributeError, IndexError, TypeError, ValueError) as error:
        raise JoinError(f"cannot join {len(parts)} PDF parts: {error}") from error
    finally:
        partial.unlink(missing_ok=True)


def join_cached(parts: list[Path], target: Path, metadata: Metadata | None, page_numbers: Path | None = None) -> None:
    """`join` with `keep_forms`: for parts kept in a cache, each named by what it holds (its file does not change)."""
    _join(parts, target, metadata, page_numbers, keep_forms=True)


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
# The fixed numbers, which every part may refer to: written at the end. 0 is the free list's head.
_CATALOG, _PAGE_TREE, _TREE_ROOT, _DOCUMENT = 1, 2, 3, 4
_FIRST_BASE = 5
# A part's numbers are reserved in multiples of this. Larger: an edit less often crosses a multiple (and then
# every later part's forms are made again, as in a cold join: ~ an edit's objects / _RESERVE of edits), for ~10
# bytes of memory and a few bytes of compressed cross-reference stream per unused number. A booklet part holds
# ~300-5,000 objects, a sheet of flashcards ~550, and an edit changes a part by tens.
_RESERVE = 1024


def _reserved(span: int) -> int:
    return -(-span // _RESERVE) * _RESERVE


class _Rows:
    """Cross-reference rows for the numbers from `first` on: a kind (0: free, 1: at an offset, 2: in an object
    stream), then the offset or object stream, and the index there. Arrays: ~10 bytes a number."""

    def __init__(self, first: int) -> None:
        self.first = first
        self.kinds = array("B")
        self.where = array("Q")
        self.index = array("B")

    def room(self, stop: int) -> None:
        """A row (free until set) for each number below `stop`."""
        missing = stop - self.first - len(self.kinds)
        if missing > 0:
            self.kinds.frombytes(bytes(missing))
            self.where.frombytes(bytes(8 * missing))
            self.index.frombytes(bytes(missing))


class _Objects:
    """Objects numbered from `next_number` on (by `allocate`) and written by `write` from `offset` on; non-stream
    objects into object streams of 100, their rows set in `rows`."""

    def __init__(self, rows: _Rows, next_number: int, offset: int, write: Callable[[bytes], Any]) -> None:
        self.rows = rows
        self.next = next_number
        self.offset = offset
        self._write = write
        self._batch: list[tuple[int, bytes]] = []

    def allocate(self) -> int:
        self.next += 1
        return self.next - 1

    def object(self, number: int, text: bytes) -> None:
        self._batch.append((number, text))
        if len(self._batch) >= _OBJECTS_PER_STREAM:
            self.flush()

    def stream(self, number: int, dictionary: bytes, data: bytes) -> None:
        rows = self.rows
        rows.room(number + 1)
        rows.kinds[number - rows.first] = 1
        rows.where[number - rows.first] = self.offset
        self.write(b"%d 0 obj\n%s\nstream\n" % (number, dictionary))
        self.write(data)
        self.write(b"\nendstream\nendobj\n")

    def write(self, data: bytes) -> None:
        self._write(data)
        self.offset += len(data)

    def flush(self) -> None:
        if not self._batch:
            return
        number = self.allocate()
        rows = self.rows
        rows.room(max(number, max(member for member, _ in self._batch)) + 1)
        kinds, where, indices, first = rows.kinds, rows.where, rows.index, rows.first
        for index, (member, _) in enumerate(self._batch):
            kinds[member - first] = 2
            where[member - first] = number
            indices[member - first] = index
        texts = [text for _, text in self._batch]
        starts = itertools.accumulate((len(text) + 1 for text in texts[:-1]), initial=0)  # each after a newline
        pairs = zip(self._batch, starts, strict=True)
        head = b" ".join(b"%d %d" % (member, start) for (member, _), start in pairs) + b"\n"
        data = zlib.compress(head + b"\n".join(texts) + b"\n")
        self._batch = []
        self.stream(
            number,
            b"<< /Type /ObjStm /N %d /First %d /Filter /FlateDecode /Length %d >>" % (len(texts), len(head), len(data)),
            data,
        )


class _Writer:
    """The output file: the header, the parts' forms as they come, then the end (`tail`) and the
    cross-reference stream."""

    def __init__(self, file: IO[bytes]) -> None:
        self._file = file
        self._offset = 0
        # Of the bytes written here, and of each form's bytes' MD5 (see the module's account).
        self._digest = hashlib.md5(usedforsecurity=False)
        self.rows = _Rows(0)

    def header(self, version: str) -> None:
        # The second line's bytes above 127 tell a transfer program the file is binary.
        self._write(b"%%PDF-%s\n%%\xbf\xf7\xa2\xfe\n" % version.encode("ascii"))

    def place(self, form: _Form) -> None:
        """A part's form: its bytes copied, its rows set, offsets from where its bytes start."""
        start = self._offset
        self._file.write(form.body)
        self._offset += len(form.body)
        self._digest.update(form.digest)
        where = array("Q")
        where.frombytes(form.where)
        for local in form.streams:
            where[local] += start
        base, count = form.base, len(form.kinds)
        rows = self.rows
        rows.room(base + count)
        rows.kinds[base : base + count] = array("B", form.kinds)
        rows.where[base : base + count] = where
        rows.index[base : base + count] = array("B", form.index)

    def tail(self, first: int) -> _Objects:
        """The objects written after the parts, numbered from `first` on."""
        return _Objects(self.rows, first, self._offset, self._write)

    def finish(self, tail: _Objects, root: int, info: int | None) -> None:
        tail.flush()
        self._offset = tail.offset
        number = tail.allocate()
        rows = self.rows
        rows.room(number + 1)
        rows.kinds[number] = 1
        rows.where[number] = self._offset
        size = len(rows.kinds)
        wide = max(1, (max(rows.where).bit_length() + 7) // 8)
        columns = 2 + wide
        data = self._table(wide)
        identifier = self._digest.hexdigest().encode("ascii")
        info_entry = b" /Info %d 0 R" % info if info is not None else b""
        dictionary = (
            b"<< /Type /XRef /Size %d /W [ 1 %d 1 ] /Root %d 0 R%s /ID [ <%s> <%s> ]"
            b" /Filter /FlateDecode /DecodeParms << /Columns %d /Predictor 12 >> /Length %d >>"
            % (size, wide, root, info_entry, identifier, identifier, columns, len(data))
        )
        self._write(b"%d 0 obj\n%s\nstream\n" % (number, dictionary))
        self._write(data)
        self._write(b"\nendstream\nendobj\nstartxref\n%d\n%%%%EOF\n" % rows.where[number])

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
        kinds, where_all, index = self.rows.kinds, self.rows.where, self.rows.index
        for start in range(0, len(kinds), _ROWS_AT_ONCE):
            stop = min(start + _ROWS_AT_ONCE, len(kinds))
            rows = bytearray((stop - start) * width)
            rows[1::width] = kinds[start:stop].tobytes()
            where = where_all[start:stop]
            if sys.byteorder == "little":
                where.byteswap()
            big_endian = where.tobytes()
            for byte in range(wide):
                rows[2 + byte :: width] = big_endian[8 - wide + byte :: 8]
            rows[2 + wide :: width] = index[start:stop].tobytes()
            pieces.append(compressor.compress(_up_predicted(bytes(rows), above)))
            above = bytes(rows[-width:])
        pieces.append(compressor.flush())
        return b"".join(pieces)

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

    def __init__(self, pdf: pikepdf.Pdf, objects: _Objects, key_offset: int = 0) -> None:
        self.pdf = pdf
        self._objects = objects
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
            number = self.numbers[objgen] = self._objects.allocate()
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
        write_object, write_stream, stream = self._objects.object, self._objects.stream, pikepdf.Stream
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


# An outline entry: title, destination, action (as written), closed, and its entries.
_Item: TypeAlias = "tuple[bytes, bytes | None, bytes | None, bool, list[_Item]]"
# The key a form is kept under: format, base, role (0: not the first part, 1: the first, its metadata kept, 2: the
# first, its metadata replaced), overlay or none, and the part file's size and time.
_Key: TypeAlias = tuple[int, int, int, bool, int, int]
_MAGIC = b"studykit join form\n"
_SIZES = struct.Struct("<QQ16s16s")  # the record's length and the bytes', then their MD5s


@dataclass
class _Form:
    """A part's share of the joined file: its objects' bytes, their rows, and the records written at the end."""

    body: bytes | memoryview
    digest: bytes  # of `body`
    key: _Key
    span: int  # the numbers it uses from its base on (its objects, and its parent-tree keys)
    version: str  # its PDF version
    pages: list[tuple[int, tuple[bytes, ...]]]  # each page's number and what its object is written from
    tree: tuple[bytes, bytes, bytes] | None  # the structure tree root's and /Document's entries kept, its kids
    keys: bytes  # its parent-tree keys and the objects they map to: arrays of Q
    values: bytes
    outline: list[_Item]
    destinations: list[tuple[str, bytes]]
    first: tuple[bytes, bytes, int | None] | None  # the first part's catalog and /Names entries kept, its /Info
    kinds: bytes  # the rows of its numbers (arrays of B, Q, B): offsets from the start of `body`
    where: bytes
    index: bytes
    streams: list[int]  # the rows (from the base) that are offsets

    @property
    def base(self) -> int:
        return self.key[1]

    def record(self) -> bytes:
        return marshal.dumps(
            (
                self.key,
                self.span,
                self.version,
                self.pages,
                self.tree,
                self.keys,
                self.values,
                self.outline,
                self.destinations,
                self.first,
                self.kinds,
                self.where,
                self.index,
                self.streams,
            )
        )


def _store_form(path: Path, form: _Form) -> None:
    """Keep `form` at `path`, whole or not at all (written beside it, then renamed); not kept if it cannot be."""
    record = form.record()
    partial = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    header = _SIZES.pack(len(record), len(form.body), hashlib.md5(record, usedforsecurity=False).digest(), form.digest)
    try:
        with partial.open("wb") as file:
            file.write(_MAGIC + header + record)
            file.write(form.body)
        os.replace(partial, path)
    except OSError:
        partial.unlink(missing_ok=True)


def _load_form(path: Path, key: _Key) -> _Form | None:
    """The form kept at `path` if it is whole and made under `key`; None otherwise (then it is made again)."""
    try:
        data = path.read_bytes()
    except OSError:
        return None
    start = len(_MAGIC) + _SIZES.size
    if not data.startswith(_MAGIC) or len(data) < start:
        return None
    record_size, body_size, record_digest, body_digest = _SIZES.unpack_from(data, len(_MAGIC))
    if len(data) != start + record_size + body_size:
        return None
    view = memoryview(data)
    record = view[start : start + record_size]
    body = view[start + record_size :]
    if hashlib.md5(record, usedforsecurity=False).digest() != record_digest:
        return None
    try:
        fields = marshal.loads(record)
        if tuple(fields[0]) != key:
            return None
        if len(fields) != 14:
            return None
        form = _Form(body, body_digest, *fields)
    except (EOFError, ValueError, TypeError, IndexError):
        return None
    # Last: the bytes are most of the file, and only a form made under this key is worth checking.
    if hashlib.md5(body, usedforsecurity=False).digest() != body_digest:
        return None
    return form


class _Joiner:
    """The parts added in turn; what refers to all of them, kept small until `finish` writes it."""

    def __init__(self, writer: _Writer, stamps: pikepdf.Pdf | None, metadata: Metadata | None) -> None:
        self._writer = writer
        self._stamps = stamps
        self._stamp_pages = len(stamps.pages) if stamps is not None else 0
        self._metadata = metadata
        self._base = _FIRST_BASE  # where the next part's numbers start
        self._pages = array("Q")
        self._page_records: list[tuple[bytes, ...]] = []
        self._tree = False  # whether a part has a structure tree
        self._tree_extra = b""
        self._document_extra = b""
        self._document_kids = bytearray()
        self._keys = array("Q")  # the parent tree: keys, and the objects they map to
        self._key_values = array("Q")
        self._next_key = 0
        self._outline: list[_Item] = []
        self._destinations: dict[str, bytes] = {}
        self._catalog_extra = b""
        self._names_extra = b""
        self._info: int | None = None
        self._first = True
        self.made = 0  # forms made from their part, not copied (for the tests)

    def add(self, path: Path, keep: bool) -> None:
        role = 0 if not self._first else 1 if self._metadata is None else 2
        stat = path.stat()
        key: _Key = (_FORM_FORMAT, self._base, role, self._stamps is not None, stat.st_size, stat.st_mtime_ns)
        kept = form_path(path)
        form = _load_form(kept, key) if keep else None
        if form is None:
            with pikepdf.open(path) as part:
                form = _make_form(part, key)
            self.made += 1
            if keep:
                _store_form(kept, form)
        self._take(form)

    def _take(self, form: _Form) -> None:
        if self._first:
            self._writer.header(max(form.version, "1.5"))  # object streams are PDF 1.5
            if form.first is not None:
                self._catalog_extra, self._names_extra, self._info = form.first
        self._writer.place(form)
        for number, record in form.pages:
            self._pages.append(number)
            self._page_records.append(record)
        if form.tree is not None:
            if not self._tree:
                self._tree_extra, self._document_extra = form.tree[0], form.tree[1]
            self._tree = True
            self._document_kids += form.tree[2]
        keys = array("Q")
        keys.frombytes(form.keys)
        self._keys.extend(keys)
        values = array("Q")
        values.frombytes(form.values)
        self._key_values.extend(values)
        if keys:
            self._next_key = max(self._next_key, max(keys) + 1)
        self._outline.extend(form.outline)
        # A name an earlier part also has now points into this part: the booklet's contents, laid out apart from
        # the questions, name each question itself (else WeasyPrint would drop the link), and the question wins.
        self._destinations.update(form.destinations)
        self._base += _reserved(form.span)
        self._first = False

    def finish(self, first_part: Path) -> None:
        pages = len(self._pages)
        if self._stamps is not None and self._stamp_pages != pages:
            raise JoinError(f"{self._stamp_pages} pages of page numbers for {pages} pages")
        writer = self._writer
        tail = writer.tail(self._base)
        if self._stamps is not None:
            stamps = _Source(self._stamps, tail)
            before, after = tail.allocate(), tail.allocate()
            for number, data in zip((before, after), (_BEFORE, _AFTER), strict=True):
                tail.stream(number, b"<< /Length %d >>" % len(data), data)
            for index, (number, record) in enumerate(zip(self._pages, self._page_records, strict=True)):
                own, drawing, resources, named = record
                stamp = _write_stamp(stamps, tail, index)
                contents = b"[ %d 0 R %s %d 0 R ]" % (before, drawing, after)
                named += b"/StudykitPageNumber %d 0 R >>" % stamp
                tail.object(
                    number,
                    own[:-2]
                    + b"/Contents "
                    + contents
                    + b" /Resources "
                    + resources
                    + b"/XObject "
                    + named
                    + b" >> >>",
                )
            stamps.drain()
        else:
            for number, record in zip(self._pages, self._page_records, strict=True):
                tail.object(number, record[0])

        kids = b" ".join(b"%d 0 R" % number for number in self._pages)
        tail.object(_PAGE_TREE, b"<< /Type /Pages /Count %d /Kids [ %s ] >>" % (pages, kids))
        catalog = b"<< /Type /Catalog /Pages %d 0 R" % _PAGE_TREE
        if self._tree:
            catalog += b" /StructTreeRoot %d 0 R" % _TREE_ROOT
            self._write_tree(tail)
        if self._outline:
            catalog += b" /Outlines %d 0 R" % self._write_outline(tail)
        names = self._names_extra
        if self._destinations:
            dests = tail.allocate()
            entries = b" ".join(
                pikepdf.String(name).unparse() + b" " + self._destinations[name] for name in sorted(self._destinations)
            )
            tail.object(dests, b"<< /Names [ %s ] >>" % entries)
            names += b" /Dests %d 0 R" % dests
        if names:
            catalog += b" /Names << %s >>" % names
        info = self._info
        if self._metadata is not None:
            with pikepdf.open(first_part) as part:
                metadata_stream, info = _write_metadata(part, self._metadata, tail)
            catalog += b" /Metadata %d 0 R" % metadata_stream
        tail.object(_CATALOG, catalog + self._catalog_extra + b" >>")
        writer.finish(tail, _CATALOG, info)

    def _write_tree(self, tail: _Objects) -> None:
        order = sorted(range(len(self._keys)), key=self._keys.__getitem__)
        nums = b" ".join(b"%d %d 0 R" % (self._keys[i], self._key_values[i]) for i in order)
        parent_tree = tail.allocate()
        tail.object(parent_tree, b"<< /Nums [ %s ] >>" % nums)
        tail.object(
            _TREE_ROOT,
            b"<< /Type /StructTreeRoot /K [ %d 0 R ] /ParentTree %d 0 R /ParentTreeNextKey %d%s >>"
            % (_DOCUMENT, parent_tree, self._next_key, self._tree_extra),
        )
        tail.object(
            _DOCUMENT,
            b"<< /Type /StructElem /S /Document /P %d 0 R /K [ %s]%s >>"
            % (_TREE_ROOT, bytes(self._document_kids), self._document_extra),
        )

    def _write_outline(self, tail: _Objects) -> int:
        root = tail.allocate()
        visible, ends = self._write_items(tail, self._outline, root)
        tail.object(root, b"<< /Type /Outlines /Count %d%s >>" % (visible, ends))
        return root

    def _write_items(self, tail: _Objects, items: list[_Item], parent: int) -> tuple[int, bytes]:
        """Write `items` under `parent`: how many entries they show (PDF 32000-1, table 153: /Count), and the
        parent's /First and /Last."""
        numbers = [tail.allocate() for _ in items]
        visible = len(items)
        for index, (title, destination, action, closed, children) in enumerate(items):
            text = b"<< /Title %s /Parent %d 0 R" % (title, parent)
            if index > 0:
                text += b" /Prev %d 0 R" % numbers[index - 1]
            if index + 1 < len(items):
                text += b" /Next %d 0 R" % numbers[index + 1]
            if children:
                shown, ends = self._write_items(tail, children, numbers[index])
                text += ends + b" /Count %d" % (-len(children) if closed else shown)
                if not closed:
                    visible += shown
            if destination is not None:
                text += b" /Dest " + destination
            if action is not None:
                text += b" /A " + action
            tail.object(numbers[index], text + b" >>")
        return visible, b" /First %d 0 R /Last %d 0 R" % (numbers[0], numbers[-1])


def _make_form(part: pikepdf.Pdf, key: _Key) -> _Form:
    """The form of `part` under `key` (its base, role, overlay or not), made from its objects."""
    if part.is_encrypted:
        raise JoinError("an encrypted part")
    base, role, stamped = key[1], key[2], key[3]
    body = bytearray()
    rows = _Rows(base)
    objects = _Objects(rows, base, 0, body.extend)
    source = _Source(part, objects, base)
    root = part.Root
    # Pages first, numbered before anything that points at them; the page tree's nodes become the output's.
    pages = _page_list(part.Root.Pages, source, {}, set())
    if len(pages) != len(part.pages):
        raise JoinError(f"a page tree of {len(pages)} pages where qpdf finds {len(part.pages)}")
    for page, _ in pages:
        # Mapped, not queued for `drain`: the join writes pages at its end, from their records.
        source.numbers[page.objgen] = objects.allocate()
    source.numbers[root.objgen] = _CATALOG

    tree = root.get("/StructTreeRoot")
    tree_record = None
    keys, values = array("Q"), array("Q")
    span_keys = 0
    if tree is not None:
        tree_record, span_keys = _add_tree(tree, source, objects, keys, values)
    outline = _outline_items(root.Outlines, source, set()) if "/Outlines" in root else []
    destinations = []
    names = root.get("/Names")
    if names is not None and "/Dests" in names:
        for name, destination in pikepdf.NameTree(names.Dests).items():
            destinations.append((name, source.renumber(destination.unparse(resolved=True))))

    first = None
    if role:
        made = ["/Type", "/Pages", "/StructTreeRoot", "/Outlines", "/Names"]
        if role == 2:
            made.append("/Metadata")  # the build's, written at the end
        names_extra = _extra(root.Names, source, ("/Dests",)) if "/Names" in root else b""
        info = part.trailer.get("/Info")
        info_number = _indirect(info, source, objects) if role == 1 and info is not None else None
        first = (_extra(root, source, tuple(made)), names_extra, info_number)
    page_records = [
        (source.numbers[page.objgen], _page_record(page, inherited, source, stamped)) for page, inherited in pages
    ]
    source.drain()
    objects.flush()
    body_bytes = bytes(body)
    streams = [local for local, kind in enumerate(rows.kinds) if kind == 1]
    return _Form(
        key=key,
        span=max(objects.next - base, span_keys),
        version=str(part.pdf_version),
        pages=page_records,
        tree=tree_record,
        keys=keys.tobytes(),
        values=values.tobytes(),
        outline=outline,
        destinations=destinations,
        first=first,
        kinds=rows.kinds.tobytes(),
        where=rows.where.tobytes(),
        index=rows.index.tobytes(),
        streams=streams,
        body=body_bytes,
        digest=hashlib.md5(body_bytes, usedforsecurity=False).digest(),
    )


def _page_list(
    node: pikepdf.Object,
    source: _Source,
    inherited: dict[str, pikepdf.Object],
    seen: set[tuple[int, int]],
) -> list[tuple[pikepdf.Object, dict[str, pikepdf.Object]]]:
    """The pages under `node`, in order, each with what it inherits; the nodes are mapped to the output's one."""
    if node.objgen in seen or not node.is_indirect:
        raise JoinError("a page tree that is not a tree")
    seen.add(node.objgen)
    source.numbers[node.objgen] = _PAGE_TREE
    inherited = inherited | {key: node[key] for key in _INHERITED if key in node}
    pages = []
    for kid in node.Kids:
        if "/Kids" in kid:
            pages.extend(_page_list(kid, source, inherited, seen))
        elif kid.objgen in seen or not kid.is_indirect:
            raise JoinError("a page twice in the page tree, or not an object of its own")
        else:
            seen.add(kid.objgen)
            pages.append((kid, {key: value for key, value in inherited.items() if key not in kid}))
    return pages


def _add_tree(
    tree: pikepdf.Object, source: _Source, objects: _Objects, keys: array[int], values: array[int]
) -> tuple[tuple[bytes, bytes, bytes], int]:
    """The part's structure tree root's and /Document's other entries, the /Document's kids (now the joined
    file's /Document's), its parent tree (keys shifted to the part's range) added to `keys` and `values`; and the
    span of its keys."""
    top = tree.get("/K")
    if isinstance(top, pikepdf.Array) and len(top) == 1:
        top = top[0]
    if not isinstance(top, pikepdf.Dictionary) or top.get("/S") != "/Document":
        raise JoinError("a structure tree that is not one /Document element")
    source.numbers[tree.objgen] = _TREE_ROOT
    source.numbers[top.objgen] = _DOCUMENT  # the top elements' /P: now the joined file's /Document
    # Every part's, kept by the join from the first that has a tree: a form does not depend on the parts before.
    tree_extra = _extra(tree, source, ("/Type", "/K", "/ParentTree", "/ParentTreeNextKey"))
    document_extra = _extra(top, source, ("/Type", "/S", "/P", "/K"))

    kids = top.get("/K")
    if isinstance(kids, pikepdf.Array):
        text = source.renumber(kids.unparse(resolved=True)).strip()
        text = text.removeprefix(b"[").removesuffix(b"]").strip()
    elif kids is not None:
        text = source.token(kids)
    else:
        text = b""

    parent_tree = tree.ParentTree
    if "/Kids" in parent_tree:
        raise JoinError("a parent tree of more than one node")
    nums = parent_tree.get("/Nums", pikepdf.Array())
    if len(nums) % 2:
        raise JoinError("a parent tree with a key and no value")
    span = 0
    for index in range(0, len(nums), 2):
        key = int(nums[index])
        if key < 0:
            raise JoinError("a negative parent-tree key")
        value = nums[index + 1]
        if value.is_indirect:
            number = source.number(value.objgen)
        else:  # a page's array of marked-content elements, written inline: its own object here
            number = objects.allocate()
            objects.object(number, source.renumber(value.unparse()))
        keys.append(key + source.key_offset)
        values.append(number)
        span = max(span, key + 1)
    return (tree_extra, document_extra, text + b" " if text else b""), span


def _outline_items(parent: pikepdf.Object, source: _Source, seen: set[tuple[int, int]]) -> list[_Item]:
    items: list[_Item] = []
    item = parent.get("/First")
    while item is not None:
        if item.objgen in seen:
            raise JoinError("an outline that loops")
        seen.add(item.objgen)
        destination = item.get("/Dest")
        action = item.get("/A")
        count = item.get("/Count")
        items.append(
            (
                item.Title.unparse(),
                source.renumber(destination.unparse(resolved=True)) if destination is not None else None,
                source.renumber(action.unparse(resolved=True)) if action is not None else None,
                isinstance(count, int) and count < 0,
                _outline_items(item, source, seen),
            )
        )
        item = item.get("/Next")
    return items


def _page_record(
    page: pikepdf.Object, inherited: dict[str, pikepdf.Object], source: _Source, stamped: bool
) -> tuple[bytes, ...]:
    """What the page's object is written from at the end: without the overlay, its text; with it, its own entries,
    its drawing (references, to go between the overlay's two streams), and its resources but their end (`>>`)
    and its form XObjects but their end (the overlay's is added to each page's own)."""
    if not stamped:
        if inherited:
            text = pikepdf.Dictionary({key: value for key, value in page.items()} | inherited).unparse()
        else:
            text = page.unparse(resolved=True)
        return (source.renumber(text),)
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
    # Its own resource dictionary (WeasyPrint shares one between pages), with the number's drawing under a fixed
    # name (a name made up at random would not reproduce).
    entries = {key: value for key, value in resources.items()}
    xobjects = entries.pop("/XObject", pikepdf.Dictionary())
    named = source.renumber(pikepdf.Dictionary({key: value for key, value in xobjects.items()}).unparse())
    resources_text = source.renumber(pikepdf.Dictionary(entries).unparse())[:-2]
    return own, drawing, resources_text, named[:-2]


def _write_stamp(stamps: _Source, tail: _Objects, index: int) -> int:
    """Page `index` of the page numbers as a form XObject (qpdf's conversion), written; its number."""
    form = stamps.pdf.pages[index].as_form_xobject()
    dictionary = pikepdf.Dictionary(
        {key: value for key, value in form.stream_dict.items() if key not in ("/Length", "/Filter", "/DecodeParms")}
    )
    data = zlib.compress(form.read_bytes())
    number = tail.allocate()
    text = stamps.renumber(dictionary.unparse())[:-2] + b"/Filter /FlateDecode /Length %d >>" % len(data)
    tail.stream(number, text, data)
    return number


def _write_metadata(part: pikepdf.Pdf, metadata: Metadata, tail: _Objects) -> tuple[int, int]:
    """The first part's XMP and document information with the build's `metadata`, written: their numbers.

    pikepdf's own metadata editing, on a scratch file holding the part's: the same XMP and document information as
    editing the joined file in memory gave.
    """
    root = part.Root
    info = part.trailer.get("/Info")
    with pikepdf.new() as scratch:
        if "/Metadata" in root:
            scratch.Root.Metadata = scratch.make_stream(root.Metadata.read_bytes())
        if info is not None:
            scratch.docinfo = scratch.make_indirect(
                pikepdf.Dictionary({key: _resolved(value) for key, value in info.items()})
            )
        _set_metadata(scratch, metadata)
        xmp = scratch.Root.Metadata
        kept = pikepdf.Dictionary(
            {key: value for key, value in xmp.stream_dict.items() if key not in ("/Length", "/Filter")}
        )
        data = xmp.read_bytes()
        stream = tail.allocate()
        # Uncompressed, as qpdf writes it: a program that looks for XMP in the file's bytes finds it.
        tail.stream(stream, kept.unparse()[:-2] + b"/Length %d >>" % len(data), data)
        number = tail.allocate()
        tail.object(number, scratch.docinfo.unparse(resolved=True))
    return stream, number


def _extra(dictionary: pikepdf.Object, source: _Source, made: tuple[str, ...]) -> bytes:
    """The entries of `dictionary` other than those `made` here, as text to end a dictionary with."""
    kept = pikepdf.Dictionary({key: value for key, value in dictionary.items() if key not in made})
    text = source.renumber(kept.unparse()).strip()
    return b" " + text[2:-2].strip() if len(kept) else b""


def _indirect(value: pikepdf.Object, source: _Source, objects: _Objects) -> int:
    if value.is_indirect:
        return source.number(value.objgen)
    number = objects.allocate()
    objects.object(number, source.renumber(value.unparse()))
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
