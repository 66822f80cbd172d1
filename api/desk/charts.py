"""Bar charts drawn by the server as inline SVG, for the desk's insights page.

Why not a chart library: the desk's policy runs only its own files and no inline style, nothing may be fetched
from another host, and these charts are a handful of bars with two labelled axes: a few dozen lines of SVG text,
which every browser draws without a script. Colours come from the desk's stylesheet through class names (no
`style` attribute, which the policy would block). Each chart is an `img` with a `<title>` and a `<desc>` that
says what it shows in words, and the page puts the same figures in a table beside it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from markupsafe import Markup, escape

WIDTH = 360
HEIGHT = 160
LEFT = 44  # room for the value axis' labels
BOTTOM = 22  # room for the first and last bucket's label
TOP = 8


@dataclass(frozen=True, slots=True)
class Series:
    name: str
    values: Sequence[float | None]
    """One per bucket; None where there is nothing to show (no bar, not a zero one)."""
    css: str = "bar"


@dataclass(frozen=True, slots=True)
class Chart:
    key: str
    title: str
    labels: Sequence[str]
    """The buckets' names, oldest first."""
    series: Sequence[Series]
    shown: Callable[[float], str]
    """A value in words for the axis and the description: `42 %`, `$0.12`, `3.2 s`."""
    ceiling: float | None = None
    """The value axis' top, when it is fixed (1 for a rate); otherwise the largest value."""

    @property
    def legend(self) -> list[Series]:
        """The series to name under the chart: only where there are several to tell apart."""
        return list(self.series) if len(self.series) > 1 else []

    def svg(self) -> Markup:
        values = [v for s in self.series for v in s.values if v is not None]
        top = self.ceiling if self.ceiling is not None else max(values, default=0.0)
        top = top if top > 0 else 1.0
        plot_w, plot_h = WIDTH - LEFT - 6, HEIGHT - TOP - BOTTOM
        slot = plot_w / max(1, len(self.labels))
        bar_w = max(1.0, slot * 0.8 / max(1, len(self.series)))
        parts = [
            f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
            f'aria-labelledby="{self.key}-title {self.key}-desc" xmlns="http://www.w3.org/2000/svg">',
            f'<title id="{self.key}-title">{escape(self.title)}</title>',
            f'<desc id="{self.key}-desc">{escape(self.description())}</desc>',
        ]
        for fraction in (0.0, 0.5, 1.0):
            y = TOP + plot_h * (1 - fraction)
            parts.append(f'<line class="grid" x1="{LEFT}" x2="{WIDTH - 6}" y1="{y:.1f}" y2="{y:.1f}"/>')
            parts.append(
                f'<text class="axis" x="{LEFT - 4}" y="{y + 4:.1f}" text-anchor="end">'
                f"{escape(self.shown(top * fraction))}</text>"
            )
        for index, label in enumerate(self.labels):
            for number, series in enumerate(self.series):
                value = series.values[index]
                if value is None:
                    continue
                height = plot_h * min(value, top) / top
                x = LEFT + index * slot + slot * 0.1 + number * bar_w
                parts.append(
                    f'<rect class="{series.css}" x="{x:.1f}" y="{TOP + plot_h - height:.1f}" '
                    f'width="{bar_w:.1f}" height="{max(height, 0.5):.1f}">'
                    f"<title>{escape(f'{label}: {series.name} {self.shown(value)}')}</title></rect>"
                )
        if self.labels:
            base = HEIGHT - 6
            parts.append(f'<text class="axis" x="{LEFT}" y="{base}">{escape(self.labels[0])}</text>')
            parts.append(
                f'<text class="axis" x="{WIDTH - 6}" y="{base}" text-anchor="end">{escape(self.labels[-1])}</text>'
            )
        parts.append("</svg>")
        return Markup("".join(parts))  # noqa: S704 - every text in it went through `escape`

    def description(self) -> str:
        """The chart in words: the range, and the latest value of each series that has one."""
        if not self.labels:
            return f"{self.title}: no data."
        said = []
        for series in self.series:
            latest = next(
                (
                    (label, v)
                    for label, v in zip(reversed(self.labels), reversed(series.values), strict=True)
                    if v is not None
                ),
                None,
            )
            if latest is None:
                said.append(f"{series.name}: no data")
            else:
                said.append(f"{series.name} {self.shown(latest[1])} ({latest[0]})")
        return f"{self.title}, {self.labels[0]} to {self.labels[-1]}. Latest: {'; '.join(said)}."
