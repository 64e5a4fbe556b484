"""Executable examples: the notes' code and the claims their text makes are checked here.

The notes are the single source. Every fenced block whose info string is exactly ``python`` is executable; the
blocks of one note run in order in one fresh namespace. Blocks fenced as ``{.python .illustrative}`` (or anything
else) are never run. The tests below extract the code from the Markdown, run it, and check the names each note
defines against independent references written here, and against numbers parsed from the note's own prose, so
that text and code cannot drift apart.

Set STUDYKIT_CONTENT to another content folder (e.g. a deliberately broken copy) to run the same tests on it.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from itertools import product
from pathlib import Path
from typing import Any, TypeAlias

import numpy as np
import pytest
import sympy  # type: ignore[import-untyped]
import yaml

Namespace: TypeAlias = dict[str, Any]

ROOT = Path(__file__).resolve().parent.parent
CONTENT_DIR = Path(os.environ.get("STUDYKIT_CONTENT", ROOT / "content" / "dl-interview-51-65"))
SOURCE_ARTICLE = Path("/work/shared/source/dl-interview-51-65.zh.txt")

# ---------------------------------------------------------------------------------------------------------------
# Extraction
# ---------------------------------------------------------------------------------------------------------------

# A fence is three or more backticks at the very start of a line; the block ends at the first line that holds the
# same fence and nothing else. Matching every fenced block (not only Python ones) keeps the pairing right: the
# body of an illustrative block is consumed whole and can never be mistaken for executable code.
FENCE = re.compile(r"^(?P<fence>`{3,})(?P<info>[^\n`]*)\n(?P<body>.*?)^(?P=fence)[ \t]*$", re.MULTILINE | re.DOTALL)
FRONT_MATTER = re.compile(r"\A---\n(?P<yaml>.*?)\n---\n", re.DOTALL)


@dataclass(frozen=True)
class CodeBlock:
    info: str
    line: int  # 1-based line of the block's first code line in the note
    source: str


def fenced_blocks(markdown: str) -> list[CodeBlock]:
    """Every fenced code block of a Markdown text, in order."""
    return [
        CodeBlock(match["info"].strip(), markdown.count("\n", 0, match.start("body")) + 1, match["body"])
        for match in FENCE.finditer(markdown)
    ]


def python_blocks(markdown: str) -> list[CodeBlock]:
    """The executable blocks: info string exactly ``python``."""
    return [block for block in fenced_blocks(markdown) if block.info == "python"]


def run_blocks(blocks: list[CodeBlock], filename: str) -> Namespace:
    """Run the blocks in order in one fresh namespace. Padding with blank lines keeps the note's line numbers, so a
    traceback points at the Markdown file itself."""
    namespace: Namespace = {"__name__": "__note__"}
    for block in blocks:
        code = compile("\n" * (block.line - 1) + block.source, filename, "exec")
        exec(code, namespace)
    return namespace


def note_number(path: Path) -> int | None:
    match = FRONT_MATTER.match(path.read_text(encoding="utf-8"))
    if match is None:
        return None
    meta = yaml.safe_load(match["yaml"])
    number = meta.get("number") if isinstance(meta, dict) else None
    return number if isinstance(number, int) else None


def notes_by_number(content: Path) -> dict[int, Path]:
    found: dict[int, Path] = {}
    for path in sorted(content.glob("*.md")):
        number = note_number(path)
        if number is not None:
            assert number not in found, f"number {number} used by {found[number].name} and {path.name}"
            found[number] = path
    return found


NOTES = notes_by_number(CONTENT_DIR)


def note_path(number: int) -> Path:
    if number not in NOTES:
        pytest.fail(f"no note with `number: {number}` in {CONTENT_DIR}")
    return NOTES[number]


def note_text(number: int) -> str:
    return note_path(number).read_text(encoding="utf-8")


def prose(number: int) -> str:
    """The note with all whitespace runs collapsed to one space, so phrases survive line wrapping."""
    return " ".join(note_text(number).split())


def run_note(number: int) -> Namespace:
    path = note_path(number)
    return run_blocks(python_blocks(path.read_text(encoding="utf-8")), str(path))


def search(pattern: str, text: str, flags: int = 0) -> re.Match[str]:
    match = re.search(pattern, text, flags)
    assert match is not None, f"the note no longer contains text matching {pattern!r}"
    return match


def numbers(text: str) -> list[float]:
    """The numbers of a comma-separated tuple such as ``50, 60, 40, 80``."""
    return [float(part) for part in text.split(",")]


def integer(text: str) -> int:
    """A whole number written with thousands separators, e.g. ``616,566,784``."""
    return int(text.replace(",", ""))


# ---------------------------------------------------------------------------------------------------------------
# One module-scoped namespace per note (found by its front-matter number)
# ---------------------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def bbox_ns() -> Namespace:
    return run_note(52)


@pytest.fixture(scope="module")
def nms_ns() -> Namespace:
    return run_note(54)


@pytest.fixture(scope="module")
def anchors_ns() -> Namespace:
    return run_note(55)


@pytest.fixture(scope="module")
def cnn_ns() -> Namespace:
    return run_note(56)


@pytest.fixture(scope="module")
def chain_ns() -> Namespace:
    return run_note(58)


@pytest.fixture(scope="module")
def bn_ns() -> Namespace:
    return run_note(59)


@pytest.fixture(scope="module")
def conv_ns() -> Namespace:
    return run_note(62)


@pytest.fixture(scope="module")
def softmax_ns() -> Namespace:
    return run_note(63)


@pytest.fixture(scope="module")
def lstm_ns() -> Namespace:
    return run_note(65)


# ---------------------------------------------------------------------------------------------------------------
# Every note: the extractor, and all executable blocks run
# ---------------------------------------------------------------------------------------------------------------


def test_extractor_runs_only_exact_python_fences() -> None:
    markdown = "\n".join(
        [
            "Text with an inline ```python fence``` that is not at the start of a line.",
            "```python",
            "a = 1",
            "```",
            "```{.python .illustrative}",
            "raise RuntimeError('illustrative blocks must not run')",
            "```",
            "```pycon",
            ">>> raise RuntimeError",
            "```",
            "```python3",
            "raise RuntimeError('only the exact info string python runs')",
            "```",
            "````python",
            "s = '''",
            "```",
            "'''",
            "````",
            "```python",
            "b = a + 1",
            "```",
            "",
        ]
    )
    blocks = python_blocks(markdown)
    assert [block.line for block in blocks] == [3, 15, 20]
    namespace = run_blocks(blocks, "<synthetic>")
    assert (namespace["a"], namespace["b"], namespace["s"]) == (1, 2, "\n```\n")


def test_notes_found() -> None:
    assert {52, 54, 55, 56, 58, 59, 62, 63, 65} <= set(NOTES), f"notes found in {CONTENT_DIR}: {sorted(NOTES)}"


@pytest.mark.parametrize("number", sorted(NOTES), ids=[path.stem for _, path in sorted(NOTES.items())])
def test_every_python_block_runs(number: int) -> None:
    run_note(number)


# ---------------------------------------------------------------------------------------------------------------
# 55 anchors
# ---------------------------------------------------------------------------------------------------------------

ANCHOR_ROW = re.compile(r"\[\s*(-?\d+)\.?\s+(-?\d+)\.?\s+(-?\d+)\.?\s+(-?\d+)\.?\s*\]")
NOTE_ANCHOR_ROW = re.compile(
    r"^\| ([\d.]+) \| (\d+) \| (-?\d+) \| (-?\d+) \| (-?\d+) \| (-?\d+) \| (\d+) x (\d+) \|$", re.MULTILINE
)


def note_anchor_table() -> list[tuple[float, int, list[int], tuple[int, int]]]:
    """(ratio, scale, [x1, y1, x2, y2], (width, height)) for each row of note 55's table."""
    return [
        (float(m[1]), int(m[2]), [int(m[i]) for i in range(3, 7)], (int(m[7]), int(m[8])))
        for m in NOTE_ANCHOR_ROW.finditer(note_text(55))
    ]


def source_anchors() -> list[list[int]]:
    """The nine rows printed under question 55 of the source article: real output of Faster R-CNN's
    generate_anchors.py, independent of the note."""
    if not SOURCE_ARTICLE.exists():
        # Fallback when the source article is not available: the note's own table. This is weaker (it only checks
        # that the note's code agrees with the note's text), so the source file should be restored if possible.
        return [row for _, _, row, _ in note_anchor_table()]
    text = SOURCE_ARTICLE.read_text(encoding="utf-8")
    section = text[text.index("55、") : text.index("56、")]
    return [[int(value) for value in match.groups()] for match in ANCHOR_ROW.finditer(section)]


def test_anchors_match_source_article(anchors_ns: Namespace) -> None:
    expected = source_anchors()
    assert len(expected) == 9
    anchors = anchors_ns["generate_anchors"](base_size=16, ratios=(0.5, 1, 2), scales=(8, 16, 32))
    assert anchors.shape == (9, 4)
    assert anchors.tolist() == expected  # exact, and in order
    assert anchors_ns["generate_anchors"]().tolist() == expected  # the defaults are Faster R-CNN's


def test_anchors_match_note_constant_and_table(anchors_ns: Namespace) -> None:
    anchors = anchors_ns["generate_anchors"]()
    assert anchors.tolist() == anchors_ns["expected_anchors"]
    table = note_anchor_table()
    assert [row for _, _, row, _ in table] == anchors.tolist()
    assert [(ratio, scale) for ratio, scale, _, _ in table] == list(product((0.5, 1.0, 2.0), (8, 16, 32)))
    for _, _, (x1, y1, x2, y2), size in table:
        assert size == (x2 - x1 + 1, y2 - y1 + 1)  # pixel-index convention
        assert ((x1 + x2) / 2, (y1 + y2) / 2) == (7.5, 7.5)


def test_shift_anchors_tiles_every_stride(anchors_ns: Namespace) -> None:
    m = search(r"\$(\d+) \\cdot (\d+) \\cdot (\d+)\$ = ([\d,]+) anchors", prose(55))
    feat_w, feat_h, k, total = int(m[1]), int(m[2]), int(m[3]), integer(m[4])
    base = anchors_ns["generate_anchors"]()
    assert k == len(base)
    tiled = anchors_ns["shift_anchors"](base, feat_h, feat_w, stride=16)
    assert tiled.shape == (total, 4) == (feat_h * feat_w * k, 4)
    for i, j in [(0, 0), (0, 1), (1, 0), (feat_h - 1, feat_w - 1), (17, 42)]:
        start = (i * feat_w + j) * k
        assert np.array_equal(tiled[start : start + k], base + np.array([16 * j, 16 * i, 16 * j, 16 * i]))


# ---------------------------------------------------------------------------------------------------------------
# 54 NMS
# ---------------------------------------------------------------------------------------------------------------


def reference_iou(a: tuple[float, ...], b: tuple[float, ...]) -> float:
    iw = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    ih = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = iw * ih
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def reference_nms(boxes: list[tuple[float, ...]], scores: list[float], threshold: float) -> list[int]:
    """Brute force: walk the boxes by score (ties: lower index first); a box is kept unless its IoU with an already
    kept box exceeds the threshold."""
    keep: list[int] = []
    for i in sorted(range(len(boxes)), key=lambda i: (-scores[i], i)):
        if all(reference_iou(boxes[i], boxes[k]) <= threshold for k in keep):
            keep.append(i)
    return keep


def test_nms_matches_brute_force_on_random_boxes(nms_ns: Namespace) -> None:
    rng = np.random.default_rng(54)
    for _ in range(300):
        n = int(rng.integers(0, 25))
        corner = rng.integers(0, 60, size=(n, 2))
        size = rng.integers(1, 40, size=(n, 2))
        boxes = np.hstack([corner, corner + size]).astype(float)
        # Scores with a coarse grid produce ties; integer corners produce IoUs exactly on the threshold.
        scores = np.round(rng.random(n), int(rng.integers(1, 4)))
        threshold = float(rng.choice([0.0, 0.3, 0.5, 0.7, rng.random()]))
        expected = reference_nms([tuple(b) for b in boxes.tolist()], scores.tolist(), threshold)
        assert nms_ns["nms"](boxes, scores, threshold) == expected


def test_nms_worked_example(nms_ns: Namespace) -> None:
    text, flat = note_text(54), prose(54)
    rows = re.findall(r"^\| (\d+) \| \(([^)]*)\) \| ([\d.]+) \|$", text, re.MULTILINE)
    assert [int(index) for index, _, _ in rows] == list(range(len(nms_ns["example_boxes"])))
    assert np.array_equal([numbers(box) for _, box, _ in rows], nms_ns["example_boxes"])
    assert np.array_equal([float(score) for _, _, score in rows], nms_ns["example_scores"])
    assert float(search(r"threshold ([\d.]+):", flat)[1]) == nms_ns["example_threshold"]

    order = [int(i) for i in search(r"Order by score: ([\d, ]+)\.", flat)[1].split(",")]
    assert order == sorted(range(len(rows)), key=lambda i: -nms_ns["example_scores"][i])

    stated_keep = [int(i) for i in search(r"kept indices \*\*\[([\d, ]*)\]\*\*", flat)[1].split(",")]
    keep = nms_ns["nms"](nms_ns["example_boxes"], nms_ns["example_scores"], nms_ns["example_threshold"])
    assert keep == nms_ns["example_keep"] == stated_keep

    # The IoUs quoted in the walk-through, e.g. "Keep **0**. ... box 1 is $1444/1756 \approx 0.82$".
    steps = re.findall(r"Keep \*\*(\d)\*\*(.*?)(?=Keep \*\*|Result:)", flat)
    checked = 0
    for kept, step in steps:
        for other, num, den, approx in re.findall(
            r"[Bb]ox (\d) (?:is |has IoU )?\$(\d+)/(\d+) \\approx ([\d.]+)\$", step
        ):
            value = nms_ns["iou"](nms_ns["example_boxes"][int(kept)], nms_ns["example_boxes"][int(other)])
            assert value == pytest.approx(int(num) / int(den), abs=1e-12)
            assert round(value, 2) == float(approx)
            checked += 1
    assert checked >= 4


def test_iou_special_cases(nms_ns: Namespace) -> None:
    iou = nms_ns["iou"]
    assert iou([1, 2, 5, 7], [1, 2, 5, 7]) == pytest.approx(1.0)
    assert iou([0, 0, 1, 1], [2, 2, 3, 3]) == 0.0
    assert iou([0, 0, 1, 1], [1, 0, 2, 1]) == 0.0  # touching edges
    outer, inner = [0, 0, 10, 8], [2, 1, 5, 5]
    assert iou(outer, inner) == pytest.approx((3 * 4) / (10 * 8))
    assert iou(inner, outer) == pytest.approx((3 * 4) / (10 * 8))


# ---------------------------------------------------------------------------------------------------------------
# 52 bounding-box regression
# ---------------------------------------------------------------------------------------------------------------


def test_bbox_decode_inverts_encode(bbox_ns: Namespace) -> None:
    encode, decode = bbox_ns["encode"], bbox_ns["decode"]
    rng = np.random.default_rng(52)
    for _ in range(200):
        P = np.concatenate([rng.uniform(-500, 500, 2), rng.uniform(1, 400, 2)])
        G = np.concatenate([rng.uniform(-500, 500, 2), rng.uniform(1, 400, 2)])
        assert np.allclose(decode(P, encode(P, G)), G, rtol=1e-12, atol=1e-9)
        t = rng.normal(size=4)
        assert np.allclose(encode(P, decode(P, t)), t, rtol=1e-12, atol=1e-12)
        # The claims of "Why this form": invariant to scaling both boxes and to moving both centres.
        s, d = rng.uniform(0.1, 10), np.append(rng.normal(size=2) * 100, [0, 0])
        assert np.allclose(encode(s * P, s * G), encode(P, G))
        assert np.allclose(encode(P + d, G + d), encode(P, G))


def test_bbox_worked_example_matches_text(bbox_ns: Namespace) -> None:
    text, flat = note_text(52), prose(52)
    m = search(r"Proposal \$P = \(([-\d., ]+)\)\$ and ground truth \$G = \(([-\d., ]+)\)\$", flat)
    assert np.array_equal(numbers(m[1]), bbox_ns["example_P"])
    assert np.array_equal(numbers(m[2]), bbox_ns["example_G"])

    bullets = dict(re.findall(r"^- \$t_([xywh]) = .*(?:=|\\approx) (-?\d+(?:\.\d+)?)\$\s*$", text, re.MULTILINE))
    assert list(bullets) == ["x", "y", "w", "h"]
    stated = np.array([float(bullets[k]) for k in "xywh"])
    assert np.array_equal(stated, bbox_ns["example_t"])  # the text and the code state the same numbers
    t = bbox_ns["encode"](bbox_ns["example_P"], bbox_ns["example_G"])
    assert np.allclose(t, bbox_ns["example_t"], rtol=0, atol=5e-5)  # the stated numbers are right (4 decimals)

    # "their IoU is about 0.63": computed here from the centre-size boxes.
    (px, py, pw, ph), (gx, gy, gw, gh) = bbox_ns["example_P"], bbox_ns["example_G"]
    p = (px - pw / 2, py - ph / 2, px + pw / 2, py + ph / 2)
    g = (gx - gw / 2, gy - gh / 2, gx + gw / 2, gy + gh / 2)
    assert round(reference_iou(p, g), 2) == float(search(r"their IoU is about (\d+(?:\.\d+)?)", flat)[1])


# ---------------------------------------------------------------------------------------------------------------
# 63 softmax
# ---------------------------------------------------------------------------------------------------------------


def direct_softmax(z: np.ndarray) -> np.ndarray:
    """Textbook formula, only for moderate logits."""
    e = np.exp(z)
    p: np.ndarray = e / e.sum()
    return p


def test_softmax_is_a_distribution_and_shift_invariant(softmax_ns: Namespace) -> None:
    softmax = softmax_ns["softmax"]
    rng = np.random.default_rng(63)
    for _ in range(100):
        z = rng.normal(scale=5, size=int(rng.integers(2, 10)))
        p = softmax(z)
        assert p.sum() == pytest.approx(1.0, abs=1e-12)
        assert np.all((p > 0) & (p < 1))
        assert np.allclose(p, direct_softmax(z), rtol=1e-12)
        assert np.allclose(softmax(z + rng.normal(scale=100)), p, rtol=1e-9, atol=1e-15)
        assert np.argmax(p) == np.argmax(z)  # keeps the ranking
    a, b = 1.7, -0.4  # two classes reduce to the sigmoid
    assert softmax([a, b])[0] == pytest.approx(1 / (1 + math.exp(-(a - b))))


def test_softmax_is_finite_for_huge_logits(softmax_ns: Namespace) -> None:
    with np.errstate(over="raise", invalid="raise"):
        p = softmax_ns["softmax"]([1000.0, 999.0, 998.0])
        assert np.all(np.isfinite(p))
        assert np.allclose(p, direct_softmax(np.array([2.0, 1.0, 0.0])))
        loss = softmax_ns["cross_entropy"]([1000.0, 0.0], [0.0, 1.0])
        assert loss == pytest.approx(1000.0)


def test_softmax_values_stated_in_text(softmax_ns: Namespace) -> None:
    flat = prose(63)
    m = search(r"\$z = \(([-\d., ]+)\)\$ gives \$p \\approx \(([\d., ]+)\)\$", flat)
    z = np.array(numbers(m[1]))
    cases = [(1.0, m[2])] + [(float(t), p) for t, p in re.findall(r"\$T = ([\d.]+)\$ gives \$\(([\d., ]+)\)\$", flat)]
    assert len(cases) == 3
    for temperature, stated in cases:
        assert np.allclose(softmax_ns["softmax"](z / temperature), numbers(stated), rtol=0, atol=5e-4)


def test_cross_entropy_gradient_is_p_minus_y(softmax_ns: Namespace) -> None:
    cross_entropy, grad = softmax_ns["cross_entropy"], softmax_ns["softmax_cross_entropy_grad"]
    rng = np.random.default_rng(630)
    h = 1e-6
    for _ in range(30):
        k = int(rng.integers(2, 8))
        z = rng.normal(scale=3, size=k)
        y = np.eye(k)[rng.integers(k)]
        p_minus_y = direct_softmax(z) - y
        assert cross_entropy(z, y) == pytest.approx(-math.log(direct_softmax(z)[int(np.argmax(y))]), rel=1e-12)
        numeric = np.array([(cross_entropy(z + h * e, y) - cross_entropy(z - h * e, y)) / (2 * h) for e in np.eye(k)])
        assert np.allclose(numeric, p_minus_y, atol=1e-7)
        assert np.allclose(grad(z, y), p_minus_y, atol=1e-12)


# ---------------------------------------------------------------------------------------------------------------
# 59 BatchNorm2d
# ---------------------------------------------------------------------------------------------------------------


def test_batchnorm_training_normalises_each_channel(bn_ns: Namespace) -> None:
    rng = np.random.default_rng(59)
    C = 3
    x = rng.normal(size=(8, C, 5, 4)) * np.array([0.5, 3.0, 10.0]).reshape(1, C, 1, 1) + np.array(
        [-2.0, 0.0, 7.0]
    ).reshape(1, C, 1, 1)
    bn = bn_ns["BatchNorm2d"](C)
    y = bn(x, training=True)
    assert y.shape == x.shape
    assert np.allclose(y.mean(axis=(0, 2, 3)), 0.0, atol=1e-12)
    var = x.var(axis=(0, 2, 3))
    assert np.allclose(y.var(axis=(0, 2, 3)), var / (var + bn.eps), rtol=1e-12)
    assert np.allclose(y.var(axis=(0, 2, 3)), 1.0, atol=1e-3)

    # gamma = sqrt(var + eps), beta = mean recover the identity ("normalisation never removes capacity").
    bn2 = bn_ns["BatchNorm2d"](C)
    bn2.gamma, bn2.beta = np.sqrt(var + bn2.eps), x.mean(axis=(0, 2, 3))
    assert np.allclose(bn2(x, training=True), x, atol=1e-10)


def test_batchnorm_running_statistics(bn_ns: Namespace) -> None:
    rng = np.random.default_rng(590)
    C, momentum = 4, 0.1
    bn = bn_ns["BatchNorm2d"](C, momentum=momentum)
    mean, var = np.zeros(C), np.ones(C)
    for step in range(3):
        x = rng.normal(loc=step, scale=1 + step, size=(6, C, 3, 5))
        bn(x, training=True)
        m = 6 * 3 * 5
        batch_mean = x.transpose(1, 0, 2, 3).reshape(C, -1).mean(axis=1)
        unbiased = ((x.transpose(1, 0, 2, 3).reshape(C, -1) - batch_mean[:, None]) ** 2).sum(axis=1) / (m - 1)
        mean = (1 - momentum) * mean + momentum * batch_mean
        var = (1 - momentum) * var + momentum * unbiased
        assert np.allclose(bn.running_mean, mean, rtol=1e-12)
        assert np.allclose(bn.running_var, var, rtol=1e-12)


def test_batchnorm_inference_uses_running_statistics(bn_ns: Namespace) -> None:
    rng = np.random.default_rng(5900)
    C = 3
    bn = bn_ns["BatchNorm2d"](C)
    for _ in range(5):
        bn(rng.normal(loc=2.0, scale=3.0, size=(4, C, 6, 6)), training=True)
    bn.gamma, bn.beta = rng.uniform(0.5, 2, C), rng.normal(size=C)
    running_mean, running_var = bn.running_mean.copy(), bn.running_var.copy()

    x = rng.normal(size=(5, C, 2, 3))
    y = bn(x, training=False)
    expected = np.empty_like(x)
    for c in range(C):
        expected[:, c] = bn.gamma[c] * (x[:, c] - running_mean[c]) / math.sqrt(running_var[c] + bn.eps) + bn.beta[c]
    assert np.allclose(y, expected, rtol=1e-12)
    assert np.array_equal(bn.running_mean, running_mean) and np.array_equal(bn.running_var, running_var)
    assert np.allclose(bn(x[:1], training=False), y[:1])  # independent of the rest of the batch


# ---------------------------------------------------------------------------------------------------------------
# 65 LSTM
# ---------------------------------------------------------------------------------------------------------------


def reference_lstm_step(
    x: np.ndarray, h_prev: np.ndarray, c_prev: np.ndarray, W: np.ndarray, b: np.ndarray
) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
    """The gate equations, one gate at a time; W stacks the rows of the f, i, candidate and o gates, each acting
    on [h_prev, x] (the layout the note documents)."""

    def sigma(v: np.ndarray) -> np.ndarray:
        return np.array([1 / (1 + math.exp(-float(e))) for e in v])

    def tanh(v: np.ndarray) -> np.ndarray:
        return np.array([(math.exp(e) - math.exp(-e)) / (math.exp(e) + math.exp(-e)) for e in map(float, v)])

    H = len(h_prev)
    pre = {}
    for k, gate in enumerate(["f", "i", "g", "o"]):
        rows = W[k * H : (k + 1) * H]
        pre[gate] = rows[:, :H] @ h_prev + rows[:, H:] @ x + b[k * H : (k + 1) * H]
    f, i, g, o = sigma(pre["f"]), sigma(pre["i"]), tanh(pre["g"]), sigma(pre["o"])
    c = f * c_prev + i * g
    h = o * tanh(c)
    return h, c, {"pre_" + k: v for k, v in pre.items()} | {"f": f, "i": i, "g": g, "o": o}


def test_lstm_worked_example(lstm_ns: Namespace) -> None:
    inputs = lstm_ns["example_inputs"]
    h, c = lstm_ns["lstm_step"](**inputs)
    assert (round(float(h[0]), 4), round(float(c[0]), 4)) == lstm_ns["example_expected"]

    text, flat = note_text(65), prose(65)
    m = search(r"\$h_\{t-1\} = ([\d.]+)\$, \$x_t = ([\d.]+)\$, \$C_\{t-1\} = ([\d.]+)\$", flat)
    assert [float(m[1]), float(m[2]), float(m[3])] == [inputs["h_prev"][0], inputs["x"][0], inputs["c_prev"][0]]
    stated_c = float(search(r"^- \$C_t = [^$]*= (-?[\d.]+)\$", text, re.MULTILINE)[1])
    stated_h = float(search(r"^- \$h_t = [^$]*= (-?[\d.]+)\$", text, re.MULTILINE)[1])
    assert (stated_h, stated_c) == lstm_ns["example_expected"]

    # The gate values and pre-activations stated in the text, against the independent step.
    _, _, gates = reference_lstm_step(**inputs)
    stated = re.findall(r"\$(f_t|i_t|\\tilde C_t|o_t) = \\(?:sigma|tanh)\((-?[\d.]+)\) = (-?[\d.]+)\$", flat)
    assert [name for name, _, _ in stated] == ["f_t", "i_t", "\\tilde C_t", "o_t"]
    for (_, pre, value), gate in zip(stated, "figo", strict=True):
        assert float(pre) == pytest.approx(gates["pre_" + gate][0])
        assert float(value) == round(float(gates[gate][0]), 4)


def test_lstm_step_matches_gate_equations(lstm_ns: Namespace) -> None:
    rng = np.random.default_rng(65)
    for H, D in [(1, 1), (3, 2), (4, 5)]:
        for _ in range(10):
            args = {
                "x": rng.normal(size=D),
                "h_prev": rng.normal(size=H),
                "c_prev": rng.normal(size=H),
                "W": rng.normal(size=(4 * H, H + D)),
                "b": rng.normal(size=4 * H),
            }
            h, c = lstm_ns["lstm_step"](**args)
            h_ref, c_ref, gates = reference_lstm_step(**args)
            assert np.allclose(h, h_ref, rtol=1e-12, atol=1e-14)
            assert np.allclose(c, c_ref, rtol=1e-12, atol=1e-14)
            # "Along the direct cell path, dC_t/dC_{t-1} = diag(f_t)": finite differences on c_prev.
            eps = 1e-6
            jac = np.column_stack(
                [
                    (
                        lstm_ns["lstm_step"](**(args | {"c_prev": args["c_prev"] + eps * e}))[1]
                        - lstm_ns["lstm_step"](**(args | {"c_prev": args["c_prev"] - eps * e}))[1]
                    )
                    / (2 * eps)
                    for e in np.eye(H)
                ]
            )
            assert np.allclose(jac, np.diag(gates["f"]), atol=1e-8)


# ---------------------------------------------------------------------------------------------------------------
# 62 convolution output size
# ---------------------------------------------------------------------------------------------------------------


def test_conv_output_size_matches_conv2d(conv_ns: Namespace) -> None:
    conv_output_size, conv2d = conv_ns["conv_output_size"], conv_ns["conv2d"]
    cases = 0
    for W, F, P, S in product(range(1, 12), range(1, 6), range(3), range(1, 4)):
        if F > W + 2 * P:
            continue
        n = conv_output_size(W, F, P, S)
        assert conv2d(np.zeros((W, W)), np.ones((F, F)), stride=S, padding=P).shape == (n, n)
        assert n == len(range(0, W + 2 * P - F + 1, S))  # window start positions inside the padded input
        cases += 1
    assert cases > 400
    for F in (1, 3, 5, 7):  # "with S = 1, P = (F - 1)/2 gives 'same' output size"
        assert conv_output_size(17, F, (F - 1) // 2, 1) == 17


def test_conv2d_is_cross_correlation(conv_ns: Namespace) -> None:
    rng = np.random.default_rng(62)
    for _ in range(20):
        x, k = rng.normal(size=(9, 8)), rng.normal(size=(3, 2))
        stride, padding = int(rng.integers(1, 3)), int(rng.integers(0, 2))
        padded = np.pad(x, padding)
        windows = np.lib.stride_tricks.sliding_window_view(padded, k.shape)[::stride, ::stride]
        expected = np.einsum("ijab,ab->ij", windows, k)
        assert np.allclose(conv_ns["conv2d"](x, k, stride=stride, padding=padding), expected)


def test_conv_examples_stated_in_text(conv_ns: Namespace) -> None:
    flat = prose(62)
    examples = re.findall(r"\$W = (\d+), F = (\d+), P = (\d+), S = (\d+)\$,? gives (?:\$[^$]*?= )?(\d+)", flat)
    assert len(examples) >= 2
    for W, F, P, S, stated in examples:
        n = conv_ns["conv_output_size"](int(W), int(F), int(P), int(S))
        assert n == int(stated)
        assert conv_ns["conv2d"](np.zeros((int(W),) * 2), np.ones((int(F),) * 2), int(S), int(P)).shape == (n, n)

    size = search(r"gives a \$(\d+) \\times (\d+)\$ map with every row equal to \$\(([\d, ]+)\)\$", flat)
    edge_map = conv_ns["edge_map"]
    assert edge_map.shape == (int(size[1]), int(size[2]))
    assert all(row == numbers(size[3]) for row in edge_map.tolist())


# ---------------------------------------------------------------------------------------------------------------
# 56 parameter counts
# ---------------------------------------------------------------------------------------------------------------


def count(*shapes: tuple[int, ...]) -> int:
    """Number of parameters in arrays of these shapes. broadcast_to gives a full-shape view without allocating
    memory, so even the 483-billion-weight dense layer can be 'built'."""
    return sum(int(np.broadcast_to(np.float32(0), shape).size) for shape in shapes)


def test_param_functions_match_direct_count(cnn_ns: Namespace) -> None:
    conv_params, dense_params = cnn_ns["conv_params"], cnn_ns["dense_params"]
    rng = np.random.default_rng(56)
    for _ in range(50):
        c_in, c_out, kh, kw = (int(v) for v in rng.integers(1, 12, size=4))
        assert conv_params(c_in, c_out, (kh, kw)) == count((c_out, c_in, kh, kw), (c_out,))
        assert conv_params(c_in, c_out, (kh, kw), bias=False) == count((c_out, c_in, kh, kw))
        assert conv_params(c_in, c_out, kh) == count((c_out, c_in, kh, kh), (c_out,))
        assert dense_params(c_in * 7, c_out) == count((c_out, c_in * 7), (c_out,))
        assert dense_params(c_in * 7, c_out, bias=False) == count((c_out, c_in * 7))


def test_param_counts_stated_in_text(cnn_ns: Namespace) -> None:
    conv_params, dense_params = cnn_ns["conv_params"], cnn_ns["dense_params"]
    text, flat = note_text(56), prose(56)
    table = {label: integer(value) for label, value in re.findall(r"^\| ([^|]+?) \| ([\d,]+) \|$", text, re.MULTILINE)}
    assert len(table) == 4

    m = search(r"Take a (\d+)x(\d+)x(\d+) input, which has ([\d,]+) values", flat)
    H, W, C_in = int(m[1]), int(m[2]), int(m[3])
    n_in = integer(m[4])
    assert n_in == count((H, W, C_in))

    dense_small = search(r"^Dense, ([\d,]+) to ([\d,]+) units$", "\n".join(table), re.MULTILINE)
    assert integer(dense_small[1]) == n_in
    n_out = integer(dense_small[2])
    assert table[dense_small[0]] == dense_params(n_in, n_out) == count((n_out, n_in), (n_out,))

    dense_big = search(r"^Dense, ([\d,]+) to a (\d+)x(\d+)x(\d+) output$", "\n".join(table), re.MULTILINE)
    out_shape = (int(dense_big[2]), int(dense_big[3]), int(dense_big[4]))
    n_big = count(out_shape)
    assert table[dense_big[0]] == dense_params(n_in, n_big) == count((n_big, n_in), (n_big,))

    local = search(r"^Locally connected, (\d+)x(\d+) windows, (\d+) maps, no sharing$", "\n".join(table), re.MULTILINE)
    k, C_out = int(local[1]), int(local[3])
    local_count = count((H, W, C_out, k, k, C_in), (H, W, C_out))  # own kernel and bias at every position
    assert table[local[0]] == local_count

    conv = search(r"^Conv (\d+)x\d+, (\d+) to (\d+) channels, stride 1, same padding$", "\n".join(table), re.MULTILINE)
    conv_count = conv_params(int(conv[2]), int(conv[3]), int(conv[1]))
    assert table[conv[0]] == conv_count == count((C_out, C_in, k, k), (C_out,))
    assert integer(search(r"a 3x3, 3-to-64 conv has ([\d,]+)\)", flat)[1]) == conv_count

    # "Local connectivity alone cuts the count by a factor of about 5,400. Weight sharing cuts it by another
    # factor of 50,176, the number of positions."
    about = integer(search(r"by a factor of about ([\d,]+)", flat)[1])
    assert abs(table[dense_big[0]] / local_count - about) / about < 0.01
    assert integer(search(r"another factor of ([\d,]+)", flat)[1]) == local_count / conv_count == H * W
    mults = int(search(r"about (\d+) million multiply-adds", flat)[1])
    assert round(H * W * C_out * k * k * C_in / 1e6) == mults

    # "Three 3x3 layers with C channels use 27C^2 weights, against 49C^2 for one 7x7 layer."
    three, seven = (int(v) for v in re.findall(r"\$(\d+)C\^2\$", flat))
    for c in (1, 16, 64):
        assert 3 * conv_params(c, c, 3, bias=False) == three * c * c
        assert conv_params(c, c, 7, bias=False) == seven * c * c


# ---------------------------------------------------------------------------------------------------------------
# 58 chain rule
# ---------------------------------------------------------------------------------------------------------------

SAMPLE_POINTS = [-2.5, -1.3, -0.2, 0.0, 0.4, 0.7, 1.0, 2.0, 3.1]


def central_difference(f: Callable[[float], float], x: float, h: float = 1e-5) -> float:
    return (f(x + h) - f(x - h)) / (2 * h)


@pytest.mark.parametrize(
    ("name", "formula"),
    [("1", lambda x: (x**2 + 1) ** 3), ("2", lambda x: sympy.atan(sympy.sin(x)))],
    ids=["(x^2+1)^3", "atan(sin x)"],
)
def test_chain_rule_derivatives(chain_ns: Namespace, name: str, formula: Callable[[sympy.Symbol], Any]) -> None:
    x = sympy.Symbol("x")
    expr = formula(x)
    f_sym = sympy.lambdify(x, expr, "math")
    df_sym = sympy.lambdify(x, sympy.diff(expr, x), "math")
    f, df = chain_ns["f" + name], chain_ns["df" + name]
    for point in SAMPLE_POINTS:
        assert f(point) == pytest.approx(f_sym(point), rel=1e-12, abs=1e-12)  # f is the formula differentiated
        assert df(point) == pytest.approx(df_sym(point), rel=1e-12, abs=1e-12)
        assert df(point) == pytest.approx(central_difference(f, point), rel=1e-6, abs=1e-6)


def test_chain_rule_closed_forms_in_text() -> None:
    x, t = sympy.symbols("x t")
    assert sympy.simplify(sympy.diff((x**2 + 1) ** 3, x) - 6 * x * (x**2 + 1) ** 2) == 0
    assert sympy.simplify(sympy.diff(sympy.atan(sympy.sin(x)), x) - sympy.cos(x) / (1 + sympy.sin(x) ** 2)) == 0
    # Multivariate example: z = x y, x = t^2, y = sin t.
    assert sympy.simplify(sympy.diff(t**2 * sympy.sin(t), t) - (2 * t * sympy.sin(t) + t**2 * sympy.cos(t))) == 0
    flat = prose(58)
    assert "$(x^2+1)^3$ gives $6x(x^2+1)^2$" in flat
    assert "$\\arctan \\sin x$ gives $\\cos x/(1+\\sin^2 x)$" in flat
    assert "2t\\sin t + t^2 \\cos t" in flat
