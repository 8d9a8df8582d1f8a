"""Figures of the feedback pages and the batch report, drawn with matplotlib's Agg canvas into PNG data URIs.

No figure shows a text a student wrote: titles and labels are the grader's own words and numbers. A figure with
no data to draw is None, so a page never holds an empty plot.
"""

from __future__ import annotations

import base64
import io
import math
from dataclasses import dataclass

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator
from PIL import Image

from autograder.measuring.facts import Picture, Prediction

INK = "#1f2328"
MUTED = "#59636e"
GRID = "#d1d9e0"
GOOD = "#1a7f37"
BAD = "#cf222e"
FILL = "#0969da"
SERIES = {"loss": ("training loss", "#0969da"), "val_loss": ("validation loss", "#bc4c00")}


@dataclass(frozen=True)
class Drawn:
    """One figure: what it shows (for the heading and the alt text) and its PNG as a data URI."""

    title: str
    alt: str
    uri: str


def _figure(width: float, height: float) -> Figure:
    figure = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def _axes(figure: Figure):
    axes = figure.add_subplot()
    axes.spines[["top", "right"]].set_visible(False)
    axes.spines[["left", "bottom"]].set_color(MUTED)
    axes.tick_params(colors=MUTED, labelsize=9)
    axes.grid(axis="y", color=GRID, linewidth=0.8)
    axes.set_axisbelow(True)
    return axes


def png(figure: Figure, dpi: int) -> str:
    """The figure as a data URI of a palette PNG (a few times smaller than matplotlib's RGBA one)."""
    figure.set_dpi(dpi)
    figure.canvas.draw()
    rgb = np.asarray(figure.canvas.buffer_rgba())[..., :3]
    buffer = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(rgb)).quantize(colors=256).save(buffer, "PNG", optimize=True)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def curves(history: dict[str, list[float]], reference: dict[str, list[float]] | None, dpi: int) -> Drawn | None:
    """Loss and val_loss per epoch as the notebook reported them, with the solution's run dashed behind them."""
    if not any(history.get(key) for key in SERIES):
        return None
    figure = _figure(7.6, 3.0)
    axes = _axes(figure)
    styles = [
        (reference or {}, "--", {"alpha": 0.45, "linewidth": 1.6}, "solution's"),
        (history, "-o", {"linewidth": 2.2, "markersize": 4.5}, "your"),
    ]
    for key, (label, color) in SERIES.items():
        for source, line, looks, whose in styles:
            if values := source.get(key):
                axes.plot(range(1, len(values) + 1), values, line, color=color, label=f"{whose} {label}", **looks)
    axes.set_xlabel("epoch", color=MUTED)
    axes.set_ylabel("loss", color=MUTED)
    axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    axes.set_ylim(bottom=min(0.0, axes.get_ylim()[0]))
    axes.legend(frameon=False, fontsize=9, loc="center left", bbox_to_anchor=(1.02, 0.5))
    alt = "loss and val_loss per epoch" + (", with the solution's curves dashed" if reference else "")
    return Drawn("Training curves", alt, png(figure, dpi))


def iou_gauge(iou: float | None, threshold: float | None, baseline: float | None, dpi: int) -> Drawn | None:
    """The foreground IoU as a bar from 0 to 1, against the threshold and the all-pet baseline."""
    if iou is None:
        return None
    figure = _figure(7.6, 1.45)
    axes = figure.add_subplot()
    passed = threshold is None or iou >= threshold
    axes.barh([0], [1.0], height=0.55, color="#eff2f5")
    axes.barh([0], [iou], height=0.55, color=GOOD if passed else BAD)
    axes.text(
        iou - 0.01 if iou > 0.2 else iou + 0.01,
        0,
        f"{iou:.3f}",
        ha="right" if iou > 0.2 else "left",
        va="center",
        color="white" if iou > 0.2 else INK,
        fontsize=11,
    )
    marks = [(threshold, "threshold", INK, "-", 1), (baseline, "all-pet baseline", "#6e7781", "--", -1)]
    for value, label, color, style, side in marks:
        if value is not None:
            axes.plot([value, value], [-0.4 * side, 0.42 * side], style, color=color, linewidth=2.2)
            axes.text(
                value,
                0.46 * side,
                f"{label} {value:.2f}",
                ha="center",
                va="bottom" if side > 0 else "top",
                color=color,
                fontsize=9,
            )
    axes.set_xlim(0, 1)
    axes.set_ylim(-0.85, 0.85)
    axes.set_yticks([])
    axes.spines[["top", "right", "left"]].set_visible(False)
    axes.tick_params(colors=MUTED, labelsize=9)
    axes.set_xlabel("foreground IoU on the held-out examples", color=MUTED, fontsize=9)
    alt = f"foreground IoU {iou:.3f}" + (f", threshold {threshold:.2f}" if threshold is not None else "")
    alt += f", all-pet baseline {baseline:.2f}" if baseline is not None else ""
    return Drawn("Foreground IoU", alt, png(figure, dpi))


def _array(picture: Picture) -> np.ndarray:
    """A picture as (h, w, 3) RGB bytes: grey pictures repeated over three channels, an alpha channel dropped."""
    array = np.frombuffer(picture.bytes(), np.uint8).reshape(picture.shape)
    if array.ndim == 3 and array.shape[2] not in (3, 4):
        array = array[..., 0]
    return np.repeat(array[..., None], 3, axis=2) if array.ndim == 2 else array[..., :3]


def _panel(array: np.ndarray, side: int) -> np.ndarray:
    """`array` scaled (nearest pixel, aspect kept) into a white `side` x `side` square framed in GRID."""
    height, width = array.shape[:2]
    scale = (side - 2) / max(height, width)
    rows = (np.arange(max(1, round(height * scale))) / scale).astype(int)
    columns = (np.arange(max(1, round(width * scale))) / scale).astype(int)
    scaled = array[rows][:, columns]
    panel = np.full((side, side, 3), 255, np.uint8)
    panel[[0, -1], :] = panel[:, [0, -1]] = [int(GRID[i : i + 2], 16) for i in (1, 3, 5)]
    top, left = (side - len(rows)) // 2, (side - len(columns)) // 2
    panel[top : top + len(rows), left : left + len(columns)] = scaled
    return panel


def predictions(shown: list[Prediction], dpi: int) -> Drawn | None:
    """Each test image with its true and predicted mask (two triples a row), the IoU above the prediction: one
    picture of pixels with the titles over it (a grid of axes costs several times more to lay out and draw)."""
    if not shown:
        return None
    per_row = 1 if len(shown) == 1 else 2
    rows = math.ceil(len(shown) / per_row)
    side, gap, pair, title = (round(inches * dpi) for inches in (1.3, 0.06, 0.22, 0.26))
    width = per_row * (3 * side + 2 * gap) + (per_row - 1) * pair + 2 * gap
    height = rows * (side + title) + gap
    canvas = np.full((height, width, 3), 255, np.uint8)
    figure = Figure(figsize=(width / dpi, height / dpi), dpi=dpi)
    FigureCanvasAgg(figure)
    for index, prediction in enumerate(shown):
        top = (index // per_row) * (side + title) + title
        panels = [
            (prediction.image, f"test image {index + 1}", INK),
            (prediction.truth, "true mask", INK),
            (prediction.predicted, f"predicted, IoU {prediction.iou:.2f}", GOOD if prediction.iou >= 0.5 else BAD),
        ]
        for column, (picture, words, color) in enumerate(panels):
            left = gap + (index % per_row) * (3 * side + 2 * gap + pair) + column * (side + gap)
            canvas[top : top + side, left : left + side] = _panel(_array(picture), side)
            middle, base = (left + side / 2) / width, 1 - (top - 0.2 * title) / height
            figure.text(middle, base, words, ha="center", va="bottom", fontsize=8, color=color)
    figure.figimage(canvas, origin="upper")
    alt = "test images with their true and predicted masks; IoU per image: " + ", ".join(f"{p.iou:.2f}" for p in shown)
    return Drawn("Your model's predictions on the grader's test images", alt, png(figure, dpi))


def histogram(
    values: list[float], edges: list[float], label: str, dpi: int, marker: float | None = None, marker_label: str = ""
) -> Drawn | None:
    """A histogram of `values` over `edges`, a vertical line at `marker` (e.g. the IoU threshold)."""
    if not values:
        return None
    figure = _figure(5.6, 2.6)
    axes = _axes(figure)
    axes.hist(np.clip(values, edges[0], edges[-1]), bins=edges, color=FILL, edgecolor="white", linewidth=1)
    if marker is not None:
        axes.axvline(marker, color=BAD, linewidth=2, linestyle="--")
        axes.text(marker, axes.get_ylim()[1], f" {marker_label}", color=BAD, fontsize=9, va="top")
    axes.yaxis.set_major_locator(MaxNLocator(integer=True))
    axes.set_xlabel(label, color=MUTED)
    axes.set_ylabel("students", color=MUTED)
    return Drawn(label[0].upper() + label[1:], f"histogram of {label} over {len(values)} students", png(figure, dpi))


def section_means(means: dict[str, tuple[float, float]], dpi: int) -> Drawn | None:
    """The mean points of each section as a share of its points (title -> (mean, maximum))."""
    if not means:
        return None
    titles = list(means)[::-1]
    shares = [means[t][0] / means[t][1] if means[t][1] else 0.0 for t in titles]
    figure = _figure(5.6, 0.45 * len(titles) + 0.7)
    axes = _axes(figure)
    axes.grid(axis="x", color=GRID, linewidth=0.8)
    axes.grid(axis="y", visible=False)
    axes.barh(titles, [1.0] * len(titles), color="#eff2f5", height=0.6)
    axes.barh(titles, shares, color=FILL, height=0.6)
    for row, title in enumerate(titles):
        mean, maximum = means[title]
        axes.text(1.01, row, f"{mean:.1f} / {maximum:g}", va="center", fontsize=9, color=INK)
    axes.set_xlim(0, 1.18)
    axes.set_xticks([0, 0.25, 0.5, 0.75, 1.0], ["0%", "25%", "50%", "75%", "100%"])
    axes.tick_params(axis="y", labelsize=9, colors=INK)
    return Drawn(
        "Mean points per section",
        "mean points per section: " + ", ".join(f"{t} {means[t][0]:.1f} of {means[t][1]:g}" for t in means),
        png(figure, dpi),
    )
