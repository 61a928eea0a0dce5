"""Charts as inline SVG built on the server: no script, no library, no CDN. Every
text is escaped (format_html); colours are SVG presentation attributes, which the
site's Content-Security-Policy allows (it forbids inline style and script). Each
chart carries a <title>/<desc> and the page shows its figures as a table too.

The dashboard's charts are made from reports.metrics' MetricsSummary: the same
figures as the operator metrics and productivity reports."""

from __future__ import annotations

import datetime
import math
from collections.abc import Sequence
from dataclasses import dataclass, field

from django.utils.html import format_html
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext as _

from chats.enums import Messenger
from reports.metrics import MetricsSummary

WIDTH = 720
HEIGHT = 260
LEFT, RIGHT, TOP, BOTTOM = 48, 12, 16, 56
LABEL_CHARS = 14
MAX_DAY_BUCKETS = 92  # longer ranges are shown by month
HISTOGRAM_BINS = 10

BAR_COLOUR = "#3b6ea8"
LINE_COLOUR = "#c0392b"
MESSENGER_COLOURS = {
    Messenger.WEB: "#3b6ea8",
    Messenger.TELEGRAM: "#2aa3d8",
    Messenger.WHATSAPP: "#2e9d55",
    Messenger.VIBER: "#7d4fb2",
    Messenger.FACEBOOK: "#1f4f9c",
    Messenger.ALICE: "#b2456e",
    Messenger.YANDEX: "#d9822b",
    Messenger.VK: "#5a7fa8",
    Messenger.SKYPE: "#00a2d1",
    Messenger.SLACK: "#8a3a78",
    Messenger.WECHAT: "#57a639",
    Messenger.SNAPCHAT: "#c9b400",
    Messenger.LINE: "#22863a",
}


@dataclass(frozen=True)
class Series:
    """One stack layer of a stacked bar chart."""

    key: str
    label: str
    colour: str
    values: Sequence[float]


@dataclass(frozen=True)
class ReferenceLine:
    """A vertical line at a position on the category axis (e.g. an SLA)."""

    position: float  # in category slots from the left edge
    label: str
    value: str


@dataclass
class Chart:
    key: str
    title: str
    description: str
    svg: SafeString
    table_headers: list[str] = field(default_factory=list)
    table_rows: list[list[str]] = field(default_factory=list)


def _short(label: str) -> str:
    return label if len(label) <= LABEL_CHARS else label[: LABEL_CHARS - 1] + "…"


def _number(value: float) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def bar_svg(
    *,
    key: str,
    title: str,
    description: str,
    categories: Sequence[str],
    series: Sequence[Series],
    maximum: float | None = None,
    value_suffix: str = "",
    lines: Sequence[ReferenceLine] = (),
    axis_labels: Sequence[str] | None = None,
) -> SafeString:
    """Vertical bars, one per category, the series stacked bottom-up. Each bar is a
    <rect> with data-category, data-series and data-value, and a <title> tooltip."""
    totals = [sum(s.values[index] for s in series) for index in range(len(categories))]
    top = maximum if maximum is not None else max(totals, default=0)
    top = top or 1
    plot_width = WIDTH - LEFT - RIGHT
    plot_height = HEIGHT - TOP - BOTTOM
    slot = plot_width / max(len(categories), 1)
    bar_width = max(slot * 0.8, 1)
    axis_labels = [_short(label) for label in (axis_labels or categories)]
    # about 6.5 px per character at the labels' size: skip labels that would overlap
    widest = max((len(label) for label in axis_labels), default=1) * 6.5 + 4
    label_every = max(1, math.ceil(widest / slot))
    parts = [
        format_html(
            '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {} {}" class="chart" '
            'role="img" aria-labelledby="{}-title {}-desc">'
            '<title id="{}-title">{}</title><desc id="{}-desc">{}</desc>',
            WIDTH,
            HEIGHT,
            key,
            key,
            key,
            title,
            key,
            description,
        ),
        # axes and the top tick
        format_html(
            '<g class="axis"><line x1="{}" y1="{}" x2="{}" y2="{}" stroke="#888"/>'
            '<line x1="{}" y1="{}" x2="{}" y2="{}" stroke="#888"/>'
            '<text x="{}" y="{}" text-anchor="end" class="tick">{}{}</text>'
            '<text x="{}" y="{}" text-anchor="end" class="tick">0</text></g>',
            LEFT,
            TOP,
            LEFT,
            TOP + plot_height,
            LEFT,
            TOP + plot_height,
            LEFT + plot_width,
            TOP + plot_height,
            LEFT - 4,
            TOP + 4,
            _number(round(top, 2)),
            value_suffix,
            LEFT - 4,
            TOP + plot_height,
        ),
        mark_safe('<g class="bars">'),  # noqa: S308 - a constant
    ]
    for index, category in enumerate(categories):
        x = LEFT + index * slot + (slot - bar_width) / 2
        bottom = TOP + plot_height
        for layer in series:
            value = layer.values[index]
            if not value:
                continue
            height = plot_height * min(value / top, 1)
            bottom -= height
            parts.append(
                format_html(
                    '<rect x="{}" y="{}" width="{}" height="{}" fill="{}" '
                    'data-category="{}" data-series="{}" data-value="{}">'
                    "<title>{} · {}: {}{}</title></rect>",
                    f"{x:.1f}",
                    f"{bottom:.1f}",
                    f"{bar_width:.1f}",
                    f"{height:.1f}",
                    layer.colour,
                    category,
                    layer.key,
                    _number(value),
                    category,
                    layer.label,
                    _number(value),
                    value_suffix,
                )
            )
    parts.append(mark_safe('</g><g class="labels">'))  # noqa: S308 - a constant
    last = len(axis_labels) - 1
    for index, label in enumerate(axis_labels):
        # every label_every-th, and always the last (room made by skipping its neighbour)
        shown = index == last or (index % label_every == 0 and last - index >= label_every)
        if not shown:
            continue
        parts.append(
            format_html(
                '<text x="{}" y="{}" text-anchor="middle" class="category">{}</text>',
                f"{LEFT + index * slot + slot / 2:.1f}",
                TOP + plot_height + 16,
                label,
            )
        )
    parts.append(mark_safe("</g>"))  # noqa: S308 - a constant
    for line in lines:
        x = LEFT + line.position * slot
        parts.append(
            format_html(
                '<g class="reference"><line x1="{}" y1="{}" x2="{}" y2="{}" stroke="{}" '
                'stroke-width="2" stroke-dasharray="6 3" data-value="{}"/>'
                '<text x="{}" y="{}" class="reference-label" fill="{}">{}</text></g>',
                f"{x:.1f}",
                TOP,
                f"{x:.1f}",
                TOP + plot_height,
                LINE_COLOUR,
                line.value,
                f"{x + 4:.1f}",
                TOP + 12,
                LINE_COLOUR,
                line.label,
            )
        )
    if len(series) > 1:
        parts.append(_legend(series))
    parts.append(mark_safe("</svg>"))  # noqa: S308 - a constant
    return mark_safe("".join(parts))  # noqa: S308 - every part is escaped by format_html


def _legend(series: Sequence[Series]) -> SafeString:
    parts = [mark_safe('<g class="legend">')]  # noqa: S308 - a constant
    x = LEFT
    y = HEIGHT - 14
    for layer in series:
        parts.append(
            format_html(
                '<rect x="{}" y="{}" width="10" height="10" fill="{}"/>'
                '<text x="{}" y="{}" class="legend-label">{}</text>',
                x,
                y - 9,
                layer.colour,
                x + 14,
                y,
                layer.label,
            )
        )
        x += 20 + 7 * len(layer.label)
    parts.append(mark_safe("</g>"))  # noqa: S308 - a constant
    return mark_safe("".join(parts))  # noqa: S308 - every part is escaped by format_html


# -- the dashboard ------------------------------------------------------------------------


def _buckets(date_from: datetime.date, date_to: datetime.date) -> tuple[list[datetime.date], bool]:
    """The days of the range, or its months (their first days) when it is long."""
    days = (date_to - date_from).days + 1
    if days <= MAX_DAY_BUCKETS:
        return [date_from + datetime.timedelta(days=n) for n in range(days)], False
    months = []
    month = date_from.replace(day=1)
    while month <= date_to:
        months.append(month)
        month = (month + datetime.timedelta(days=32)).replace(day=1)
    return months, True


def _bucket_of(day: datetime.date, by_month: bool) -> datetime.date:
    return day.replace(day=1) if by_month else day


def _bucket_label(bucket: datetime.date, by_month: bool) -> str:
    return bucket.strftime("%Y-%m") if by_month else bucket.isoformat()


def _axis_label(bucket: datetime.date, by_month: bool) -> str:
    """Shorter, under the bars: 03-29 for a day, 2026-03 for a month."""
    return bucket.strftime("%Y-%m") if by_month else bucket.strftime("%m-%d")


def _percent(fraction: float | None) -> str:
    return "—" if fraction is None else f"{fraction * 100:.1f} %"


def dialogs_per_day_chart(
    summary: MetricsSummary, date_from: datetime.date, date_to: datetime.date
) -> Chart:
    buckets, by_month = _buckets(date_from, date_to)
    index = {bucket: n for n, bucket in enumerate(buckets)}
    counts: dict[str, list[int]] = {}
    for (day, messenger), count in summary.dialogs_by_day.items():
        bucket = _bucket_of(day, by_month)
        if bucket in index:
            counts.setdefault(messenger, [0] * len(buckets))[index[bucket]] += count
    labels = dict(Messenger.choices)
    series = [
        Series(
            key=messenger,
            label=str(labels.get(messenger, messenger)),
            colour=MESSENGER_COLOURS.get(messenger, BAR_COLOUR),
            values=counts[messenger],
        )
        for messenger in Messenger.values
        if messenger in counts
    ]
    categories = [_bucket_label(bucket, by_month) for bucket in buckets]
    title = _("Dialogs per month by channel") if by_month else _("Dialogs per day by channel")
    description = _("Dialogs started, by the day they started in the chat's time zone.")
    headers = [_("Day"), *[layer.label for layer in series], _("Total")]
    rows = [
        [
            category,
            *[str(layer.values[n]) for layer in series],
            str(sum(layer.values[n] for layer in series)),
        ]
        for n, category in enumerate(categories)
    ]
    return Chart(
        key="dialogs-per-day",
        title=title,
        description=description,
        svg=bar_svg(
            key="dialogs-per-day",
            title=title,
            description=description,
            categories=categories,
            axis_labels=[_axis_label(bucket, by_month) for bucket in buckets],
            series=series,
        ),
        table_headers=headers,
        table_rows=rows,
    )


def handoff_rate_chart(
    summary: MetricsSummary, date_from: datetime.date, date_to: datetime.date
) -> Chart:
    buckets, by_month = _buckets(date_from, date_to)
    dialogs = dict.fromkeys(buckets, 0)
    handed = dict.fromkeys(buckets, 0)
    for (day, _messenger), count in summary.dialogs_by_day.items():
        bucket = _bucket_of(day, by_month)
        if bucket in dialogs:
            dialogs[bucket] += count
    for day, count in summary.dialogs_with_request_by_day.items():
        bucket = _bucket_of(day, by_month)
        if bucket in handed:
            handed[bucket] += count
    rates = [handed[b] / dialogs[b] if dialogs[b] else None for b in buckets]
    categories = [_bucket_label(bucket, by_month) for bucket in buckets]
    title = _("Handoff rate")
    description = _("Dialogs in which a person was asked for, of all dialogs started that day.")
    return Chart(
        key="handoff-rate",
        title=title,
        description=description,
        svg=bar_svg(
            key="handoff-rate",
            title=title,
            description=description,
            categories=categories,
            axis_labels=[_axis_label(bucket, by_month) for bucket in buckets],
            series=[
                Series(
                    key="rate",
                    label=title,
                    colour=BAR_COLOUR,
                    values=[round(rate * 100, 1) if rate is not None else 0 for rate in rates],
                )
            ],
            maximum=100,
            value_suffix=" %",
        ),
        table_headers=[_("Day"), _("Dialogs"), _("With a request"), _("Handoff rate")],
        table_rows=[
            [category, str(dialogs[bucket]), str(handed[bucket]), _percent(rate)]
            for category, bucket, rate in zip(categories, buckets, rates, strict=True)
        ],
    )


def first_response_chart(summary: MetricsSummary) -> Chart:
    """A histogram of the first response times with a line at each chat's SLA: bins of
    equal width (0–s, s+1–2s, …) up to twice the largest SLA, one bin for longer, one
    for unanswered."""
    first = summary.sla_overall().first
    slas = sorted({rule.sla_first_seconds for rule in summary.rules.values()}) or [60]
    step = max(1, math.ceil(2 * slas[-1] / HISTOGRAM_BINS))
    counts = [0] * (HISTOGRAM_BINS + 2)
    for seconds, count in first.seconds_counts.items():
        # bins end on their upper bound, so a response of exactly the SLA (within it)
        # is left of the SLA line
        counts[min(max(seconds - 1, 0) // step, HISTOGRAM_BINS)] += count
    counts[-1] = first.unanswered
    categories = [f"{n * step + (n > 0)}–{(n + 1) * step} s" for n in range(HISTOGRAM_BINS)]
    categories += [f"> {HISTOGRAM_BINS * step} s", _("unanswered")]
    axis_labels = [label.removesuffix(" s") for label in categories]
    title = _("First response time")
    description = _(
        "First responses by time counted (working hours only where enabled); the "
        "dashed line is the first-response SLA."
    )
    lines = [
        ReferenceLine(
            position=sla / step, label=_("SLA %(seconds)s s") % {"seconds": sla}, value=str(sla)
        )
        for sla in slas
    ]
    return Chart(
        key="first-response",
        title=title,
        description=description,
        svg=bar_svg(
            key="first-response",
            title=title,
            description=description,
            categories=categories,
            axis_labels=axis_labels,
            series=[
                Series(key="responses", label=_("Responses"), colour=BAR_COLOUR, values=counts)
            ],
            lines=lines,
        ),
        table_headers=[_("Seconds"), _("First responses")],
        table_rows=[
            [category, str(count)] for category, count in zip(categories, counts, strict=True)
        ],
    )


def sla_by_operator_chart(summary: MetricsSummary) -> Chart:
    by_operator = summary.sla_by_operator()
    order = sorted(
        by_operator,
        key=lambda pk: (pk is None, summary.operator_label(pk).casefold(), pk or 0),
    )
    labels = [summary.operator_label(pk) for pk in order]
    fractions = [by_operator[pk].overall.within_sla_fraction for pk in order]
    title = _("SLA met per operator")
    description = _("Responses within the SLA, of the responses measured (first and later).")
    return Chart(
        key="sla-by-operator",
        title=title,
        description=description,
        svg=bar_svg(
            key="sla-by-operator",
            title=title,
            description=description,
            categories=labels,
            series=[
                Series(
                    key="within",
                    label=_("Within SLA"),
                    colour=BAR_COLOUR,
                    values=[round(f * 100, 1) if f is not None else 0 for f in fractions],
                )
            ],
            maximum=100,
            value_suffix=" %",
        ),
        table_headers=[_("Operator"), _("Responses measured"), _("Within SLA"), _("SLA met")],
        table_rows=[
            [
                label,
                str(by_operator[pk].overall.measured),
                str(by_operator[pk].overall.within_sla),
                _percent(fraction),
            ]
            for label, pk, fraction in zip(labels, order, fractions, strict=True)
        ],
    )


def ratings_chart(summary: MetricsSummary) -> Chart:
    keys = sorted(summary.ratings)
    categories = [f"{score}/{scale}" for scale, score in keys]
    counts = [summary.ratings[key] for key in keys]
    title = _("Ratings")
    description = _("Ratings given by clients, by score and scale.")
    return Chart(
        key="ratings",
        title=title,
        description=description,
        svg=bar_svg(
            key="ratings",
            title=title,
            description=description,
            categories=categories,
            series=[Series(key="ratings", label=_("Ratings"), colour=BAR_COLOUR, values=counts)],
        ),
        table_headers=[_("Score"), _("Ratings")],
        table_rows=[
            [category, str(count)] for category, count in zip(categories, counts, strict=True)
        ],
    )


def dashboard_charts(
    summary: MetricsSummary, *, date_from: datetime.date, date_to: datetime.date
) -> list[Chart]:
    return [
        dialogs_per_day_chart(summary, date_from, date_to),
        handoff_rate_chart(summary, date_from, date_to),
        first_response_chart(summary),
        sla_by_operator_chart(summary),
        ratings_chart(summary),
    ]
