"""Document languages: BCP 47 tags, as `deck.yaml` and a note's front matter give them.

The tag sets each output's language (the PDFs' /Lang, the page's and the cards' `lang`), which is
what a screen reader, a hyphenator and a font fallback read; so it must be a real tag, not a name.
"""

from __future__ import annotations

import re

# Well-formed per BCP 47 (RFC 5646) for what notes use: language, optional script, region and variants.
_TAG = re.compile(
    r"^(?P<language>[a-z]{2,3})(?:-(?P<script>[a-z]{4}))?(?:-(?P<region>[a-z]{2}|\d{3}))?(?:-(?:[a-z\d]{5,8}|\d[a-z\d]{3}))*$",
    re.IGNORECASE,
)
# What people write instead of a tag, and the tag they mean.
_NAMES = {
    "english": "en",
    "chinese": "zh-Hans",
    "simplified chinese": "zh-Hans",
    "traditional chinese": "zh-Hant",
    "mandarin": "zh-Hans",
    "中文": "zh-Hans",
    "简体中文": "zh-Hans",
    "繁體中文": "zh-Hant",
    "japanese": "ja",
    "日本語": "ja",
    "korean": "ko",
    "한국어": "ko",
    "german": "de",
    "french": "fr",
    "spanish": "es",
    "russian": "ru",
}


def problem(value: object) -> tuple[str, str] | None:
    """Why `value` is not a usable language tag, and what to write instead; None when it is one."""
    if isinstance(value, str) and _TAG.match(value.strip()):
        return None
    shown = value if isinstance(value, str) else repr(value)
    suggestion = _NAMES.get(str(value).strip().lower()) if isinstance(value, str) else None
    hint = f"write `language: {suggestion}`" if suggestion else "e.g. en, zh-Hans (simplified Chinese), zh-Hant, ja, ko"
    return f"`language: {shown}` is not a BCP 47 language tag", hint


def canonical(tag: str) -> str:
    """The tag in its usual case: language lower, script title, region upper (zh-hans-cn → zh-Hans-CN)."""
    found = _TAG.match(tag.strip())
    if not found:
        return tag
    parts = tag.strip().split("-")
    shaped = [parts[0].lower()]
    for part in parts[1:]:
        if len(part) == 4 and part.isalpha():
            shaped.append(part.title())
        elif (len(part) == 2 and part.isalpha()) or (len(part) == 3 and part.isdigit()):
            shaped.append(part.upper())
        else:
            shaped.append(part.lower())
    return "-".join(shaped)
