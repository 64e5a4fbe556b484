"""The offline study page: one self-contained HTML file, math as SVG, images as data URIs."""

from __future__ import annotations

from pathlib import Path

from generator import fragments, templating
from generator.model import Deck, Note


def _self_contained(fragment: str, note: Note) -> str:
    with_images = fragments.rewrite_images(fragment, lambda src: fragments.data_uri(note.path.parent / src))
    return fragments.svg_math(with_images)


def html_of(deck: Deck, templates_dir: Path) -> str:
    env = templating.environment(templates_dir)
    notes = [
        {
            "id": note.id,
            "number": note.number,
            "question": note.question,
            "tags": note.tags,
            "key_points": _self_contained(note.key_points_html, note),
            "answer": _self_contained(note.answer_html, note),
        }
        for note in deck.notes
    ]
    tags = sorted({tag for note in deck.notes for tag in note.tags})
    code_css = fragments.code_css([":root.dark"]) + "\n@media (prefers-color-scheme: dark) {\n"
    code_css += fragments.code_css([":root:not(.light)"]).split("\n", 1)[1] + "\n}\n"
    return templating.render(
        env,
        "page.html.j2",
        deck=deck,
        notes=notes,
        tags=tags,
        css=templating.read(templates_dir, "page.css") + "\n" + code_css,
        script=templating.read(templates_dir, "page.js"),
    )


def write(deck: Deck, target: Path, templates_dir: Path) -> None:
    target.write_text(html_of(deck, templates_dir), encoding="utf-8")
