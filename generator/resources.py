"""Nothing in a note may load from outside the content folder, in any output: the resource scanner.

Every tag of a note's HTML is read the way a browser or WeasyPrint reads it (any case, any quoting,
entities decoded, comments opened up), not only the tags Markdown writes, and every problem is
reported at the line of the note that holds it. Also: images in the content folder no note uses.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import html
import os
import re
import stat
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

from generator import fragments, stamps
from generator.errors import Location, Problems
from generator.model import Note
from generator.notefile import find_line, offset_of_line

IMAGE_SUFFIXES = {".svg", ".png", ".jpg", ".jpeg", ".gif", ".webp"}


def check_resources(
    path: Path, text: str, content_dir: Path, body_html: str, question: str, body_line: int, problems: Problems
) -> tuple[Path, ...]:
    """Nothing in a note may load from outside the content folder, in any output; return the files it uses.

    Every tag is read the way a browser or WeasyPrint reads it (any case, any quoting, entities
    decoded, comments opened up), not only the tags Markdown writes. The only references allowed
    are `#anchors`, `data:` URIs (an SVG one is checked inside too), `<img src>` of a file inside
    the content folder (an SVG file is checked inside too) and hyperlinks, which load nothing.
    `body_html` is every section as the outputs render it (text outside the sections is already an
    error); the question is checked too, since Anki shows it as HTML.
    """
    root = content_dir.resolve()
    scan = _ResourceScan(path, text, root, body_line, problems, root if path.parent == content_dir else None)
    scan.fragment(body_html)
    scan.restart(find_line(path, text, "question:", 1).line)
    scan.fragment(question, allow_files=False)
    return tuple(dict.fromkeys(scan.media))


# Tags that load, run or restyle something by themselves; notes never need them. An SVG (a figure file
# or a data: URI) may keep its <style>, whose text is checked instead.
_FORBIDDEN_TAGS = frozenset(
    {"script", "link", "style", "iframe", "frame", "frameset", "object", "embed", "applet", "base", "meta", "portal"}
)
_FORBIDDEN_IN_SVG = _FORBIDDEN_TAGS - {"style"}
# Attributes whose value is a URL (srcset: a list of them); so is any attribute whose name ends in src or href.
_URL_ATTRIBUTES = frozenset(
    {"src", "href", "srcset", "imagesrcset", "poster", "data", "background", "action", "formaction", "codebase",
     "archive", "code", "classid", "manifest", "icon", "profile", "usemap", "ping", "cite", "longdesc", "xml:base"}
)  # fmt: skip
# Attributes that hold text for people, never CSS or a URL.
_TEXT_ATTRIBUTES = frozenset({"alt", "title", "class", "id", "name", "value", "lang", "dir", "role"})
# A link to an http(s) page or a mail address loads nothing until the reader follows it; so do these attributes.
_CITATION_ATTRIBUTES = frozenset({"cite", "longdesc"})
# Comment and CDATA marks are dropped before parsing: an HTML5 parser ends `<!-->` where a lenient one
# reads on, so tags "inside" a comment are checked too.
_COMMENT_MARK = re.compile(r"<!--|--!?>|<!\[CDATA\[|\]\]>")
# CSS that can load: url() (other than to data: or #id), image-set() and friends, @import; and escapes,
# which could spell any of them.
_CSS_FUNCTION = re.compile(
    r"(?<![\w-])(?P<name>url|src|image|image-set|-webkit-image-set|cross-fade|element)\s*\(\s*(?P<argument>[^)]*)",
    re.IGNORECASE,
)
_CSS_COMMENT = re.compile(r"/\*.*?(?:\*/|$)", re.DOTALL)
# Browsers drop tabs and newlines anywhere in a URL, and control characters and spaces around it.
_URL_NOISE = re.compile(r"[\t\n\r]")
_C0_OR_SPACE = "".join(map(chr, range(0x21)))


class _Tags(HTMLParser):
    """Every start tag with its attributes (names lowercased, values decoded), and the text of each `<style>`."""

    def __init__(self, markup_text: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, list[tuple[str, str]], str]] = []
        self.style_text: list[str] = []
        self._in_style = False
        self.feed(_COMMENT_MARK.sub(" ", markup_text))
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_startendtag(tag, attrs)
        self._in_style = tag == "style"

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        raw = self.get_starttag_text() or f"<{tag}"
        self.tags.append((tag, [(name, value or "") for name, value in attrs], raw))

    def handle_endtag(self, tag: str) -> None:
        self._in_style = False

    def handle_data(self, data: str) -> None:
        if self._in_style:
            self.style_text.append(data)


def _srcset_urls(value: str) -> list[str]:
    """The URLs of a srcset: each candidate is a URL, then optional descriptors, then a comma."""
    urls = []
    position = 0
    while position < len(value):
        while position < len(value) and (value[position].isspace() or value[position] == ","):
            position += 1
        start = position
        while position < len(value) and not value[position].isspace():
            position += 1
        url = value[start:position]
        if url.endswith(","):
            url = url.rstrip(",")
        else:
            depth = 0
            while position < len(value) and (value[position] != "," or depth):
                depth += {"(": 1, ")": -1}.get(value[position], 0)
                position += 1
        if url:
            urls.append(url)
    return urls


def _css_problem(css: str) -> str | None:
    """Why a piece of CSS (a style attribute, an SVG <style>) could load something; None if it cannot."""
    css = _CSS_COMMENT.sub("", css)
    if "\\" in css:
        return "a CSS escape (`\\`)"
    if "@import" in css.lower():
        return "CSS `@import`"
    for function in _CSS_FUNCTION.finditer(css):
        argument = function.group("argument").strip().strip("'\"").strip().lower()
        if function.group("name").lower() != "url" or not argument.startswith(("data:", "#")):
            return f"CSS `{function.group('name')}(…)`"
    return None


def _svg_of_data_uri(url: str) -> str | None:
    """The document inside a `data:` URI when it is (or may be) SVG; None for other data."""
    header, _, payload = url[len("data:") :].partition(",")
    header = header.lower()
    try:
        if header.rstrip().endswith(";base64"):
            document = base64.b64decode(unquote(payload), validate=False).decode("utf-8", "replace")
        else:
            document = unquote(payload)
    except (ValueError, binascii.Error):
        return None
    return document if "svg" in header or _looks_like_markup(document) else None


def _writers_find_src(tag: str) -> bool:
    """Whether the writers find this tag's src (to inline it, or to name it for Anki): if not, it would load as is."""
    mark = "studykit:rewritten"
    rewritten = _Tags(fragments.rewrite_images(tag, lambda src: mark))
    sources = [value for _, attributes, _ in rewritten.tags for name, value in attributes if name == "src"]
    return bool(sources) and all(value == mark for value in sources)


def _looks_like_markup(document: str) -> bool:
    """WeasyPrint reads an image that is not a raster image as SVG, whatever its name or type says."""
    return document.lstrip("\ufeff \t\r\n").startswith("<")


# SVG files found clean in this process, by their bytes' sha256 and how deep they were found: found so again. A
# file's check depends on nothing else (its problems are reported where the note refers to it, and a clean check
# looks nothing up in the note), and a figure of 40 KB takes about 15 ms to check, once for every note that shows
# it in every build that reads it (`studykit serve` reads a deck again after each edit).
_CLEAN_SVG_FILES: set[tuple[bytes, int]] = set()


class _ResourceScan:
    """Checks the HTML of one note, reporting each problem at the line of the note that holds it."""

    def __init__(
        self, path: Path, text: str, root: Path, body_line: int, problems: Problems, real_folder: Path | None = None
    ) -> None:
        self.path, self.text, self.root, self.problems = path, text, root, problems
        self.real_folder = real_folder or path.parent.resolve()  # the note's folder with every link resolved
        self.media: list[Path] = []
        self._reported: set[tuple[int, str]] = set()
        self._errors = 0  # problems found so far
        self.restart(body_line)

    def restart(self, line: int) -> None:
        """Look for the next problems from `line` on (and report at `line` what cannot be found)."""
        self.fallback = line
        self.cursor = offset_of_line(self.text, line)

    def fragment(self, markup_text: str, allow_files: bool = True, svg: _Where | None = None, depth: int = 0) -> None:
        """Check a piece of HTML: a note's, or an SVG's that the note refers to at `svg`."""
        parsed = _Tags(markup_text)
        within = f" (inside {svg.what})" if svg else ""
        forbidden = _FORBIDDEN_IN_SVG if svg else _FORBIDDEN_TAGS
        for tag, attributes, raw in parsed.tags:
            spot = _Spot(self, raw)
            if tag in forbidden:
                self._error(
                    svg or _Where(spot),
                    f"`<{tag}>` is not allowed in a note{within}",
                    "notes hold Markdown, images and links; styles and scripts belong in templates/",
                )
            rel = next((value for name, value in attributes if name == "rel"), "").lower().split()
            animated = next((value for name, value in attributes if name == "attributename"), "").lower()
            if animated.endswith(("href", "src")):
                self._error(
                    svg or _Where(spot, "attributename"),
                    f"animating `{animated}` is not allowed in a note{within}",
                    "an animation could make it load anything",
                )
            element = _Element(tag, raw, "attachment" in rel, allow_files, within, depth)
            for name, value in attributes:
                self._attribute(element, name, value, svg or _Where(spot, name, value))
        for css in parsed.style_text:
            problem = _css_problem(css)
            if problem:
                where = svg or _Where(_Spot(self, css.strip()[:60]))
                self._error(where, f"{problem} is not allowed in a note{within}", "use a Markdown image instead")

    def _attribute(self, element: _Element, name: str, value: str, where: _Where) -> None:
        within = element.within
        if name.startswith("on"):
            self._error(where, f"event handler `{name}=` is not allowed in a note{within}", "notes run no code")
            return
        is_url = name in _URL_ATTRIBUTES or name.endswith(("src", "href"))
        if not is_url:
            if name not in _TEXT_ATTRIBUTES and not name.startswith(("aria-", "data-")):
                problem = _css_problem(value) if name == "style" or "(" in value else None
                if problem:
                    self._error(where, f"{problem} is not allowed in a note{within}", "use a Markdown image instead")
            return
        for candidate in _srcset_urls(value) if name.endswith("srcset") else [value]:
            url = _URL_NOISE.sub("", candidate).strip(_C0_OR_SPACE)
            if url[:5].lower() != "data:":
                self._url(element, name, url, where)
                continue
            document = _svg_of_data_uri(url)
            if document is not None and element.depth < 3:
                self.fragment(
                    document,
                    allow_files=False,
                    svg=where.named(f"the SVG data: URI of {name}="),
                    depth=element.depth + 1,
                )

    def _url(self, element: _Element, name: str, url: str, where: _Where) -> None:
        tag, depth = element.tag, element.depth
        shown = f"{name}={url!r}{element.within}"
        try:
            parts = urlsplit(url)
        except ValueError:
            self._error(where, f"{shown} is not a valid URL", "check the brackets and the host name")
            return
        scheme = parts.scheme.lower()
        if url.startswith("#"):
            return
        link = (
            tag in ("a", "area") and name.endswith("href") and not element.attachment
        ) or name in _CITATION_ATTRIBUTES
        web = (scheme in ("http", "https") and bool(parts.netloc)) or scheme == "mailto"
        if "\\" in url:
            self._error(where, f"{shown}: a `\\` in a URL is not allowed", "use `/` between folders")
        elif link and web:
            return  # an ordinary hyperlink loads nothing until the reader clicks it
        elif scheme or parts.netloc or url.startswith("/"):
            self._error(
                where,
                f"{shown} points outside the content folder",
                "copy the file into the content folder and refer to it by a relative path",
            )
        elif not element.allow_files or not (link or (tag == "img" and name == "src")):
            self._error(
                where,
                f"{shown}: only an image's src or a link may refer to a file here",
                "use a Markdown image, ![what it shows](figures/file.svg), or a link",
            )
        elif link:
            self._file(f"{name}={url!r}", unquote(parts.path), where, depth, image=False)
        elif parts.query or parts.fragment or unquote(parts.path) != parts.path:
            self._error(
                where,
                f"{shown}: write an image's path as it is, without `%` escapes, `?` or `#`",
                "a file name with spaces goes in angle brackets: ![what it shows](<figures/my figure.svg>)",
            )
        elif not _writers_find_src(element.raw):
            self._error(
                where,
                f'{shown}: write a figure as a Markdown image or as <img src="…">',
                "e.g. ![what it shows](figures/file.svg); the outputs only find images written that way",
            )
        else:
            self._file(f"{name}={url!r}", parts.path, where, depth, image=True)

    def _file(self, shown: str, relative: str, where: _Where, depth: int, image: bool) -> None:
        try:
            target = resolve_below(self.path.parent, self.real_folder, relative)
            exists = target.is_file()
        except (OSError, RuntimeError, ValueError) as error:  # a name too long, a symlink loop, a NUL byte
            self._error(where, f"{shown}: not a usable path ({error})", "use a short relative path to a figure")
            return
        if not target.is_relative_to(self.root):
            self._error(where, f"{shown} leaves the content folder", "keep figures inside the content folder")
        elif not exists:
            self._error(
                where, f"{shown}: no such file", f"expected {target.relative_to(self.root)} in the content folder"
            )
        else:
            name = target.relative_to(self.root)
            if image:  # an image that is SVG (whatever its name) could refer to other files
                try:
                    content = target.read_bytes()
                except OSError as error:
                    self._error(where, f"{shown}: cannot read the file: {error.strerror}", "")
                    return
                document = content.decode("utf-8", "replace")
                if target.suffix.lower() == ".svg" or _looks_like_markup(document):
                    clean = (hashlib.sha256(content).digest(), depth)
                    if clean not in _CLEAN_SVG_FILES:
                        errors = self._errors
                        self.fragment(document, allow_files=False, svg=where.named(name.as_posix()), depth=depth + 1)
                        if self._errors == errors:
                            _CLEAN_SVG_FILES.add(clean)
            self.media.append(name)

    def find(self, needle: str, *others: str) -> int:
        """Where `needle` (else one of `others`) is in the note, from the last find on; -1 if nowhere.

        Case does not matter, nor how much white space there is, nor Markdown's backslash escapes.
        """
        for candidate in (needle, *others):
            if candidate.strip():
                pattern = re.compile(_loose(candidate.strip()), re.IGNORECASE)
                found = pattern.search(self.text, self.cursor) or pattern.search(self.text)
                if found:
                    self.cursor = found.end()
                    return found.start()
        return -1

    def _error(self, where: _Where, message: str, hint: str) -> None:
        self._errors += 1  # reported or not: a problem found twice at one line is reported once
        offset = where.offset()
        line = self.text.count("\n", 0, offset) + 1 if offset >= 0 else self.fallback
        if (line, message) not in self._reported:
            self._reported.add((line, message))
            self.problems.error(Location(self.path, line), message, hint)


def _loose(needle: str) -> str:
    """A pattern for `needle` as the note may spell it: any run of white space, a `\\` before punctuation."""
    parts: list[str] = []
    for char in needle:
        if char.isspace():
            if parts[-1:] != [r"\s+"]:
                parts.append(r"\s+")
        elif char in _ASCII_PUNCTUATION:
            parts.append(r"\\?" + re.escape(char))
        else:
            parts.append(re.escape(char))
    return "".join(parts)


_ASCII_PUNCTUATION = frozenset("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~")


class _Spot:
    """Where a tag is in the note, looked up once and only when a problem needs it (-1: Markdown wrote the tag)."""

    def __init__(self, scan: _ResourceScan, raw: str) -> None:
        self.scan, self.raw = scan, raw
        self._offset: int | None = None
        self.written = ""  # the tag as the note writes it

    def offset(self) -> int:
        if self._offset is None:
            self._offset = self.scan.find(self.raw)
            self.written = self.scan.text[self._offset : self.scan.cursor] if self._offset >= 0 else ""
        return self._offset


@dataclass(frozen=True)
class _Element:
    """A tag being checked, with what its attributes' checks need to know of it and of where it is."""

    tag: str
    raw: str  # as written in the note
    attachment: bool  # rel="attachment": a link that downloads rather than navigates
    allow_files: bool  # False inside an SVG: it may not refer to further files
    within: str  # " (inside …)" for messages about an SVG's contents, else ""
    depth: int  # how many SVGs deep


class _Where:
    """Where an attribute is: inside its tag if the note has the tag as written, else where its value is."""

    def __init__(self, spot: _Spot, name: str = "", value: str = "", what: str = "") -> None:
        self.spot, self.name, self.value, self.what = spot, name, value, what
        self._offset: int | None = None
        self._same_as: _Where | None = None

    def named(self, what: str) -> _Where:
        """The same place, as the referrer of an SVG (`what` says which)."""
        same = _Where(self.spot, self.name, self.value, what)
        same._same_as = self
        return same

    def offset(self) -> int:
        if self._same_as is not None:
            return self._same_as.offset()
        if self._offset is None:
            self._offset = self._locate()
        return self._offset

    def _locate(self) -> int:
        tag_at = self.spot.offset()
        if tag_at >= 0:
            inside = re.search(r"(?<![\w:-])" + re.escape(self.name) + r"\s*=", self.spot.written, re.IGNORECASE)
            return tag_at + (inside.start() if self.name and inside else 0)
        if not self.value:
            return -1
        return self.spot.scan.find(html.escape(self.value, quote=False), self.value)


IMAGE_SUFFIXES = {".svg", ".png", ".jpg", ".jpeg", ".gif", ".webp"}


def resolve_below(folder: Path, real_folder: Path, relative: str) -> Path:
    """`(folder / relative).resolve()`, where `real_folder` is `folder` resolved, for less work.

    Path.resolve looks at every component of the whole absolute path (a system call each, and string work), and a
    build resolves a path for every file a note loads. Below a folder already resolved, only `relative`'s own
    components can be links: when each of them exists and none is a link (one lstat each), the real path is
    `real_folder / relative`. Anything else (`..`, a link, a missing or unusable name) is left to Path.resolve, so
    that what may be reached, and every error, is what it always was.
    """
    parts = Path(relative).parts
    if not parts or Path(relative).is_absolute() or ".." in parts:
        return (folder / relative).resolve()
    current = folder
    try:
        for part in parts:
            current = current / part
            if stat.S_ISLNK(os.lstat(current).st_mode):
                return (folder / relative).resolve()
    except (OSError, ValueError):
        return (folder / relative).resolve()
    return real_folder.joinpath(*parts)


def check_unused_images(
    content_dir: Path, notes: list[Note], problems: Problems, listed: list[stamps.Entry] | None = None
) -> None:
    """An image no note shows is probably a typo in a reference, or left over: worth a warning.

    `listed`: the folder's `stamps.listing`, when the reader has it already.
    """
    used = {path for note in notes for path in note.media}
    root = content_dir.resolve()
    for entry in stamps.listing(content_dir) if listed is None else listed:
        image = entry.path
        if image.suffix.lower() in IMAGE_SUFFIXES and entry.is_file():
            # The listing never goes into a linked folder: only the file itself may be a link (see `resolve_below`).
            resolved = image.resolve() if entry.link else root.joinpath(*entry.relative)
            if resolved.is_relative_to(root) and resolved.relative_to(root) not in used:
                problems.warn(
                    Location(image, 1), "image is not used by any note", "refer to it from a note, or delete it"
                )
