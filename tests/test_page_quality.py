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
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.browser import needs_chromium
from tests.conftest import Background

ROOT = Path(__file__).resolve().parent.parent
NODE_MODULES = ROOT / "tools" / "node_modules"
VNU_JAR = NODE_MODULES / "vnu-jar" / "build" / "dist" / "vnu.jar"
AXE_JS = NODE_MODULES / "axe-core" / "axe.min.js"
JAVA = shutil.which("java")
ARTIFACTS = ROOT / "tests" / "artifacts" / "page"
PHONE_WIDTH = 390
DESKTOP = {"width": 1280, "height": 900}
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
        [JAVA, "-jar", str(VNU_JAR), "--errors-only", "--format", "json", str(page)],
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
    # vnu writes its report to stderr and exits 1 when it found an error.
    report = json.loads(stderr or stdout)
    errors = [
        f"line {m.get('lastLine', '?')}: {m['message']} [{m.get('extract', '')[:120]!r}]"
        for m in report["messages"]
        if m["type"] in ("error", "non-document-error")
    ]
    assert errors == [], "\n".join(errors)
    assert returncode == 0, stderr[-2000:]


def _open(browser: Any, page: Path, scheme: str, viewport: dict[str, int]) -> Any:
    context = browser.new_context(color_scheme=scheme, viewport=viewport)
    tab = context.new_page()
    tab.goto(page.as_uri())
    tab.wait_for_load_state("load")
    return tab


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


@pytest.fixture(scope="module")
def tabs(browser: Any, outputs: dict[str, Path]) -> Iterator[dict[tuple[str, str], Any]]:
    """The page open in each colour scheme and viewport, loaded once for every check below that only reads it
    (axe, the overflow, the screenshots, the code blocks' focus): a load of the page costs more than most checks."""
    opened = {
        (scheme, name): _open(browser, outputs["html"], scheme, viewport)
        for scheme in SCHEMES
        for name, viewport in VIEWPORTS.items()
    }
    try:
        yield opened
    finally:
        for tab in opened.values():
            tab.context.close()


@pytest.fixture(scope="module")
def axe_results(tabs: dict[tuple[str, str], Any]) -> dict[tuple[str, str], Any]:
    """axe run on the page in each colour scheme and viewport, the four runs at once (one renderer process each).

    Light: every rule. Dark: the colour rules (test_the_dark_scheme_changes_colours_only says why that is enough).
    """
    for (scheme, _), tab in tabs.items():
        tab.add_script_tag(path=str(AXE_JS))
        options = {"resultTypes": ["violations"]}
        if scheme == "dark":
            options["runOnly"] = {"type": "rule", "values": COLOUR_RULES}
        tab.evaluate("options => { window.axeRun = axe.run(document, options); }", options)
    return {key: tab.evaluate("async () => await window.axeRun") for key, tab in tabs.items()}


@needs_chromium
@needs_axe
@pytest.mark.parametrize("viewport", list(VIEWPORTS))
@pytest.mark.parametrize("scheme", SCHEMES)
def test_axe_finds_no_serious_violation(axe_results: dict[tuple[str, str], Any], scheme: str, viewport: str) -> None:
    result = axe_results[scheme, viewport]
    ran = {
        rule["id"] for kind in ("violations", "passes", "incomplete", "inapplicable") for rule in result.get(kind, [])
    }
    assert "color-contrast" in ran, f"axe did not check the contrast in {scheme} mode"
    assert scheme == "dark" or len(ran) > 40, f"every rule runs in {scheme} mode: {sorted(ran)}"
    serious = [v for v in result["violations"] if v["impact"] in ("serious", "critical")]
    assert serious == [], f"axe in {scheme} mode at {VIEWPORTS[viewport]['width']} px:\n" + _describe(serious)


@needs_chromium
@pytest.mark.parametrize("scheme", SCHEMES)
def test_no_horizontal_overflow_on_a_phone(tabs: dict[tuple[str, str], Any], scheme: str) -> None:
    tab = tabs[scheme, "phone"]
    width = tab.evaluate("document.documentElement.scrollWidth")
    culprits = tab.evaluate(
        """limit => Array.from(document.querySelectorAll('body *'))
            .filter(e => e.getBoundingClientRect().right > limit + 1)
            .filter(e => { for (let a = e.parentElement; a && a !== document.body; a = a.parentElement) {
                if (getComputedStyle(a).overflowX !== 'visible') return false; } return true; })
            .slice(0, 10).map(e => e.outerHTML.slice(0, 160))""",
        PHONE_WIDTH,
    )
    assert width <= PHONE_WIDTH, f"page is {width} px wide on a {PHONE_WIDTH} px phone; too wide: {culprits}"


@needs_chromium
def test_contents_start_closed_on_a_phone_and_open_on_a_desktop(browser: Any, outputs: dict[str, Path]) -> None:
    tab = _open(browser, outputs["html"], "light", PHONE)
    try:
        assert not tab.is_visible('.toc a[href="#q51"]')
        first_question = tab.eval_on_selector("#q51", "e => e.getBoundingClientRect().top")
        assert first_question < PHONE["height"], "the first question is not on the phone's first screen"
        tab.click(".toc-toggle")
        assert tab.is_visible('.toc a[href="#q65"]')
        tab.click('.toc a[href="#q60"]')
        assert tab.evaluate("location.hash") == "#q60"
        assert 0 <= tab.eval_on_selector("#q60", "e => e.getBoundingClientRect().top") < PHONE["height"] / 2
        tab.set_viewport_size(DESKTOP)
        tab.wait_for_function("document.getElementById('toc-box').open")
        assert tab.is_visible('.toc a[href="#q51"]') and not tab.is_visible(".toc-toggle")
    finally:
        tab.context.close()


@needs_chromium
def test_a_code_block_that_scrolls_takes_keyboard_focus(tabs: dict[tuple[str, str], Any]) -> None:
    state = tabs["light", "phone"].eval_on_selector_all(
        ".highlight",
        "els => els.map(e => [e.scrollWidth > e.clientWidth + 1, e.getAttribute('tabindex')])",
    )
    assert any(scrolls for scrolls, _ in state), "expected some code to be wider than a phone"
    assert all((tabindex == "0") == scrolls for scrolls, tabindex in state), state


@needs_chromium
@pytest.mark.parametrize("viewport", list(VIEWPORTS))
@pytest.mark.parametrize("scheme", SCHEMES)
def test_screenshot(tabs: dict[tuple[str, str], Any], scheme: str, viewport: str) -> None:
    """A picture for a person to look at, saved under tests/artifacts/page/ (git-ignored)."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    target = ARTIFACTS / f"page-{scheme}-{VIEWPORTS[viewport]['width']}.png"
    tab = tabs[scheme, viewport]
    tab.evaluate("window.scrollTo(0, 0)")  # axe's contrast check scrolls to what it looks at
    tab.screenshot(path=str(target))
    assert target.stat().st_size > 10_000
