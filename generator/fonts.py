"""The fonts that set a deck's language in the PDFs, the @font-face rules that load them, and what they cannot print.

WeasyPrint finds fonts through fontconfig, and a fresh machine has no CJK font: Chinese, Japanese and Korean would
print as empty boxes. So the CJK font is a dependency installed by pip with studykit: `noto-cjk-sans-otc` ships
Noto Sans CJK 2.004 Regular (SIL Open Font License 1.1) as one OpenType collection that covers Simplified and
Traditional Chinese, Japanese and Korean. WeasyPrint loads it through an @font-face rule and embeds in each PDF only
the glyphs that PDF uses (a subset).

One collection serves every CJK language. Its regional faces share one set of glyphs and differ only in which form
of a character they use by default; the font's `locl` feature picks the regional form from the text's language,
which WeasyPrint hands to HarfBuzz from the `lang` attribute. The page must therefore carry the deck's language
(the templates do: `<html lang="{{ deck.language }}">`); text without it prints in the default, Japanese, forms.

Latin text keeps the system fonts the English deck already uses (DejaVu Sans, then Noto Sans); the CJK font comes
after them in every chain, so a Chinese word in an English note prints too. For Chinese and Japanese, curly quotes,
the ellipsis, the em dash and the middle dot come from the CJK font first: those languages set them full width.

The study page is read on whatever device it is copied to, which may have no CJK font either, and it may load
nothing from the network. So a page with CJK text carries its own: `web_font` cuts from the deck's regional face of
the same collection the glyphs of exactly the CJK characters the page holds, as WOFF2 (a few hundred characters
are about 100 KB, where the face is 16 MB), kept in the cache folder (`fonts/`) so that the collection is read only
when that set of characters is new. A page with no CJK character gets no font, and reads no font file.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import logging
import os
import pickle
import re
import shutil
import subprocess
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path

CJK_PACKAGE = "noto-cjk-sans-otc"  # the PyPI distribution that ships the font
_CJK_MODULE = "noto_cjk_sans_otc"
_CJK_FILE = "NotoSansCJK-Regular.ttc"
CJK_FAMILY = "studykit CJK"  # the family name our @font-face rule gives the collection
CJK_PUNCTUATION_FAMILY = "studykit CJK punctuation"  # the same file, limited to the full-width punctuation below
# Characters that Chinese and Japanese set full width but Latin fonts also have, narrow: ‘ ’ “ ” … — ·
CJK_PUNCTUATION_RANGE = "U+00B7, U+2014, U+2018-2019, U+201C-201D, U+2026"
LATIN_FAMILIES = ("DejaVu Sans", "Noto Sans")  # system fonts (Debian's fonts-dejavu-core), found by fontconfig
GENERIC_FAMILY = "sans-serif"

# Face order inside NotoSansCJK-Regular.ttc (Noto Sans CJK 2.004): JP, KR, SC, TC, HK, then the Mono faces.
_FACE_INDEX = {"ja": 0, "ko": 1, "zh-Hans": 2, "zh-Hant": 3, "zh-HK": 4}
CJK_LANGUAGES = ("zh-Hans", "zh-Hant", "zh-HK", "ja", "ko")
_FULL_WIDTH_PUNCTUATION_LANGUAGES = frozenset({"zh-Hans", "zh-Hant", "zh-HK", "ja"})


class FontMissing(RuntimeError):
    """The CJK font package is not installed."""


@dataclass(frozen=True)
class Face:
    """One font of a chain: its CSS family name, its file and, in a collection, the face's index."""

    family: str
    path: Path
    index: int = 0


def cjk_language(language: str) -> str | None:
    """The CJK writing system a BCP 47 tag asks for: zh-Hans, zh-Hant, zh-HK, ja, ko, or None for any other.

    >>> [cjk_language(tag) for tag in ("zh", "zh-CN", "zh-Hant-TW", "zh-HK", "ja-JP", "ko", "en")]
    ['zh-Hans', 'zh-Hans', 'zh-Hant', 'zh-HK', 'ja', 'ko', None]
    """
    subtags = [part.lower() for part in language.replace("_", "-").split("-") if part]
    if not subtags:
        return None
    primary, rest = subtags[0], set(subtags[1:])
    if primary in ("ja", "jpn"):
        return "ja"
    if primary in ("ko", "kor"):
        return "ko"
    if primary not in ("zh", "zho", "chi", "cmn", "yue"):
        return None
    if "hans" in rest:
        return "zh-Hans"
    if rest & {"hk", "mo"}:
        return "zh-HK"
    if "hant" in rest or "tw" in rest or primary == "yue":
        return "zh-Hant"
    return "zh-Hans"  # plain zh, zh-CN, zh-SG: Simplified


@cache
def cjk_font_path() -> Path:
    """The installed Noto Sans CJK collection; `FontMissing` says how to install it when it is not there."""
    try:
        path: Path | None = Path(str(resources.files(_CJK_MODULE).joinpath(_CJK_FILE)))
    except ModuleNotFoundError:
        path = None
    if path is None or not path.is_file():
        raise FontMissing(
            f"the CJK font is not installed\n    hint: pip install {CJK_PACKAGE} (Noto Sans CJK, SIL OFL 1.1)"
        )
    return path


@cache
def _system_font(family: str) -> Path | None:
    """The file fontconfig gives for exactly `family`, or None (fontconfig absent, or only a substitute found)."""
    fc_match = shutil.which("fc-match")
    if fc_match is None:
        return None
    try:
        found = subprocess.run(
            [fc_match, "--format=%{family}\n%{file}", f"{family}:style=Regular"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    families, _, file = found.partition("\n")
    if family.lower() not in (name.strip().lower() for name in families.split(",")) or not file:
        return None
    return Path(file)


def chain(language: str) -> list[Face]:
    """The fonts that set `language`, in the order a character looks for a glyph (Latin system fonts that are
    missing are left out; the CJK font is always there, last)."""
    cjk = cjk_language(language)
    path = cjk_font_path()
    index = _FACE_INDEX[cjk or "zh-Hans"]
    faces = [Face(CJK_PUNCTUATION_FAMILY, path, index)] if cjk in _FULL_WIDTH_PUNCTUATION_LANGUAGES else []
    for family in LATIN_FAMILIES:
        system = _system_font(family)
        if system is not None:
            faces.append(Face(family, system))
    faces.append(Face(CJK_FAMILY, path, index))
    return faces


def font_files(language: str) -> list[Path]:
    """The font files of `language`'s chain, each once."""
    return list(dict.fromkeys(face.path for face in chain(language)))


def font_dirs() -> list[Path]:
    """The folders WeasyPrint's fetcher must allow for the @font-face rules of `font_face_css` to load."""
    return [cjk_font_path().parent]


def font_family_css(language: str) -> str:
    """The value of a CSS `font-family` property that sets `language` with its chain."""
    families = [CJK_PUNCTUATION_FAMILY] if cjk_language(language) in _FULL_WIDTH_PUNCTUATION_LANGUAGES else []
    families += [*LATIN_FAMILIES, CJK_FAMILY]
    return ", ".join([*(f'"{family}"' for family in families), GENERIC_FAMILY])


def font_face_css(language: str) -> str:
    """@font-face rules that load the CJK font by a file:// URL (the Latin fonts are the system's own).

    WeasyPrint copies the file for each rule and lets fontconfig read it; all faces of the collection get the
    family name, and the face used is the collection's first; the `lang` of the text selects the regional glyphs.
    """
    url = cjk_font_path().as_uri()
    rules = [_cjk_face_rule()]
    if cjk_language(language) in _FULL_WIDTH_PUNCTUATION_LANGUAGES:
        rules.insert(
            0,
            f'@font-face {{ font-family: "{CJK_PUNCTUATION_FAMILY}"; src: url("{url}"); '
            f"unicode-range: {CJK_PUNCTUATION_RANGE}; }}",
        )
    return "\n".join(rules) + "\n"


def _cjk_face_rule() -> str:
    """The @font-face rule that loads the whole CJK collection under `CJK_FAMILY`."""
    return f'@font-face {{ font-family: "{CJK_FAMILY}"; src: url("{cjk_font_path().as_uri()}"); }}'


@cache
def _coverage(path: Path, index: int) -> frozenset[int]:
    """The code points one face maps to a glyph (read once per face: the CJK collection takes a second).

    Kept in the cache folder by the font file's path, size and time, so that a build reads no font file (nor
    imports fontTools) for a face an earlier build read.
    """
    from generator.context import cache_root

    try:
        info = path.stat()
    except OSError:
        return _read_coverage(path, index)
    key = hashlib.sha256(repr((str(path), index, info.st_size, info.st_mtime_ns)).encode("utf-8")).hexdigest()
    kept = cache_root() / "fonts" / f"{key[:32]}.pickle"
    with contextlib.suppress(Exception):  # missing or damaged: read the font
        coverage = pickle.loads(kept.read_bytes())
        if isinstance(coverage, frozenset):
            return coverage
    coverage = _read_coverage(path, index)
    with contextlib.suppress(OSError):  # a read-only cache only costs speed
        kept.parent.mkdir(parents=True, exist_ok=True)
        temporary = kept.with_suffix(f".{os.getpid()}.tmp")
        temporary.write_bytes(pickle.dumps(coverage, protocol=pickle.HIGHEST_PROTOCOL))
        os.replace(temporary, kept)
    return coverage


def _read_coverage(path: Path, index: int) -> frozenset[int]:
    # Here, not at the top: a build whose text needs no font check should not pay for importing fontTools.
    from fontTools.ttLib import TTCollection, TTFont  # type: ignore[import-untyped]

    if path.suffix.lower() in (".ttc", ".otc"):
        font = TTCollection(str(path), lazy=True).fonts[index]
    else:
        font = TTFont(str(path), lazy=True, fontNumber=index)
    cmap = font.getBestCmap() or {}
    return frozenset(cmap)


def _ignorable(character: str) -> bool:
    """Whitespace and control or format characters: shaped or dropped, never drawn from a font's cmap."""
    return character.isspace() or unicodedata.category(character) in ("Cc", "Cf", "Zl", "Zp")


def uncovered(text: str, language: str) -> list[str]:
    """The characters of `text`, each once in order of first appearance, that no font of `language`'s chain has
    (nor any other font fontconfig knows, which WeasyPrint falls back to)."""
    if text.isascii():  # most notes: every font a PDF can fall back to has ASCII
        return []
    wanted = [character for character in dict.fromkeys(text) if not _ignorable(character)]
    if all(character < "\u0250" for character in wanted):  # Latin text: every chain's Latin font has it
        latin = [_coverage(face.path, face.index) for face in _latin_faces()]
        if latin and all(any(ord(character) in coverage for coverage in latin) for character in wanted):
            return []
    try:
        faces = chain(language)
    except FontMissing:
        faces = _latin_faces()
    coverages = [_coverage(face.path, face.index) for face in faces if face.family != CJK_PUNCTUATION_FAMILY]
    return [
        character
        for character in wanted
        if not any(ord(character) in coverage for coverage in coverages) and not _system_covers(character)
    ]


def _latin_faces() -> list[Face]:
    return [Face(family, path) for family in LATIN_FAMILIES if (path := _system_font(family)) is not None]


@cache
def _system_covers(character: str) -> bool:
    """Whether any font fontconfig knows has a glyph for `character` (Pango falls back to it)."""
    fc_list = shutil.which("fc-list")
    if fc_list is None:
        return False
    try:
        found = subprocess.run(
            [fc_list, f":charset={ord(character):x}", "family"], capture_output=True, text=True, timeout=10, check=True
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return False
    return bool(found.strip())


@dataclass(frozen=True)
class Plan:
    """What one deck's PDFs need beyond the system's Latin fonts: nothing, or the CJK font and its rules.

    A deck whose text the Latin fonts cover gets no @font-face rule at all (loading the 19 MB collection costs
    WeasyPrint seconds per document); any other deck gets the CJK font in every font stack.
    """

    language: str
    cjk: bool

    def css(self, stylesheet: str) -> str:
        """`stylesheet` with the CJK font loaded and placed before each generic family, when the deck needs it."""
        if not self.cjk:
            return stylesheet
        # Only the whole-collection family, placed last before the generic one: the templates name their Latin
        # fonts first. (The full-width punctuation family, appended after a Latin font, made Pango drop the CJK
        # family for whole runs of text: empty boxes. It only works first in a stack, as font_family_css puts it.)
        with_fallback = _GENERIC.sub(lambda found: f'"{CJK_FAMILY}", {found.group(0)}', stylesheet)
        return _cjk_face_rule() + "\n" + with_fallback

    def roots(self) -> list[Path]:
        """Folders the PDF engine must be allowed to load font files from."""
        return font_dirs() if self.cjk else []

    def fingerprint(self) -> str:
        """What identifies the fonts that draw this deck's PDFs, for cache keys: each file's path, size and time."""
        files = font_files(self.language) if self.cjk else [face.path for face in _latin_faces()]
        stats = [(str(path), path.stat().st_size, int(path.stat().st_mtime)) for path in files if path.exists()]
        return repr((self.language, self.cjk, stats))


_GENERIC = re.compile(r"(?<![\w-])(?:sans-serif|serif|monospace)(?![\w-])")
# A character from U+0250 on, past Latin Extended-B: one the Latin fonts may lack. The deck's whole text is
# megabytes at 1,000 notes; the regex finds these few in C, where a set of every character of it took 25 ms.
_BEYOND_LATIN = re.compile("[^\x00-\u024f]")


def plan(text: str, language: str) -> Plan:
    """The fonts a deck needs: the CJK font when its language is CJK or its text has characters Latin fonts lack."""
    if cjk_language(language) is not None:
        return Plan(language, cjk=_installed())
    # Only when there is such a character are the Latin fonts looked up (fc-match, in a process each) and read.
    beyond = [] if text.isascii() else [c for c in set(_BEYOND_LATIN.findall(text)) if not _ignorable(c)]
    if not beyond:
        return Plan(language, cjk=False)
    latin = [_coverage(face.path, face.index) for face in _latin_faces()]
    needs = any(not any(ord(character) in coverage for coverage in latin) for character in beyond)
    return Plan(language, cjk=needs and _installed())


def _installed() -> bool:
    try:
        cjk_font_path()
    except FontMissing:
        return False
    return True


# The characters a page's web font is for: the scripts and punctuation of Chinese, Japanese and Korean (Hangul Jamo,
# CJK radicals, CJK symbols and punctuation, kana, Bopomofo, Hangul compatibility jamo, enclosed CJK, extension A,
# the unified ideographs, Hangul syllables, compatibility ideographs, the vertical and compatibility forms, the
# full- and half-width forms, and the ideographs of planes 2 and 3). Other characters beyond Latin (Greek, arrows,
# math signs) are left to the device's fonts, as on an English page.
_CJK_CHARACTER = re.compile(
    "[\u1100-\u11ff\u2e80-\u2fff\u3000-\u9fff\ua960-\ua97f\uac00-\ud7ff\uf900-\ufaff"
    "\ufe10-\ufe1f\ufe30-\ufe4f\uff00-\uffef\U00020000-\U0003ffff]"
)
# Bumped when how a web font is cut changes (the options below), so that a subset cut before is not taken for one now.
_WEB_FONT_FORMAT = 1
# OpenType features a page never asks for: vertical writing (the page is set horizontally), and the regional forms
# (`locl`): the face is the deck's region already, and following `locl` into the other regions' forms doubles the
# font's glyphs.
_UNUSED_FEATURES = frozenset({"locl", "vert", "vrt2", "vkrn", "vpal", "vhal", "vchw", "valt"})


def cjk_code_points(texts: Iterable[str]) -> tuple[int, ...]:
    """The CJK characters of `texts`, as sorted code points, each once.

    >>> cjk_code_points(["批归一化 (BN)", "一，二"])
    (19968, 20108, 21270, 24402, 25209, 65292)
    """
    found: set[str] = set()
    for text in texts:
        if not text.isascii():
            found.update(_CJK_CHARACTER.findall(text))
    return tuple(sorted(map(ord, found)))


@dataclass(frozen=True)
class WebFont:
    """The CJK font a study page carries: one regional face of the collection, cut to the page's CJK characters."""

    language: str  # the CJK writing system whose face this is: zh-Hans, zh-Hant, zh-HK, ja or ko
    code_points: tuple[int, ...]
    woff2: bytes

    def face_rule(self) -> str:
        """The @font-face rule that loads the font from the page itself (a data: URL; nothing is fetched)."""
        data = base64.b64encode(self.woff2).decode("ascii")
        return f'@font-face {{ font-family: "{CJK_FAMILY}"; src: url(data:font/woff2;base64,{data}) format("woff2"); }}'

    def load_script(self) -> str:
        """A script for the page's <head> that loads the font before the page is first laid out.

        Chromium (156) loads a web font that is not first in its stack only when it lays out a character that no font
        before it has; the text laid out then keeps the empty boxes it got, even once the font is there (the page's
        title, the first entry of the contents and the first heading of each size stayed boxes). Asked for from the
        <head>, the font is loaded before any text is laid out. A browser without the Font Loading API, or without
        scripts, still finds the font as the stack's fallback, as the CSS says.
        """
        return f"if (document.fonts) document.fonts.load('1em \"{CJK_FAMILY}\"').catch(function () {{}});"

    def css(self, stylesheet: str) -> str:
        """`stylesheet` with the font loaded and named in every font stack, just before the generic family.

        Last but the generic, as in the PDFs: the stacks' own fonts (Latin ones, and any CJK font the device has)
        draw what they have as they did, and the embedded face draws only what none of them has.
        """
        with_fallback = _GENERIC.sub(lambda found: f'"{CJK_FAMILY}", {found.group(0)}', stylesheet)
        return self.face_rule() + "\n" + with_fallback


def web_font(texts: Iterable[str], language: str, cache_dir: Path) -> WebFont | None:
    """The font a page made of `texts` needs for its CJK characters, or None when it has none.

    The face is the one of the deck's `language`; a deck in another language that quotes a few CJK characters
    gets the Simplified Chinese face, as its PDFs do. `FontMissing` when the collection is not installed.
    """
    code_points = cjk_code_points(texts)
    if not code_points:  # no font file is looked at, nor fontTools imported
        return None
    region = cjk_language(language) or "zh-Hans"
    woff2 = _web_subset(cjk_font_path(), _FACE_INDEX[region], code_points, cache_dir)
    return WebFont(region, code_points, woff2)


def _web_subset(path: Path, index: int, code_points: tuple[int, ...], cache_dir: Path) -> bytes:
    """Face `index` of the collection at `path`, cut to `code_points`, as WOFF2: from the cache folder when this
    same cut was made before (reading the collection and cutting takes a second or two), else made and kept.

    The file's name is the hash of all that makes its bytes: the collection (path, size, time), the face, the code
    points, the versions of fontTools and Brotli (the WOFF2 compressor), and `_WEB_FONT_FORMAT`.
    """
    import brotli  # type: ignore[import-untyped]
    import fontTools  # type: ignore[import-untyped]

    info = path.stat()
    identity = (
        _WEB_FONT_FORMAT,
        str(path),
        info.st_size,
        info.st_mtime_ns,
        index,
        fontTools.version,
        brotli.__version__,
        code_points,
    )
    key = hashlib.sha256(repr(identity).encode("utf-8")).hexdigest()
    kept = cache_dir / "fonts" / f"{key[:32]}.woff2"
    with contextlib.suppress(OSError):  # missing: cut it
        woff2 = kept.read_bytes()
        if woff2.startswith(b"wOF2"):  # written whole (renamed into place), so a file there is a whole font
            return woff2
    woff2 = _cut(path, index, code_points)
    with contextlib.suppress(OSError):  # a read-only cache only costs speed
        kept.parent.mkdir(parents=True, exist_ok=True)
        temporary = kept.with_suffix(f".{os.getpid()}.tmp")
        temporary.write_bytes(woff2)
        os.replace(temporary, kept)
    return woff2


def _cut(path: Path, index: int, code_points: tuple[int, ...]) -> bytes:
    import io

    from fontTools import subset
    from fontTools.ttLib import TTCollection, TTFont

    if path.suffix.lower() in (".ttc", ".otc"):
        font = TTCollection(str(path), lazy=True).fonts[index]
    else:
        font = TTFont(str(path), lazy=True, fontNumber=index)
    options = subset.Options()
    options.layout_features = [feature for feature in options.layout_features if feature not in _UNUSED_FEATURES]
    # CFF subroutines undone: Brotli compresses the plain charstrings better than the shared subroutines (4 % here).
    options.desubroutinize = True
    subsetter = subset.Subsetter(options)
    subsetter.populate(unicodes=code_points)
    # fontTools logs at INFO and WARNING what it leaves out (a code point the face lacks: the reader has reported it
    # already, if no font has it); that is no news for the user.
    subset_log = logging.getLogger("fontTools.subset")
    level = subset_log.level
    subset_log.setLevel(logging.ERROR)
    try:
        subsetter.subset(font)
    finally:
        subset_log.setLevel(level)
    font.flavor = "woff2"
    # The same bytes on every build: `head.modified` stays the collection's own instead of becoming today's.
    font.recalcTimestamp = False
    out = io.BytesIO()
    font.save(out)
    return out.getvalue()
