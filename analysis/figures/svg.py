"""Small helpers shared by the SVG builders: escaping, elements, nice axis scales.

Colours are from the Okabe–Ito palette, which stays distinguishable for the common forms of
colour blindness; every mark also differs by shape, so colour never carries meaning alone.
"""
from __future__ import annotations

from dataclasses import dataclass
import math
from xml.sax.saxutils import escape, quoteattr

__all__ = ["escape"]

INK = "#1b1f24"
MUTED = "#57606a"
BLUE = "#0072B2"  # Okabe–Ito blue: study squares and points
VERMILLION = "#D55E00"  # Okabe–Ito vermillion: highlights (e.g. the latest estimate)
SKY = "#56B4E9"
GRID = "#d0d7de"
FONT = "system-ui, -apple-system, 'Segoe UI', Arial, sans-serif"


def attrs(values: dict[str, object]) -> str:
    """Attributes as XML text; ``None`` values are left out, names use ``-`` for ``_``."""
    return "".join(f" {name.rstrip('_').replace('_', '-')}={quoteattr(_fmt(v))}"
                   for name, v in values.items() if v is not None)


def _fmt(value: object) -> str:
    if isinstance(value, float):
        return f"{value:.2f}".rstrip("0").rstrip(".")
    return str(value)


def text(x: float, y: float, content: str, **kw: object) -> str:
    """A ``<text>`` element with escaped content."""
    return f"<text{attrs({'x': x, 'y': y, **kw})}>{escape(content)}</text>"


def element(name: str, **kw: object) -> str:
    return f"<{name}{attrs(kw)}/>"


def document(width: float, height: float, title: str, description: str, body: list[str], css_class: str,
             ident: str) -> str:
    """A standalone, accessible SVG document: ``role="img"`` labelled by its title and description,
    sized by its viewBox so it scales crisply in the page and opens on its own when downloaded."""
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {_fmt(float(width))} {_fmt(float(height))}"'
        f' width="{_fmt(float(width))}" height="{_fmt(float(height))}" role="img" class="{css_class}"'
        f' aria-labelledby="{ident}-title {ident}-desc" font-family="{FONT}" font-size="12" fill="{INK}">'
        f'<title id="{ident}-title">{escape(title)}</title><desc id="{ident}-desc">{escape(description)}</desc>'
        f'<rect width="100%" height="100%" fill="#ffffff"/>'
        + "".join(body) + "</svg>"
    )


@dataclass(frozen=True)
class Scale:
    """A linear map from data values to pixels, on the analysis scale (log for ratios)."""

    low: float
    high: float
    pixel_low: float
    pixel_high: float

    def __call__(self, value: float) -> float:
        span = self.high - self.low or 1.0
        return self.pixel_low + (value - self.low) / span * (self.pixel_high - self.pixel_low)

    def clip(self, value: float) -> float:
        return min(max(value, self.low), self.high)


def nice_step(span: float, target_ticks: int = 4) -> float:
    """A round tick step (1, 2, 2.5 or 5 × 10ⁿ) giving about ``target_ticks`` intervals."""
    if span <= 0 or not math.isfinite(span):
        return 1.0
    raw = span / target_ticks
    power = 10 ** math.floor(math.log10(raw))
    return next(m * power for m in (1, 2, 2.5, 5, 10) if m * power >= raw)


def nice_ticks(low: float, high: float, target_ticks: int = 4) -> list[float]:
    step = nice_step(high - low, target_ticks)
    first = math.ceil(low / step - 1e-9) * step
    ticks, value = [], first
    while value <= high + step * 1e-6:
        ticks.append(0.0 if abs(value) < step * 1e-9 else round(value, 10))
        value += step
    return ticks


def tick_label(value: float) -> str:
    return f"{value:g}"
