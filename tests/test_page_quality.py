"""The study page is valid HTML (W3C Nu checker), accessible (axe-core) in both colour schemes, and fits a phone.

The checkers come from the npm registry, pinned in tools/package.json: `npm ci --prefix tools`
(.ci/run does it) puts them in tools/node_modules. Without them, or without java or chromium,
these tests are skipped with the reason.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.browser import DESKTOP, SharedTab, needs_chromium
from tests.conftest import Background

ROOT = Path(__file__).resolve().parent.parent
NODE_MODULES = ROOT / "tools" / "node_modules"
VNU_JAR = NODE_MODULES / "vnu-jar" / "build" / "dist" / "vnu.jar"
AXE_JS = NODE_MODULES / "axe-core" / "axe.min.js"
JAVA = shutil.which("java")
ARTIFACTS = ROOT / "tests" / "artifacts" / "page"
PHONE_WIDTH = 390
PHONE = {"width": PHONE_WIDTH, "height": 844}

needs_vnu = pytest.mark.skipif(
    JAVA is None or not VNU_JAR.is_file(),
    reason="the Nu HTML checker needs java and tools/node_modules/vnu-jar (run: npm ci --prefix tools)",
)
needs_axe = pytest.mark.skipif(
    not AXE_JS.is_file(), reason="axe-core is not installed in tools/node_modules (run: npm ci --prefix tools)"
)


def run_vnu(page: Path) -> tuple[int, str, str] | None:
    """The Nu checker on `page` (a second or more of Java): its exit code, stdout and stderr; None without it."""
    if JAVA is None or not VNU_JAR.is_file():
        return None
    run = subprocess.run(
        # -Xss: the checker needs a 512 KB thread stack at least, and says so on stderr only, having checked less
        # (a StackOverflowError "while evaluating HTML schema"). The JIT's first tier only: a run this short spends
        # most of its CPU compiling (4.4 s of CPU with both tiers, 2.1 s with the first).
        [
            JAVA,
            "-Xss8m",
            "-XX:TieredStopAtLevel=1",
            "-jar",
            str(VNU_JAR),
            "--errors-only",
            "--format",
            "json",
            str(page),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    return run.returncode, run.stdout, run.stderr


@needs_vnu
def test_nu_html_checker_finds_no_error(outputs: dict[str, Path], background: Background) -> None:
    # The session's build started the checker on the background process as soon as it wrote the page.
    result = background.result("tests.test_page_quality:run_vnu", outputs["html"])
    assert result is not None
    returncode, stdout, stderr = result
    assert "Error while" not in stderr and "StackOverflowError" not in stderr, stderr[-2000:]  # it checked it all
    # vnu writes its report to stderr and exits 1 when it found an error.
    report = json.loads(stderr or stdout)
    errors = [
        f"line {m.get('lastLine', '?')}: {m['message']} [{m.get('extract', '')[:120]!r}]"
        for m in report["messages"]
        if m["type"] in ("error", "non-document-error")
    ]
    assert errors == [], "\n".join(errors)
    assert returncode == 0, stderr[-2000:]


def _describe(violations: list[dict[str, Any]]) -> str:
    lines = []
    for violation in violations:
        lines.append(f"{violation['impact']}: {violation['id']}: {violation['help']} ({len(violation['nodes'])} nodes)")
        for node in violation["nodes"][:5]:
            summary = " ".join(node.get("failureSummary", "").split())
            lines.append(f"    {node['target']}: {summary[:300]}")
    return "\n".join(lines)


SCHEMES = ("light", "dark")
VIEWPORTS = {"desktop": DESKTOP, "phone": PHONE}


# What the dark scheme may change: colours. Then only axe's colour rules can tell the two schemes apart, and
# the dark scheme is checked with those alone (a full axe run takes about 6 s on this page).
COLOUR_RULES = ["color-contrast", "link-in-text-block"]
_DARK_BLOCK = re.compile(r"@media[^{]*prefers-color-scheme:\s*dark[^{]*\{((?:[^{}]*\{[^{}]*\})*)[^{}]*\}")
# (The dark code style also makes some tokens bold or italic: only the contrast rule reads the weight.)
_COLOUR_PROPERTY = re.compile(
    r"(--[\w-]+|color|background(-color)?|border(-\w+)?-color|fill|stroke|filter|font-style|font-weight)$"
)


def dark_scheme_declarations(page: str) -> list[tuple[str, str]]:
    """Every (property, value) the page's dark-scheme media blocks set."""
    found: list[tuple[str, str]] = []
    for block in _DARK_BLOCK.finditer(page):
        for rules in re.findall(r"\{([^{}]*)\}", block.group(1)):
            for declaration in filter(str.strip, rules.split(";")):
                name, _, value = declaration.partition(":")
                found.append((name.strip(), value.strip()))
    return found


def test_the_dark_scheme_changes_colours_only(outputs: dict[str, Path]) -> None:
    declarations = dark_scheme_declarations(outputs["html"].read_text(encoding="utf-8"))
    assert len(declarations) > 10, "the page's dark-scheme rules were not found"
    others = [(name, value) for name, value in declarations if not _COLOUR_PROPERTY.match(name)]
    assert others == [], f"the dark scheme changes more than colours, so run every axe rule in it too: {others}"
    custom = [(name, value) for name, value in declarations if name.startswith("--")]
    assert all(re.fullmatch(r"#[0-9a-fA-F]{3,8}", value) for _, value in custom), custom


_OVERFLOWING = """limit => Array.from(document.querySelectorAll('body *'))
    .filter(e => e.getBoundingClientRect().right > limit + 1)
    .filter(e => { for (let a = e.parentElement; a && a !== document.body; a = a.parentElement) {
        if (getComputedStyle(a).overflowX !== 'visible') return false; } return true; })
    .slice(0, 10).map(e => e.outerHTML.slice(0, 160))"""


@dataclass(frozen=True)
class View:
    """What the checks below read of the page in one colour scheme and viewport."""

    width: int  # the document's scroll width, px
    overflowing: list[str]  # the start of each element (up to ten) that sticks out of the viewport
    code_blocks: list[tuple[bool, str | None]]  # for each code block: whether it scrolls, and its tabindex
    screenshot: Path
    axe: dict[str, Any] | None  # axe's result (None without axe-core)


@pytest.fixture(scope="module")
def views(_shared_tab: SharedTab, outputs: dict[str, Path]) -> dict[tuple[str, str], View]:
    """The page opened in each colour scheme and viewport in turn, in the worker's one tab, and read: a load of
    the page costs more than most checks, and a new tab more than a load.

    axe: light, every rule; dark, the colour rules (test_the_dark_scheme_changes_colours_only says why that is
    enough). The screenshot is taken first, since axe's contrast check scrolls to what it looks at.
    """
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    found = {}
    for scheme in SCHEMES:
        for name, viewport in VIEWPORTS.items():
            tab = _shared_tab.open(outputs["html"].as_uri(), viewport, scheme)
            screenshot = ARTIFACTS / f"page-{scheme}-{viewport['width']}.png"
            tab.screenshot(path=str(screenshot))
            width = tab.evaluate("document.documentElement.scrollWidth")
            overflowing = tab.evaluate(_OVERFLOWING, viewport["width"])
            code_blocks = tab.eval_on_selector_all(
                ".highlight", "els => els.map(e => [e.scrollWidth > e.clientWidth + 1, e.getAttribute('tabindex')])"
            )
            axe = None
            if AXE_JS.is_file():
                tab.add_script_tag(path=str(AXE_JS))
                options: dict[str, Any] = {"resultTypes": ["violations"]}
                if scheme == "dark":
                    options["runOnly"] = {"type": "rule", "values": COLOUR_RULES}
                axe = tab.evaluate("async options => await axe.run(document, options)", options)
            found[scheme, name] = View(width, overflowing, [tuple(block) for block in code_blocks], screenshot, axe)
    _shared_tab.leave()
    return found


@needs_chromium
@needs_axe
@pytest.mark.parametrize("viewport", list(VIEWPORTS))
@pytest.mark.parametrize("scheme", SCHEMES)
def test_axe_finds_no_serious_violation(views: dict[tuple[str, str], View], scheme: str, viewport: str) -> None:
    result = views[scheme, viewport].axe
    assert result is not None
    ran = {
        rule["id"] for kind in ("violations", "passes", "incomplete", "inapplicable") for rule in result.get(kind, [])
    }
    assert "color-contrast" in ran, f"axe did not check the contrast in {scheme} mode"
    assert scheme == "dark" or len(ran) > 40, f"every rule runs in {scheme} mode: {sorted(ran)}"
    serious = [v for v in result["violations"] if v["impact"] in ("serious", "critical")]
    assert serious == [], f"axe in {scheme} mode at {VIEWPORTS[viewport]['width']} px:\n" + _describe(serious)


@needs_chromium
@pytest.mark.parametrize("scheme", SCHEMES)
def test_no_horizontal_overflow_on_a_phone(views: dict[tuple[str, str], View], scheme: str) -> None:
    view = views[scheme, "phone"]
    assert view.width <= PHONE_WIDTH, (
        f"page is {view.width} px wide on a {PHONE_WIDTH} px phone; too wide: {view.overflowing}"
    )


@needs_chromium
def test_contents_start_closed_on_a_phone_and_open_on_a_desktop(tab: SharedTab, outputs: dict[str, Path]) -> None:
    page = tab.open(outputs["html"].as_uri(), PHONE)
    assert not page.is_visible('.toc a[href="#q51"]')
    first_question = page.eval_on_selector("#q51", "e => e.getBoundingClientRect().top")
    assert first_question < PHONE["height"], "the first question is not on the phone's first screen"
    page.click(".toc-toggle")
    assert page.is_visible('.toc a[href="#q65"]')
    page.click('.toc a[href="#q60"]')
    assert page.evaluate("location.hash") == "#q60"
    assert 0 <= page.eval_on_selector("#q60", "e => e.getBoundingClientRect().top") < PHONE["height"] / 2
    page.set_viewport_size(DESKTOP)
    page.wait_for_function("document.getElementById('toc-box').open")
    assert page.is_visible('.toc a[href="#q51"]') and not page.is_visible(".toc-toggle")


@needs_chromium
def test_a_code_block_that_scrolls_takes_keyboard_focus(views: dict[tuple[str, str], View]) -> None:
    state = views["light", "phone"].code_blocks
    assert any(scrolls for scrolls, _ in state), "expected some code to be wider than a phone"
    assert all((tabindex == "0") == scrolls for scrolls, tabindex in state), state


@needs_chromium
@pytest.mark.parametrize("viewport", list(VIEWPORTS))
@pytest.mark.parametrize("scheme", SCHEMES)
def test_screenshot(views: dict[tuple[str, str], View], scheme: str, viewport: str) -> None:
    """A picture for a person to look at, saved under tests/artifacts/page/ (git-ignored)."""
    assert views[scheme, viewport].screenshot.stat().st_size > 10_000
