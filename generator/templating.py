"""The Jinja2 environment every writer renders its markup with."""

from __future__ import annotations

import io
from pathlib import Path
from typing import TextIO

import jinja2
from markupsafe import Markup

from generator.errors import StudykitError

# Installed from a wheel, the templates are the data package generator/templates; in a checkout of the
# repository they are the top-level templates/ folder beside generator/.
_PACKAGED_TEMPLATES = Path(__file__).resolve().parent / "templates"
TEMPLATES_DIR = _PACKAGED_TEMPLATES if _PACKAGED_TEMPLATES.is_dir() else _PACKAGED_TEMPLATES.parent.parent / "templates"


class TemplateError(StudykitError):
    """A template is missing or broken; the message names the template file and line."""


def css_string(text: str) -> Markup:
    """Text as a CSS string literal: quoted, with quotes, backslashes and line breaks escaped."""
    escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\a ").replace("<", "\\3c ")
    return Markup(f'"{escaped}"')


def environment(templates_dir: Path = TEMPLATES_DIR, *overrides: Path) -> jinja2.Environment:
    """Templates from `templates_dir`, each replaced by a file of the same name in the first of `overrides`."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader([*overrides, templates_dir]),
        undefined=jinja2.StrictUndefined,
        autoescape=jinja2.select_autoescape(["html", "j2"]),
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["css_string"] = css_string
    return env


def render(env: jinja2.Environment, name: str, **context: object) -> str:
    out = io.StringIO()
    stream(env, name, out, **context)
    return out.getvalue()


def stream(env: jinja2.Environment, name: str, out: TextIO, **context: object) -> None:
    """Render template `name` into `out` piece by piece, never holding the whole output."""
    try:
        for piece in env.get_template(name).generate(**context):
            out.write(piece)
    except jinja2.TemplateSyntaxError as error:
        raise TemplateError(f"{error.filename or name}:{error.lineno}: template error: {error.message}") from error
    except jinja2.TemplateNotFound as error:
        raise TemplateError(f"template not found: {error.name}") from error
    except jinja2.UndefinedError as error:
        raise TemplateError(f"{name}: {error.message}") from error


def read(templates_dir: Path, name: str, *overrides: Path) -> str:
    """A template or stylesheet's text, from the first of `overrides` that has it, else from `templates_dir`."""
    path = next((folder / name for folder in overrides if (folder / name).is_file()), templates_dir / name)
    try:
        return path.read_text(encoding="utf-8")
    except OSError as error:
        raise TemplateError(f"{path}: cannot read template: {error.strerror}") from error
