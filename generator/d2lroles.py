"""The roles of Dive into Deep Learning (d2l.ai, zh.d2l.ai) in notes copied from it, made plain Markdown.

d2l's Markdown carries Sphinx-like roles that its own build turns into numbers and links: `:label:`sec_x`` after a
heading or a figure, `:eqlabel:`eq_x`` after a display formula, `:numref:`fig_x`` and `:eqref:`eq_x`` to refer to
them, `:cite:`Key.2020`` for the bibliography, `:width:`400px`` under an image, and `:begin_tab:`pytorch`` …
`:end_tab:` around each framework's version of the code. Copied into a note they printed as they are written (and
`$$ … $$ :eqlabel:` made the formula's dollars look unclosed). A deck has none of d2l's numbers, so:

- `:label:`, `:eqlabel:`, `:width:` and `:height:` are dropped (what they name stays where it is);
- `:numref:`x`` and `:eqref:`x`` become the label as inline code (`` `x` ``, in parentheses for an equation): the
  reader sees what the book refers to, and can search the book for it;
- `:cite:`A,B`` becomes `[A, B]`;
- `:begin_tab:`pytorch`` becomes a line `**pytorch**` over that framework's code, `:end_tab:` an empty line.

A Python-Markdown preprocessor below the fenced-code stash (code is never touched) and above the math delimiters,
which then see `$$ … $$` alone. Every line keeps its number: an error later in the note still names its line.
"""

from __future__ import annotations

import re

from markdown import Markdown
from markdown.extensions import Extension
from markdown.preprocessors import Preprocessor

# Below the fenced-code stash (25), above Obsidian's forms (23) and the math delimiters (22).
PRIORITY = 24
# A role, or an inline code span (left as it is), whichever comes first on the line.
_ROLE_OR_CODE = re.compile(
    r"(?P<space>[ \t]*):(?P<role>label|eqlabel|width|height|numref|eqref|ref|cite|citet|citep):`(?P<value>[^`\n]*)`"
    r"|(?P<code>(?P<ticks>`+).*?(?P=ticks))"
)
_BEGIN_TAB = re.compile(r"^(?P<indent>\s*):begin_tab:`(?P<name>[^`\n]*)`\s*$")
_END_TAB = re.compile(r"^\s*:end_tab:\s*$")


class D2lRoles(Extension):
    def extendMarkdown(self, md: Markdown) -> None:
        md.preprocessors.register(RolePreprocessor(md), "studykit_d2l_roles", PRIORITY)


class RolePreprocessor(Preprocessor):
    def run(self, lines: list[str]) -> list[str]:
        return [plain_line(line) for line in lines]


def plain_line(line: str) -> str:
    """One line with d2l's roles made plain Markdown (see the module's doc); inline code untouched."""
    if ":" not in line:
        return line
    if _END_TAB.match(line):
        return ""
    if "`" not in line:
        return line
    if (tab := _BEGIN_TAB.match(line)) is not None:
        return f"{tab['indent']}**{tab['name']}**"
    return _ROLE_OR_CODE.sub(_plain, line)


def _plain(found: re.Match[str]) -> str:
    if found["code"] is not None:
        return found.group(0)
    role, value, space = found["role"], found["value"].strip(), found["space"]
    if role in ("label", "eqlabel", "width", "height"):
        return ""
    if role == "eqref":
        return f"{space}(`{value}`)"
    if role in ("numref", "ref"):
        return f"{space}`{value}`"
    return f"{space}[{', '.join(key.strip() for key in value.split(','))}]"
