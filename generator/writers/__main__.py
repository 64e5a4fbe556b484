"""`python -m generator.writers README.md`: rewrite the README's output table from the registry.

The table sits between `<!-- outputs -->` and `<!-- /outputs -->`; a test checks that the README's
copy is the registry's, so a new writer shows up in the README by running this once.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

from generator.writers import table

_TABLE = re.compile(r"(<!-- outputs -->\n)(?:.*?\n)?(<!-- /outputs -->)", re.DOTALL)


def main(readme: Path) -> None:
    text = readme.read_text(encoding="utf-8")
    if not _TABLE.search(text):
        sys.exit(f"{readme}: no <!-- outputs --> … <!-- /outputs --> markers to put the table between")
    rewritten = _TABLE.sub(lambda found: found.group(1) + table() + "\n" + found.group(2), text)
    readme.write_text(rewritten, encoding="utf-8")


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "README.md"))
