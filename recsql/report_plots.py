"""The report's pictures: matplotlib figures written as inline SVG (no files, no network).

Each function takes plain data and returns one ``Plot`` (its SVG text and size). Figures are
made with ``matplotlib.figure.Figure``, never pyplot, so nothing global changes and plots can be
drawn from any thread; text stays text (``svg.fonttype: none``) so the page is small and sharp.
"""

from __future__ import annotations

import io
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import matplotlib
import numpy as np
from matplotlib.figure import Figure
from matplotlib.patches import Patch

WIDTH = 9.0  # inches; 864 CSS pixels, which the page's column holds without scaling
COLOURS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f"]
RANKER_COLOUR, BASELINE_COLOUR, WARN_COLOUR = "#1f77b4", "#9aa5b1", "#d62728"
FAMILY_COLOURS = {
    "item": "#1f77b4",
    "user": "#ff7f0e",
    "user_item": "#2ca02c",
    "sim": "#9467bd",
    "gen": "#8c564b",
}


@dataclass(frozen=True)
class Plot:
    """One picture of the report: inline SVG and its size in CSS pixels (96 per inch)."""

    name: str
    svg: str
    width_px: float
    height_px: float


def to_svg(name: str, figure: Figure) -> Plot:
    """The figure as an ``<svg>`` element (no XML prolog: it goes inside HTML)."""
    buffer = io.StringIO()
    with matplotlib.rc_context({"svg.fonttype": "none"}):
        figure.savefig(buffer, format="svg")
    text = buffer.getvalue()
    svg = text[text.index("<svg") :]
    svg = re.sub(r"<svg ", f'<svg data-plot="{name}" role="img" ', svg, count=1)
    width, height = figure.get_size_inches()
    return Plot(name, svg, float(width * 96), float(height * 96))


def figure(height: float, columns: int = 1) -> tuple[Figure, list]:
    fig = Figure(figsize=(WIDTH, height), layout="constrained")
    axes = fig.subplots(1, columns, squeeze=False)[0]
    for ax in axes:
        ax.spines[["top", "right"]].set_visible(False)
        ax.grid(axis="x", alpha=0.3)
    return fig, list(axes)


def methods_vs_k(
    name: str,
    values: Mapping[tuple[str, str, int], tuple[float, float | None, float | None]],
    metrics: Sequence[str],
    methods: Sequence[str],
    ks: Sequence[int],
    *,
    intervals: bool = True,
) -> Plot:
    """Per metric a panel: each method a row, a bar per K (with its 95 % interval)."""
    fig, axes = figure(0.6 + 0.32 * len(methods) * max(1, len(ks)) / 2, len(metrics))
    rows = np.arange(len(methods))
    height = 0.8 / len(ks)
    for ax, metric in zip(axes, metrics, strict=True):
        for position, k in enumerate(ks):
            means = np.array([values.get((m, metric, k), (np.nan, None, None))[0] for m in methods])
            low = np.array(
                [_or_nan(values.get((m, metric, k), (0, None, None))[1]) for m in methods]
            )
            high = np.array(
                [_or_nan(values.get((m, metric, k), (0, None, None))[2]) for m in methods]
            )
            errors = np.vstack([np.nan_to_num(means - low), np.nan_to_num(high - means)])
            ax.barh(
                rows + (position - (len(ks) - 1) / 2) * height, means, height=height,
                xerr=errors if intervals else None, color=COLOURS[position % len(COLOURS)], label=f"@{k}",
                error_kw={"elinewidth": 0.8, "capsize": 2},
            )  # fmt: skip
        ax.set_yticks(rows, methods if ax is axes[0] else [""] * len(methods))
        ax.invert_yaxis()
        ax.set_xlabel(f"{metric} (95 % CI)" if intervals else metric)
    axes[-1].legend(title="K", loc="lower right", fontsize=8)
    return to_svg(name, fig)


def _or_nan(value: float | None) -> float:
    return np.nan if value is None else value


def grouped_bars(
    name: str,
    groups: Sequence[str],
    series: Mapping[str, Sequence[float]],
    *,
    xlabel: str,
    highlight: str | None = None,
) -> Plot:
    """Horizontal bars: a row per group, a bar per series (snapshots, methods)."""
    fig, (ax,) = figure(0.8 + 0.22 * len(groups) * max(1, len(series)) ** 0.5)
    rows = np.arange(len(groups))
    height = 0.8 / max(1, len(series))
    for position, (label, values) in enumerate(series.items()):
        ax.barh(
            rows + (position - (len(series) - 1) / 2) * height, values, height=height,
            color=COLOURS[position % len(COLOURS)], label=label,
        )  # fmt: skip
    labels = [f"{group}  ◀" if group == highlight else group for group in groups]
    ax.set_yticks(rows, labels)
    ax.invert_yaxis()
    ax.set_xlabel(xlabel)
    if len(series) > 1:
        ax.legend(fontsize=8, loc="lower right")
    return to_svg(name, fig)


def ranked_bars(
    name: str,
    labels: Sequence[str],
    values: Sequence[float],
    *,
    xlabel: str,
    colours: Sequence[str] | None = None,
    threshold: float | None = None,
    legend: Mapping[str, str] | None = None,
) -> Plot:
    """One bar per label, largest first as given; an optional threshold line."""
    fig, (ax,) = figure(0.8 + 0.24 * len(labels))
    rows = np.arange(len(labels))
    ax.barh(rows, values, color=list(colours) if colours else RANKER_COLOUR)
    ax.set_yticks(rows, labels, fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel(xlabel)
    if threshold is not None:
        ax.axvline(threshold, color=WARN_COLOUR, linestyle="--", linewidth=1, label="warns above")
    handles = [Patch(color=colour, label=label) for label, colour in (legend or {}).items()]
    if handles or threshold is not None:
        ax.legend(
            handles=handles + ax.get_legend_handles_labels()[0], fontsize=8, loc="lower right"
        )
    return to_svg(name, fig)


def contributions(
    name: str, users: Sequence[tuple[str, Sequence[str], Sequence[str], np.ndarray]]
) -> Plot:
    """Per user a panel: the features that moved their top items' scores most, a bar per item.

    ``users``: (user id, item labels, feature names, items x features contributions).
    """
    fig = Figure(figsize=(WIDTH, 1.0 + 2.4 * len(users)), layout="constrained")
    axes = fig.subplots(len(users), 1, squeeze=False)[:, 0]
    for ax, (user, items, features, values) in zip(axes, users, strict=True):
        rows = np.arange(len(features))
        height = 0.8 / max(1, len(items))
        for position, item in enumerate(items):
            ax.barh(
                rows + (position - (len(items) - 1) / 2) * height, values[position],
                height=height, color=COLOURS[position % len(COLOURS)], label=item,
            )  # fmt: skip
        ax.axvline(0, color="#333", linewidth=0.8)
        ax.set_yticks(rows, features, fontsize=8)
        ax.invert_yaxis()
        ax.set_title(f"user {user}: what raised (right) or lowered (left) each top item's score",
                     fontsize=9, loc="left")  # fmt: skip
        ax.legend(fontsize=7, loc="lower right")
        ax.spines[["top", "right"]].set_visible(False)
    axes[-1].set_xlabel("contribution to the raw score (path attribution)")
    return to_svg(name, fig)


def score_and_first_hit(
    name: str,
    hit_scores: np.ndarray,
    other_scores: np.ndarray,
    first_hits: Mapping[str, np.ndarray],
    depth: int,
) -> Plot:
    """Left: the ranker's test scores of next items vs the rest. Right: rank of the first hit
    per user for each method (the last bar: no hit in the top ``depth``)."""
    fig, (left, right) = figure(3.2, 2)
    scores = np.concatenate([hit_scores, other_scores])
    bins = np.linspace(*np.percentile(scores, [0.5, 99.5]), 40) if len(scores) else 10
    left.hist(other_scores, bins=bins, density=True, alpha=0.6, color=BASELINE_COLOUR,
              label=f"other candidates ({len(other_scores):,})")  # fmt: skip
    left.hist(hit_scores, bins=bins, density=True, alpha=0.6, color=RANKER_COLOUR,
              label=f"items bought next ({len(hit_scores):,})")  # fmt: skip
    left.set_xlabel("ranker score, test snapshot")
    left.set_ylabel("density")
    left.legend(fontsize=7)
    positions = np.arange(1, depth + 2)
    width = 0.8 / max(1, len(first_hits))
    for index, (method, ranks) in enumerate(first_hits.items()):
        counts = np.bincount(np.where(ranks > 0, ranks, depth + 1), minlength=depth + 2)[1:]
        share = counts / max(1, len(ranks))
        right.bar(positions + (index - (len(first_hits) - 1) / 2) * width, share, width=width,
                  color=[RANKER_COLOUR, BASELINE_COLOUR][index % 2], label=method)  # fmt: skip
    ticks = [1, *range(5, depth + 1, 5)]
    right.set_xticks([*ticks, depth + 1], [*map(str, ticks), "none"])
    right.set_xlabel(f"rank of the first item bought next (none = not in the top {depth})")
    right.set_ylabel("share of users")
    right.legend(fontsize=7)
    return to_svg(name, fig)


def segments(
    name: str,
    panels: Sequence[tuple[str, Sequence[str], Mapping[str, Sequence[float]], Sequence[int]]],
    metric: str,
) -> Plot:
    """A panel per way of cutting the users: (title, segment labels, method -> values, users)."""
    fig, axes = figure(0.9 + 0.26 * max(len(labels) for _, labels, _, _ in panels), len(panels))
    for ax, (title, labels, series, users) in zip(axes, panels, strict=True):
        rows = np.arange(len(labels))
        height = 0.8 / max(1, len(series))
        for index, (method, values) in enumerate(series.items()):
            ax.barh(rows + (index - (len(series) - 1) / 2) * height, values, height=height,
                    color=[RANKER_COLOUR, BASELINE_COLOUR][index % 2], label=method)  # fmt: skip
        ax.set_yticks(rows, [f"{label} ({n:,})" for label, n in zip(labels, users, strict=True)],
                      fontsize=7)  # fmt: skip
        ax.invert_yaxis()
        ax.set_title(title, fontsize=9)
        ax.set_xlabel(metric)
    axes[0].legend(fontsize=7, loc="lower right")
    return to_svg(name, fig)


def trend(
    name: str,
    versions: Sequence[str],
    ranker: Sequence[tuple[float, float | None, float | None]],
    baseline: Sequence[float | None],
    metric: str,
) -> Plot:
    """The ranker's metric (with its interval) and the best baseline's, per model version."""
    fig, (ax,) = figure(3.0)
    x = np.arange(len(versions))
    means = np.array([value for value, _, _ in ranker])
    low = np.array([_or_nan(lo) for _, lo, _ in ranker])
    high = np.array([_or_nan(hi) for _, _, hi in ranker])
    ax.errorbar(
        x, means, yerr=np.vstack([np.nan_to_num(means - low), np.nan_to_num(high - means)]),
        marker="o", color=RANKER_COLOUR, capsize=3, label="ranker (95 % CI)",
    )  # fmt: skip
    ax.plot(x, [_or_nan(value) for value in baseline], marker="s", color=BASELINE_COLOUR,
            linestyle="--", label="best baseline")  # fmt: skip
    ax.set_xticks(x, versions, rotation=20, ha="right", fontsize=7)
    ax.set_ylabel(f"{metric}, test snapshot")
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize=8)
    return to_svg(name, fig)


def lines(name: str, x: Sequence, series: Mapping[str, Sequence[float]], *, ylabel: str) -> Plot:
    """A line per series over a shared x (time)."""
    fig, (ax,) = figure(2.8)
    for index, (label, values) in enumerate(series.items()):
        ax.plot(x, values, color=COLOURS[index % len(COLOURS)], label=label, linewidth=1.2)
    ax.set_ylabel(ylabel)
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize=7, ncol=3)
    ax.tick_params(axis="x", labelrotation=30, labelsize=7)
    return to_svg(name, fig)
