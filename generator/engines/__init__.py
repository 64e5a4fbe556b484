"""Math engines: each module turns one TeX formula into SVG; `generator.mathrender` is the only caller.

An engine module has `NAME`, `VERSION`, `render(tex, display) -> RenderedMath` and
`check(tex, display)`, raising `MathRenderError` with the engine's own message for a bad formula.
"""
