"""Small inline SVG charts for the status pages and the monthly report.

Our own writer rather than a plotting library: the charts must sit inline in
an HTML mail, where no script runs and style sheets are often dropped, so
every colour, font and size is an attribute on the element itself. The SVG
plotting libraries write a style sheet (and pygal a script) into their SVG,
which mail clients strip, and bring options we would have to turn off one by
one; the two shapes we need (labelled horizontal bars, columns over time)
are a few dozen lines here.

Charts stay readable in black and white: every bar carries its label and
value as text next to it, so no meaning rests on colour alone. A VO keeps
one colour in every chart (:func:`colour_of`).
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from html import escape

# Okabe-Ito (distinguishable with the common colour-vision deficiencies) and darker shades of it.
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#004C7A", "#9E6D00", "#006B4F",
           "#8A4F72")
# The VOs most reports show get colours of their own, so that they never share one.
KNOWN = {"atlas": 0, "cms": 1, "lhcb": 2, "alice": 3, "dteam": 4, "ops": 5}
NO_VO = "#999999"
PLAIN = "#4C72B0"
FONT = 'font-family="sans-serif" font-size="12"'
WIDTH = 440  # scaled down on a phone, where text still reads at this width


def colour_of(name: str | None) -> str:
    """The colour of a VO: the same in every chart and every month's report."""
    if not name or name.lower() in ("none", "null"):
        return NO_VO
    index = KNOWN.get(name.lower())
    return PALETTE[index if index is not None else zlib.crc32(name.encode("utf-8")) % len(PALETTE)]


@dataclass
class Bar:
    label: str
    value: float
    colour: str = PLAIN


def _number(value: float) -> str:
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:,.1f}" if abs(value) >= 1 else f"{value:.2g}"


def _svg(width: int, height: int, title: str, body: list[str]) -> str:
    return (f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" width="100%" '
            f'style="max-width:{width}px;height:auto" role="img" aria-label="{escape(title)}">'
            f"<title>{escape(title)}</title>" + "".join(body) + "</svg>")


def bars(title: str, bars_: list[Bar], unit: str, label_width: int = 150) -> str:
    """Horizontal bars, largest first as given, each with its label on the left and value on the right."""
    row, top = 20, 24
    height = top + row * max(len(bars_), 1) + 24
    plot = WIDTH - label_width - 60
    largest = max((b.value for b in bars_), default=0) or 1
    body = [f'<text x="0" y="14" {FONT} font-weight="bold">{escape(title)}</text>']
    for index, bar in enumerate(bars_):
        y = top + index * row
        length = max(bar.value / largest * plot, 0)
        label = bar.label if len(bar.label) <= 22 else bar.label[:8] + "…" + bar.label[-13:]
        body.append(f'<text x="{label_width - 6}" y="{y + 13}" text-anchor="end" {FONT}>{escape(label)}</text>')
        body.append(f'<rect x="{label_width}" y="{y + 2}" width="{length:.1f}" height="{row - 6}" '
                    f'fill="{bar.colour}" stroke="#000" stroke-width="0.5"/>')
        body.append(f'<text x="{label_width + length + 4:.1f}" y="{y + 13}" {FONT}>{_number(bar.value)}</text>')
    if not bars_:
        body.append(f'<text x="{label_width}" y="{top + 13}" {FONT}>no data</text>')
    axis_y = top + row * max(len(bars_), 1) + 4
    body.append(f'<line x1="{label_width}" y1="{top}" x2="{label_width}" y2="{axis_y}" stroke="#000"/>')
    body.append(f'<text x="{label_width + plot / 2:.0f}" y="{axis_y + 16}" text-anchor="middle" {FONT}>'
                f"{escape(unit)}</text>")
    return _svg(WIDTH, height, title, body)


def columns(title: str, points: list[tuple[str, float]], unit: str, axis: str, limit: float | None = None,
            every: int = 1) -> str:
    """Vertical columns over time (days, months), labelled below every ``every``-th column; the y axis
    says ``unit``; ``limit`` draws a dashed line (a threshold)."""
    left, top, plot_height = 56, 24, 160
    plot = WIDTH - left - 10
    height = top + plot_height + 44
    largest = max([value for _, value in points] + [limit or 0, 0]) or 1
    width = plot / max(len(points), 1)
    body = [f'<text x="0" y="14" {FONT} font-weight="bold">{escape(title)}</text>']
    base = top + plot_height
    for fraction in (0, 0.5, 1):
        y = base - fraction * plot_height
        body.append(f'<line x1="{left}" y1="{y:.1f}" x2="{left + plot}" y2="{y:.1f}" stroke="#ccc"/>')
        body.append(f'<text x="{left - 4}" y="{y + 4:.1f}" text-anchor="end" {FONT}>'
                    f"{_number(largest * fraction)}</text>")
    for index, (label, value) in enumerate(points):
        x = left + index * width
        size = value / largest * plot_height
        body.append(f'<rect x="{x + width * 0.1:.1f}" y="{base - size:.1f}" width="{width * 0.8:.1f}" '
                    f'height="{size:.1f}" fill="{PLAIN}" stroke="#000" stroke-width="0.5">'
                    f"<title>{escape(label)}: {_number(value)} {escape(unit)}</title></rect>")
        if index % every == 0:
            body.append(f'<text x="{x + width / 2:.1f}" y="{base + 14}" text-anchor="middle" {FONT}>'
                        f"{escape(label)}</text>")
    if not points:
        body.append(f'<text x="{left + 8}" y="{base - 8}" {FONT}>no data</text>')
    if limit is not None:
        y = base - limit / largest * plot_height
        body.append(f'<line x1="{left}" y1="{y:.1f}" x2="{left + plot}" y2="{y:.1f}" stroke="#000" '
                    f'stroke-dasharray="4 3"/>')
    body.append(f'<line x1="{left}" y1="{top}" x2="{left}" y2="{base}" stroke="#000"/>')
    body.append(f'<line x1="{left}" y1="{base}" x2="{left + plot}" y2="{base}" stroke="#000"/>')
    body.append(f'<text x="12" y="{top + plot_height / 2:.0f}" text-anchor="middle" {FONT} '
                f'transform="rotate(-90 12 {top + plot_height / 2:.0f})">{escape(unit)}</text>')
    body.append(f'<text x="{left + plot / 2:.0f}" y="{base + 34}" text-anchor="middle" {FONT}>{escape(axis)}</text>')
    return _svg(WIDTH, height, title, body)
