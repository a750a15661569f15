"""Figures of a two-result comparison (:class:`core.compare.Comparison`): A, B and A − B scrubbed together,
the per-frame correlation, and the two saliency maps with their difference.

The scrubbable figure works like the viewer's frame view (one Plotly figure, an animation frame per
heatmap frame, images swapped client-side), with three panels that move together.
"""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from core.compare import Comparison
from core.overlay import colorize, overlay, playback_fps
from core.result import ExplainResult
from pages.ui.viewer import add_player, colorscale

DIVERGING = "RdBu_r"  # A − B: red where A is higher, blue where B is


def _panel(view: ExplainResult, maps: np.ndarray, index: np.ndarray, alpha: float, colormap: str) -> np.ndarray:
    """uint8 ``[N, H, W, 3]``: the overlay on the result's frames when it has them, else the colored heatmap."""
    frames = view.flat_frames()
    if frames is not None and frames.shape[1:3] == maps.shape[1:]:
        return overlay(frames[index], maps, alpha=alpha, colormap=colormap)
    return (colorize(maps, colormap) * 255).astype(np.uint8)


def difference_images(difference: np.ndarray) -> np.ndarray:
    """A − B in [-1, 1] as uint8 RGB with a diverging colormap (white: equal)."""
    return (colorize((np.clip(difference, -1, 1) + 1) / 2, DIVERGING) * 255).astype(np.uint8)


def comparison_figure(cmp: Comparison, a: ExplainResult, b: ExplainResult, names: tuple[str, str], *,
                      alpha: float = 0.5, colormap: str = "viridis") -> go.Figure:
    """A | B | A − B for every paired frame, one slider and a play button moving all three."""
    panels = [_panel(a, cmp.a, cmp.a_index, alpha, colormap), _panel(b, cmp.b, cmp.b_index, alpha, colormap),
              difference_images(cmp.difference)]
    num = len(cmp.a)
    fig = make_subplots(rows=1, cols=3, subplot_titles=(names[0], names[1], f"{names[0]} − {names[1]}"),
                        horizontal_spacing=0.04)
    for col, (scale, low, high, x) in enumerate(((colorscale(colormap), 0, 1, 0.64),
                                                  (colorscale(DIVERGING), -1, 1, 1.0)), start=2):
        fig.add_trace(go.Scatter(x=[None], y=[None], mode="markers", hoverinfo="skip", showlegend=False, marker=dict(
            colorscale=scale, cmin=low, cmax=high, color=[low], showscale=True,
            colorbar=dict(len=0.8, thickness=10, x=x))), row=1, col=col)

    correlation = cmp.correlation
    labels = [f"Pair {i + 1}/{num} · {cmp.labels[i]} · r = {correlation[i]:.2f}" for i in range(num)]
    add_player(fig, lambda i: [panel[i] for panel in panels], labels, pixel_aspect=a.pixel_aspect,
               fps=playback_fps(a), slider_x=0.1)
    fig.update_layout(height=400, margin=dict(l=10, r=10, t=50, b=10), plot_bgcolor="white")
    return fig


def curves_figure(cmp: Comparison) -> go.Figure:
    """Per-frame Pearson correlation and mean |A − B| of the paired frames."""
    x = np.arange(1, len(cmp.labels) + 1)
    fig = go.Figure()
    for name, values in (("correlation", cmp.correlation), ("mean |A − B|", cmp.mean_abs_difference)):
        fig.add_trace(go.Scatter(x=x, y=values, name=name, mode="lines+markers", customdata=cmp.labels,
                                 hovertemplate=f"{name} %{{y:.3f}}<br>%{{customdata}}<extra></extra>"))
    fig.update_layout(height=300, margin=dict(l=10, r=10, t=40, b=10), title_text="Per frame",
                      xaxis_title="frame pair", yaxis_range=[-1.05, 1.05],
                      legend=dict(orientation="h", y=1.12, x=1, xanchor="right"))
    return fig


def saliency_figure(cmp: Comparison, names: tuple[str, str], colormap: str = "viridis", *,
                    pixel_aspect: float = 1.0) -> go.Figure:
    """The two clip saliency maps (mean over the paired frames) and their difference, each with the source
    video's proportions (``pixel_aspect``: width / height of a heatmap pixel there, as the frame view uses)."""
    sal_a, sal_b = cmp.a.mean(axis=0), cmp.b.mean(axis=0)
    fig = make_subplots(rows=1, cols=3, horizontal_spacing=0.06,
                        subplot_titles=(f"Saliency {names[0]}", f"Saliency {names[1]}", "Difference"))
    top = max(1e-6, float(max(sal_a.max(), sal_b.max())))
    for col, (z, scale, low, high, x) in enumerate(((sal_a, colorscale(colormap), 0, top, None),
                                                    (sal_b, colorscale(colormap), 0, top, 0.64),
                                                    (sal_a - sal_b, colorscale(DIVERGING), -top, top, 1.0)), start=1):
        fig.add_trace(go.Heatmap(z=z, colorscale=scale, zmin=low, zmax=high, showscale=x is not None,
                                 colorbar=dict(x=x, len=0.8, thickness=10) if x is not None else None,
                                 hovertemplate="x %{x}, y %{y}: %{z:.3f}<extra></extra>"), row=1, col=col)
        fig.update_yaxes(autorange="reversed", scaleanchor=f"x{col if col > 1 else ''}", scaleratio=1 / pixel_aspect,
                         showticklabels=False, constrain="domain", row=1, col=col)
        fig.update_xaxes(showticklabels=False, constrain="domain", row=1, col=col)
    fig.update_layout(height=300, margin=dict(l=10, r=10, t=40, b=10))
    return fig
