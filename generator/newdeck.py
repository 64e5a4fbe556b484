"""`studykit init [DIR]`: a project folder that builds at once.

DIR/content/deck.yaml (a fresh deck id, title, slug, language, licence, author, credit), one example note
in DIR/content/ and DIR/.gitignore holding `build/`: the layout `studykit build`, `check` and `new` expect
by default when run from DIR.
"""

from __future__ import annotations

import getpass
import re
import secrets
from dataclasses import dataclass
from pathlib import Path

import yaml

from generator import messages
from generator.errors import StudykitError
from generator.reader import DECK_FILE, SLUG
from generator.scaffold import slug_of

CONTENT = "content"
EXAMPLE_NOTE = "01-softmax.md"
GITIGNORE_LINE = "build/"


class DeckExistsError(StudykitError):
    """The folder already holds a deck."""


class BadDeckSettingError(StudykitError):
    """A setting given to `studykit init` would make an invalid deck.yaml."""


@dataclass(frozen=True)
class Settings:
    title: str
    slug: str
    language: str
    license: str
    author: str


def defaults(folder: Path) -> Settings:
    """What `init` uses for anything not given: names taken from the folder and the user."""
    name = re.sub(r"[-_]+", " ", folder.resolve().name).strip() or "My deck"
    title = name[:1].upper() + name[1:]
    try:
        author = getpass.getuser()
    except (OSError, KeyError):  # no user name in the environment or the password database
        author = "unknown"
    return Settings(title=title, slug=slug_of(title), language="en", license="CC BY 4.0", author=author)


def init(folder: Path, settings: Settings) -> list[Path]:
    """Write the deck file, the example note and .gitignore; return what was written."""
    content = folder / CONTENT
    for existing in (content / DECK_FILE, folder / DECK_FILE):
        if existing.exists():
            raise DeckExistsError(
                f"{existing}: a deck is already here; studykit init starts a new one\n"
                "    hint: add notes with `studykit new`, or choose another folder"
            )
    if not SLUG.match(settings.slug):
        raise BadDeckSettingError(f"--slug {settings.slug!r}: use lowercase letters, digits and dashes")
    for name in ("title", "language", "license", "author"):
        if not getattr(settings, name).strip():
            raise BadDeckSettingError(f"--{name} is empty")
    try:
        content.mkdir(parents=True, exist_ok=True)
        written = [_write_deck(content, settings)]
        if not any(content.glob("*.md")):
            example = content / EXAMPLE_NOTE
            example.write_text(_example(settings.language).replace("ID", secrets.token_hex(6)), encoding="utf-8")
            written.append(example)
        written.append(_ignore_build(folder))
    except OSError as error:
        raise StudykitError(f"{error.filename or folder}: cannot write: {error.strerror}") from error
    return written


def _write_deck(content: Path, settings: Settings) -> Path:
    data = {
        "title": settings.title,
        "slug": settings.slug,
        # Anki recognises the deck by its id: picked at random once, never changed.
        "id": secrets.randbelow((1 << 62) - (1 << 30)) + (1 << 30),
        "language": settings.language,
        "author": settings.author,
        "license": settings.license,
        "source_url": "none (original work)",
        "credit": f"{settings.title}, by {settings.author}, {settings.license}.",
    }
    path = content / DECK_FILE
    header = "# The deck: keep `id` as it is (Anki recognises the deck by it); the credit is printed in every output.\n"
    path.write_text(header + yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=1000), encoding="utf-8")
    return path


def _ignore_build(folder: Path) -> Path:
    """Add `build/` to .gitignore, keeping whatever it already holds."""
    path = folder / ".gitignore"
    existing = path.read_text(encoding="utf-8") if path.exists() else ""
    if GITIGNORE_LINE not in existing.split("\n"):
        separator = "" if not existing or existing.endswith("\n") else "\n"
        path.write_text(f"{existing}{separator}{GITIGNORE_LINE}\n", encoding="utf-8")
    return path


_EXAMPLE = r"""---
id: ID
number: 1
question: What does the softmax function compute, and why subtract the maximum first?
tags: [example]
---

## Key points

- Softmax turns scores $z_1, \dots, z_K$ into probabilities that are positive and sum to 1.
- $\sigma(z)_i = e^{z_i} / \sum_j e^{z_j}$: the largest score gets the largest share.
- Subtracting $\max_j z_j$ from every score changes nothing but keeps $e^{z}$ from overflowing.

## Full answer

For a vector of $K$ scores (logits), softmax is

$$
\sigma(z)_i = \frac{e^{z_i}}{\sum_{j=1}^{K} e^{z_j}}, \qquad i = 1, \dots, K.
$$

Every output is positive and they add up to 1, so they can be read as class probabilities.

### Why subtract the maximum

Adding the same constant $c$ to every score does not change the result, because $e^{c}$ cancels:
$\sigma(z + c)_i = \sigma(z)_i$. With $c = -\max_j z_j$ the largest exponent is $e^0 = 1$, so nothing
overflows, however large the scores are.

This note is an example written by `studykit init`: edit it, or delete it once the deck has notes of its own.
"""

# The same example for a deck in Chinese, in its own words and with its section titles (notefile.SECTION_TITLES).
_EXAMPLE_SIMPLIFIED = r"""---
id: ID
number: 1
question: softmax 函数计算的是什么？为什么要先减去最大值？
tags: [示例]
---

## 要点

- softmax 把一组分数 $z_1, \dots, z_K$ 变成一组概率：每个都为正，总和为 1。
- $\sigma(z)_i = e^{z_i} / \sum_j e^{z_j}$：分数越大，分到的概率越大。
- 每个分数都减去 $\max_j z_j$ 不改变结果，却能防止 $e^{z}$ 溢出。

## 完整解答

对 $K$ 个分数（logits）组成的向量，softmax 定义为

$$
\sigma(z)_i = \frac{e^{z_i}}{\sum_{j=1}^{K} e^{z_j}}, \qquad i = 1, \dots, K.
$$

每个输出都为正，加起来等于 1，所以可以当作各个类别的概率来读。

### 为什么要减去最大值

给所有分数加上同一个常数 $c$ 不改变结果，因为 $e^{c}$ 在分子和分母中约掉了：
$\sigma(z + c)_i = \sigma(z)_i$。取 $c = -\max_j z_j$，最大的指数就是 $e^0 = 1$，
无论分数多大都不会溢出。

这条笔记是 `studykit init` 写的示例：可以修改它，也可以在牌组有了自己的笔记后删掉它。
"""

_EXAMPLE_TRADITIONAL = r"""---
id: ID
number: 1
question: softmax 函數計算的是什麼？為什麼要先減去最大值？
tags: [範例]
---

## 要點

- softmax 把一組分數 $z_1, \dots, z_K$ 變成一組機率：每個都為正，總和為 1。
- $\sigma(z)_i = e^{z_i} / \sum_j e^{z_j}$：分數越大，分到的機率越大。
- 每個分數都減去 $\max_j z_j$ 不改變結果，卻能防止 $e^{z}$ 溢位。

## 完整解答

對 $K$ 個分數（logits）組成的向量，softmax 定義為

$$
\sigma(z)_i = \frac{e^{z_i}}{\sum_{j=1}^{K} e^{z_j}}, \qquad i = 1, \dots, K.
$$

每個輸出都為正，加起來等於 1，所以可以當作各個類別的機率來讀。

### 為什麼要減去最大值

給所有分數加上同一個常數 $c$ 不改變結果，因為 $e^{c}$ 在分子和分母中約掉了：
$\sigma(z + c)_i = \sigma(z)_i$。取 $c = -\max_j z_j$，最大的指數就是 $e^0 = 1$，
無論分數多大都不會溢位。

這條筆記是 `studykit init` 寫的範例：可以修改它，也可以在牌組有了自己的筆記後刪掉它。
"""


def _example(language_tag: str) -> str:
    """The example note in the deck's language where studykit has one (Chinese), else in English."""
    words = messages.for_tag(language_tag)  # a tag `check` will report: English, readable
    return {"zh-Hans": _EXAMPLE_SIMPLIFIED, "zh-Hant": _EXAMPLE_TRADITIONAL}.get(words.language, _EXAMPLE)
