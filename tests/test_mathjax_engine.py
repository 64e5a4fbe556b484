"""The MathJax engine, for real: every corpus formula against node MathJax, and the known problem cases.

Node is only the referee here (studykit never runs it): the reference is mathjax-full's own ES5
build from tools/mathjax/node_modules, configured with the TeX packages our bundle has, so a
difference in size means our bundle, its V8 or our post-processing drew something else.
"""

from __future__ import annotations

import json
import multiprocessing
import multiprocessing.queues
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from generator.engines import mathjax
from generator.mathrender import MathRenderError, RenderedMath

ROOT = Path(__file__).resolve().parent.parent
TOOLS = ROOT / "tools" / "mathjax"
CORPUS = ROOT / "tests" / "corpus" / "formulas" / "formulas.tsv"
NODE = shutil.which("node")
# MathJax's TeX font: sizes in ex are in units of its x-height, 0.442 em.
X_HEIGHT_EM = 0.442

needs_node_mathjax = pytest.mark.skipif(
    NODE is None or not (TOOLS / "node_modules" / "mathjax-full").is_dir(),
    reason="needs node and tools/mathjax/node_modules (cd tools/mathjax && npm ci)",
)

# Reads [[tex, display], …] as JSON on stdin; writes one size (in ex) or error per formula.
_REFERENCE = r"""
const {mathjax} = require('mathjax-full/js/mathjax.js');
const {TeX} = require('mathjax-full/js/input/tex.js');
const {SVG} = require('mathjax-full/js/output/svg.js');
const {liteAdaptor} = require('mathjax-full/js/adaptors/liteAdaptor.js');
const {RegisterHTMLHandler} = require('mathjax-full/js/handlers/html.js');
require('mathjax-full/js/input/tex/AllPackages.js');
const adaptor = liteAdaptor();
RegisterHTMLHandler(adaptor);
const tex = new TeX({packages: PACKAGES, formatError: (jax, error) => { throw error; }});
const html = mathjax.document('', {InputJax: tex, OutputJax: new SVG({fontCache: 'local'})});
const formulas = JSON.parse(require('fs').readFileSync(0, 'utf8'));
const out = formulas.map(([source, display]) => {
  tex.reset();
  for (const name of ['new-Delimiter', 'new-Command', 'new-Environment']) {
    const map = tex.parseOptions.handlers.retrieve(name);
    if (map) map.map.clear();
  }
  try {
    const svg = adaptor.firstChild(html.convert(source, {display, em: 16, ex: 8, containerWidth: 1280}));
    let width = adaptor.getAttribute(svg, 'width');
    if (width === '100%') width = /min-width:\s*([-\d.]+)ex/.exec(adaptor.getAttribute(svg, 'style'))[1];
    return {width: parseFloat(width), height: parseFloat(adaptor.getAttribute(svg, 'height'))};
  } catch (error) {
    return {error: String(error.message || error)};
  }
});
process.stdout.write(JSON.stringify(out));
"""


def _unescape(field: str) -> str:
    return re.sub(r"\\(.)", lambda match: {"n": "\n", "t": "\t"}.get(match.group(1), match.group(1)), field)


def _corpus() -> list[tuple[str, bool]]:
    lines = CORPUS.read_text(encoding="utf-8").splitlines()[1:]
    return [(_unescape(fields[4]), fields[3] == "1") for fields in (line.split("\t") for line in lines)]


def _bundled_packages() -> list[str]:
    # The reference must load the packages the bundle has (entry.js says which and why).
    entry = (TOOLS / "entry.js").read_text(encoding="utf-8")
    listed = re.search(r"const PACKAGES = \[(.*?)\];", entry, re.S)
    assert listed, "tools/mathjax/entry.js no longer lists PACKAGES"
    return re.findall(r"'([\w]+)'", listed.group(1))


def _ids(rendered: RenderedMath) -> set[str]:
    return {glyph_id for glyph_id, _ in rendered.glyphs}


@needs_node_mathjax
def test_corpus_matches_node_mathjax() -> None:
    formulas = _corpus()
    assert len(formulas) >= 1500
    script = _REFERENCE.replace("PACKAGES", json.dumps(_bundled_packages()))
    # Node draws the reference while this process draws ours: two cores, half the wait.
    referee = subprocess.Popen(
        [str(NODE), "-e", script], cwd=TOOLS, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    assert referee.stdin is not None
    referee.stdin.write(json.dumps(formulas))
    referee.stdin.close()
    # render_many is render for each formula in one call into V8 (test_render_many_is_render).
    ours = [str(item) if isinstance(item, MathRenderError) else item for item in mathjax.render_many(formulas)]
    assert referee.stdout is not None
    reference = json.loads(referee.stdout.read())
    assert referee.wait() == 0
    problems = []
    for (tex, _display), mine, theirs in zip(formulas, ours, reference, strict=True):
        if "error" in theirs:
            continue
        if isinstance(mine, str):
            problems.append(f"{tex}: ours failed ({mine}), node MathJax drew it")
            continue
        # Every glyph the drawing places is defined, under the one ID scheme, in the colour of the text.
        if set(re.findall(r'href="#([^"]+)"', mine.body)) - _ids(mine) or "xlink:" in mine.body:
            problems.append(f"{tex}: places a glyph it does not define")
        if "black" in mine.body:
            problems.append(f"{tex}: draws in black, not currentColor")
        for name, size_em in (("width", mine.width_em), ("height", mine.height_em)):
            expected = theirs[name] * X_HEIGHT_EM
            if abs(size_em - expected) > max(0.01 * expected, 0.002):
                problems.append(f"{tex}: {name} {size_em:.3f} em, node MathJax {expected:.3f} em")
    assert not problems, "\n".join(problems[:20])


def test_limits_put_the_limit_under_max_even_inline() -> None:
    limits = mathjax.render(r"\mathop{\max}\limits_D V", False)
    script = mathjax.render(r"\max_D V", False)
    # Under the operator: narrower than a subscript beside it, and reaching further down.
    assert limits.width_em < script.width_em
    assert limits.depth_em > script.depth_em + 0.3
    assert _ids(mathjax.render("D", False)) <= _ids(limits)


def test_double_bar_draws_no_backslash() -> None:
    norm = mathjax.render(r"\|x\|", False)
    assert not _ids(mathjax.render(r"\backslash", False)) & _ids(norm)
    assert norm.glyphs == mathjax.render(r"\Vert x\Vert", False).glyphs


def test_bigr_brace_is_a_big_brace() -> None:
    big = mathjax.render(r"S = \bigr\{ x \mid x > 0 \bigr\}", False)
    plain = mathjax.render(r"S = \{ x \mid x > 0 \}", False)
    assert big.height_em > plain.height_em
    assert not _ids(mathjax.render(r"\backslash", False)) & _ids(big)


def test_not_equals_is_the_not_equal_sign() -> None:
    written = mathjax.render(r"a \not = b", False)
    assert written.glyphs == mathjax.render(r"a \neq b", False).glyphs
    assert written.width_em == pytest.approx(mathjax.render(r"a \neq b", False).width_em)


def test_tag_draws_as_a_tag_beside_the_formula() -> None:
    tagged = mathjax.render(r"g_t = \nabla f(w_t) \tag{1.3-1}", True)
    label = mathjax.render(r"\text{(1.3-1)}", False)
    formula = mathjax.render(r"g_t = \nabla f(w_t)", True)
    assert _ids(label) <= _ids(tagged)
    assert tagged.width_em > formula.width_em + label.width_em
    assert "%" not in tagged.view_box
    # MathJax's line-width scaling is undone: nothing in the drawing is scaled to pixels. Its two
    # nested 100%-wide <svg>s (which WeasyPrint misdraws) are plain groups; no id can repeat on a page.
    assert "scale(55" not in tagged.body
    assert "<svg" not in tagged.body and " id=" not in tagged.body


@pytest.mark.parametrize(
    "tex",
    [
        "\\begin{eqnarray}\na &=& b + c \\\\\n&=& d\n\\end{eqnarray}",
        "\\begin{align}\nf(x) &= x^2 \\newline\n&= y\n\\end{align}",
    ],
)
def test_two_line_environments_draw_two_lines(tex: str) -> None:
    rendered = mathjax.render(tex, True)
    assert rendered.height_em > 2 * mathjax.render("a = b", True).height_em


def test_hat_over_vec() -> None:
    assert mathjax.render(r"\hat{\vec\theta}", False).height_em > mathjax.render(r"\vec\theta", False).height_em


def test_chinese_text_names_cjk_fonts() -> None:
    rendered = mathjax.render(r"L = \text{损失}", True)
    texts = re.findall(r"<text [^>]*>[^<]*</text>", rendered.body)
    assert texts and all("Noto Sans CJK SC" in text and "serif" in text for text in texts)
    assert "损" in rendered.body and "失" in rendered.body


def test_unknown_command_suggests_the_known_one() -> None:
    with pytest.raises(MathRenderError) as caught:
        mathjax.render(r"\nabal f", False)
    assert str(caught.value) == r"Undefined control sequence \nabal; did you mean \nabla?"
    with pytest.raises(MathRenderError, match=r"did you mean \\nabla\?"):
        mathjax.check(r"\nabal f", True)


def test_missing_brace_is_an_error() -> None:
    for call in (mathjax.render, mathjax.check):
        with pytest.raises(MathRenderError, match="Missing close brace"):
            call(r"\frac{a}{b", False)


def test_check_passes_what_renders() -> None:
    mathjax.check(r"\sum_{i=1}^n \frac{\partial L}{\partial w_i} \tag{2}", True)


def test_glyph_ids_name_one_outline_everywhere() -> None:
    outlines: dict[str, str] = {}
    for tex in (r"x", r"x^2", r"\frac{x}{2}", r"\left(\sum x\right)", r"\text{x}"):
        for glyph_id, element in mathjax.render(tex, True).glyphs:
            assert element.startswith(f'<path id="{glyph_id}" d="')
            assert outlines.setdefault(glyph_id, element) == element
            assert f'href="#{glyph_id}"' in mathjax.render(tex, True).body
    assert len(outlines) >= 4


def test_colour_comes_from_the_text() -> None:
    body = mathjax.render(r"\sqrt{x} + \frac{1}{2}", True).body
    assert 'fill="currentColor"' in body and "black" not in body and "xlink:" not in body


def test_sizes_and_depth_follow_the_view_box() -> None:
    rendered = mathjax.render(r"\frac{a}{b}", False)
    _x, top, width, height = (float(part) for part in rendered.view_box.split())
    assert rendered.width_em == pytest.approx(width / 1000)
    assert rendered.height_em == pytest.approx(height / 1000)
    assert rendered.depth_em == pytest.approx((top + height) / 1000) and rendered.depth_em > 0.3


def test_formulas_do_not_leak_definitions_into_each_other() -> None:
    mathjax.render(r"\def\foo{y} \foo \label{a} \tag{1}", True)
    with pytest.raises(MathRenderError, match=r"\\foo"):
        mathjax.render(r"\foo", False)
    mathjax.render(r"a \label{a} \tag{1}", True)  # a second \label{a} is no "multiply defined"


def test_engine_is_loaded_once() -> None:
    first = mathjax._context()
    mathjax.render("a", False)
    mathjax.check("b", True)
    assert mathjax._context() is first
    assert mathjax.VERSION == "3.2.2" == mathjax._context().eval("studykitVersion")
    assert mathjax.NAME == "mathjax"


def _width_in_child(queue: multiprocessing.queues.Queue[float]) -> None:
    queue.put(mathjax.render("y^2", False).width_em)


def test_a_forked_worker_starts_its_own_engine() -> None:
    # The parent's V8 threads do not survive fork(); the worker must not reuse its context.
    mathjax.render("x", False)
    fork = multiprocessing.get_context("fork")
    queue: multiprocessing.queues.Queue[float] = fork.Queue()
    worker = fork.Process(target=_width_in_child, args=(queue,))
    worker.start()
    assert queue.get(timeout=30) == pytest.approx(mathjax.render("y^2", False).width_em)
    worker.join(10)
    assert worker.exitcode == 0


def test_require_of_a_bundled_package_works_and_of_another_is_an_error() -> None:
    assert mathjax.render(r"\require{cancel} \cancel{x}", False).width_em > 0
    with pytest.raises(MathRenderError, match=r'Package "physics" is not in studykit\'s MathJax bundle'):
        mathjax.check(r"\require{physics} \dv{f}{x}", False)


def test_render_many_is_render() -> None:
    formulas = [*_corpus()[::40], (r"\frac{a}{b", False), (r"\nabal", True)]
    many = mathjax.render_many(formulas)
    assert len(many) == len(formulas)
    for (tex, display), drawn in zip(formulas, many, strict=True):
        try:
            assert drawn == mathjax.render(tex, display)
        except MathRenderError as error:
            assert isinstance(drawn, MathRenderError) and str(drawn) == str(error)
    assert mathjax.render_many([]) == []
