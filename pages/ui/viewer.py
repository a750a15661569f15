"""The result viewer: overlay video beside a scrubbable frame view, the activation timeline, the
clip's saliency map, top-k predictions and the downloads.

It draws a :class:`core.result.ExplainResult`, made by the model or read back from files (without its
video or its npz), by the same code; parts that need frames or predictions are left out without them.
Scrubbing is client-side: the frame view is one Plotly figure with an animation frame per heatmap
frame and a slider, so moving it never reruns the script. The frame it shows is the one frame position of
the view: a small script in the page (:func:`player_frame`) reads the slider's position in the browser and
hands it to Python once the slider rests, and the PNG download takes that frame.

A page that has only a heatmap file::

    show_view(core.read_result(path), key=f"file-{digest}")
"""

from __future__ import annotations

import base64
import io
from collections.abc import Callable
from typing import Any

import numpy as np
import plotly.graph_objects as go
import streamlit as st
from plotly.subplots import make_subplots

from core.downloads import Download, frame_png, overlay_mp4, result_files
from core.overlay import colorize, colormap_lut, frame_label, overlay, playback_fps
from core.result import ExplainResult, topk

COLORMAPS = ("viridis", "jet", "inferno", "magma", "plasma", "turbo", "hot", "gray")

# Streamlit sends back what a Plotly chart selects, never where its slider stands; this component (plain
# JavaScript in the page, no iframe) reads the slider's ``active`` step of the chart keyed ``data.chart`` and
# reports it as its ``frame`` state once it has rested for ``data.rest`` ms, so playing or dragging costs no
# rerun until it stops.
_FRAME_JS = """
export default function (component) {
  const { data, setStateValue } = component;
  let reported = data.frame, seen = null, since = 0;
  const active = () => {
    const plot = document.querySelector(`.st-key-${data.chart} .js-plotly-plot`);
    const sliders = plot && plot.layout && plot.layout.sliders;
    return sliders && sliders.length ? (sliders[0].active || 0) : null;
  };
  const timer = setInterval(() => {
    const now = active();
    if (now === null) return;
    if (now !== seen) { seen = now; since = Date.now(); return; }
    if (now !== reported && Date.now() - since >= data.rest) { reported = now; setStateValue("frame", now); }
  }, 80);
  return () => clearInterval(timer);
}
"""


def player_frame(chart_key: str, key: str, rest_ms: int = 250) -> int:
    """The step the client-side player of the chart keyed ``chart_key`` shows (0 until the browser says):
    the one frame position that downloads of "this frame" follow."""
    current = st.session_state.get(key)
    known = int(current["frame"]) if current and current.get("frame") is not None else 0
    # Declared on every call, not once at import: the component registry belongs to the running Streamlit
    # runtime (a new one per AppTest, and on Streamlit 1.63 it does not outlive it), not to this module.
    reader = st.components.v2.component("mmcam.player_frame", js=_FRAME_JS)
    result = reader(key=key, data={"chart": chart_key, "rest": rest_ms, "frame": known},
                           default={"frame": known}, on_frame_change=lambda: None, height=0)
    value = result.get("frame") if result is not None else None
    return int(value) if value is not None else known


def preload_player() -> None:
    """Have the browser load Plotly (the player's library, several MB of JavaScript that Streamlit fetches the
    first time a page holds a Plotly chart) while the page waits for a click: an empty chart, hidden. Without it
    the first result waited seconds for the library after the explanation was done."""
    st.html("<style>.st-key-mmcam_preload_player {display: none}</style>")
    with st.container(key="mmcam_preload_player"):
        st.plotly_chart(go.Figure(layout=dict(height=40, margin=dict(l=0, r=0, t=0, b=0))), key="mmcam_plotly_preload",
                        config=dict(staticPlot=True, displayModeBar=False))


def colorscale(colormap: str, steps: int = 17) -> list[list]:
    """A Plotly colorscale sampled from the same matplotlib colormap the overlays use."""
    lut = colormap_lut(colormap)
    rows = lut[np.linspace(0, 255, steps).round().astype(int)]
    return [[i / (steps - 1), f"rgb({r * 255:.0f},{g * 255:.0f},{b * 255:.0f})"] for i, (r, g, b) in enumerate(rows)]


def _data_uri(image: np.ndarray) -> str:
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="JPEG", quality=90)
    return "data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode()


def add_player(fig: go.Figure, pictures: Callable[[int], list[np.ndarray]], labels: list[str], *, pixel_aspect: float,
               fps: float, slider_x: float, slider_y: float = 0.0,
               moving: Callable[[int], tuple[list[int], list[Any]]] | None = None) -> None:
    """Make ``fig`` scrub and play ``len(labels)`` steps: step ``i`` shows ``pictures(i)`` (uint8 RGB images of
    one size, one per subplot column of the first row) as layout images swapped client-side, without a
    redraw; the slider's current value shows ``labels[i]``, the play button runs at ``fps``. The slider starts
    at ``slider_x`` and hangs below ``slider_y`` (paper coordinates). ``moving(i)``, when given, returns
    ``(trace indices, traces)``: data that step ``i`` also sets (a marker on curves under the pictures)."""
    first = pictures(0)
    height, width = first[0].shape[:2]

    def images(i: int) -> list[dict]:
        return [dict(source=_data_uri(image), xref=f"x{c if c > 1 else ''}", yref=f"y{c if c > 1 else ''}", x=0,
                     y=0, sizex=width, sizey=height, xanchor="left", yanchor="top", sizing="stretch", layer="below")
                for c, image in enumerate(first if i == 0 else pictures(i), start=1)]

    for col in range(1, len(first) + 1):
        fig.update_xaxes(range=[0, width], showticklabels=False, showgrid=False, zeroline=False, constrain="domain",
                         row=1, col=col)
        fig.update_yaxes(range=[height, 0], showticklabels=False, showgrid=False, zeroline=False,
                         scaleanchor=f"x{col if col > 1 else ''}", scaleratio=1 / pixel_aspect,
                         constrain="domain", row=1, col=col)
    def frame(i: int) -> go.Frame:
        if moving is None:
            return go.Frame(name=str(i), layout=dict(images=images(i)))
        traces, data = moving(i)
        return go.Frame(name=str(i), layout=dict(images=images(i)), data=data, traces=traces)

    fig.frames = [frame(i) for i in range(len(labels))]
    still = dict(mode="immediate", frame=dict(duration=0, redraw=False), transition=dict(duration=0))
    steps = [dict(method="animate", label=label, args=[[str(i)], still]) for i, label in enumerate(labels)]
    fig.update_layout(
        images=fig.frames[0].layout.images,
        sliders=[dict(active=0, steps=steps, x=slider_x, len=1 - slider_x, y=slider_y, pad=dict(t=30, b=0), ticklen=4,
                      transition=dict(duration=0),
                      currentvalue=dict(xanchor="right", font=dict(size=13, color="#31333f")),
                      font=dict(color="rgba(0,0,0,0)"))],  # tick labels hidden: the current value says it all
        updatemenus=[dict(type="buttons", showactive=False, x=0, y=slider_y, xanchor="left", yanchor="top",
                          pad=dict(t=36, r=0), direction="left",
                          buttons=[dict(label="▶", method="animate",
                                        args=[None, dict(frame=dict(duration=round(1000 / fps), redraw=False),
                                                         fromcurrent=True, transition=dict(duration=0))]),
                                   dict(label="❚❚", method="animate", args=[[None], still])])],
    )


def warm_player() -> None:
    """Draw and serialise every figure of a tiny two-frame result, so the first real result does not pay for
    Plotly's first use (it builds its validator classes on demand) or PIL's import."""
    tiny = ExplainResult(heatmaps=np.linspace(0, 1, 32, dtype=np.float32).reshape(1, 2, 4, 4),
                         frames=np.zeros((1, 2, 4, 4, 3), np.uint8), frame_indices=np.array([[0, 1]]),
                         probs=np.array([0.6, 0.4], np.float32), target_class=0, classes=["a", "b"], fps=1.0)
    for figure in (frame_figure(tiny), timeline_figure(tiny), saliency_figure(tiny), topk_figure(tiny)):
        if figure is not None:
            figure.to_json()


def _frame_title(view: ExplainResult, index: int) -> str:
    return f"Frame {index + 1}/{view.num_frames} · {frame_label(view, index)}"


def frame_figure(view: ExplainResult, *, alpha: float = 0.5, colormap: str = "viridis") -> go.Figure:
    """Heatmap (and overlay, with frames) of every frame as animation frames, with a slider and play button.

    Each frame swaps two layout images (JPEG data URIs), which Plotly does without a redraw: a few
    milliseconds per step even for hundreds of frames. The slider's current value names the frame.
    """
    maps = view.flat_heatmaps()
    frames = view.flat_frames()
    cols = 1 if frames is None else 2
    zmax = max(1.0, float(maps.max()))

    def pictures(i: int) -> list[np.ndarray]:
        heat = (colorize(maps[i] / zmax, colormap) * 255).astype(np.uint8)
        return [heat] if frames is None else [heat, overlay(frames[i], maps[i], alpha=alpha, colormap=colormap)]

    fig = make_subplots(rows=1, cols=cols, subplot_titles=("Heatmap", "Overlay")[:cols], horizontal_spacing=0.08)
    colorbar = go.Scatter(x=[None], y=[None], mode="markers", hoverinfo="skip", showlegend=False, marker=dict(
        colorscale=colorscale(colormap), cmin=0, cmax=zmax, color=[0], showscale=True,
        colorbar=dict(len=0.8, thickness=12, x=1.0 if cols == 1 else 0.46)))
    fig.add_trace(colorbar, row=1, col=1)
    add_player(fig, pictures, [_frame_title(view, i) for i in range(view.num_frames)],
               pixel_aspect=view.pixel_aspect, fps=playback_fps(view), slider_x=0.16)
    fig.update_layout(height=470, margin=dict(l=10, r=10, t=60, b=10), plot_bgcolor="white")
    return fig


def timeline(view: ExplainResult) -> dict[str, np.ndarray]:
    """Mean and max activation of each heatmap frame (views one after another): when the model looks."""
    flat = view.flat_heatmaps()
    return {"mean": flat.mean(axis=(1, 2)), "max": flat.max(axis=(1, 2))}


def timeline_figure(view: ExplainResult) -> go.Figure:
    """Mean and max activation per heatmap frame: when the model looks."""
    curves = timeline(view)
    times = view.times()
    if view.legacy:  # frames known by their position in the file only (or placed on a video by assumption)
        placed = view.windows is not None
        x, title = view.source_frames(), "source frame (assumed)" if placed else "position in the file"
    elif view.num_views == 1:
        x, title = (times, "time in the video (s)") if times is not None else (view.source_frames(), "source frame")
    else:
        x, title = np.arange(1, view.num_frames + 1), "heatmap frame (views one after another)"
    labels = [frame_label(view, i) for i in range(view.num_frames)]
    fig = go.Figure()
    for name, values in (("max", curves["max"]), ("mean", curves["mean"])):
        fig.add_trace(go.Scatter(x=x, y=values, name=name, mode="lines+markers", customdata=labels,
                                 hovertemplate=f"{name} %{{y:.3f}}<br>%{{customdata}}<extra></extra>"))
    fig.update_layout(height=280, margin=dict(l=10, r=10, t=40, b=10), title_text="Activation per frame",
                      xaxis_title=title, yaxis_title="activation",
                      yaxis_range=[0, max(1.0, float(curves["max"].max()))],
                      legend=dict(orientation="h", y=1.12, x=1, xanchor="right"))
    return fig


def saliency_figure(view: ExplainResult, colormap: str = "viridis") -> go.Figure:
    """The clip's saliency map (heatmaps summed over frames / number of frames)."""
    saliency = view.saliency()
    fig = go.Figure(go.Heatmap(z=saliency, colorscale=colorscale(colormap), zmin=0,
                               hovertemplate="x %{x}, y %{y}: %{z:.3f}<extra></extra>"))
    fig.update_yaxes(autorange="reversed", scaleanchor="x", scaleratio=1 / view.pixel_aspect, showticklabels=False)
    fig.update_xaxes(showticklabels=False, constrain="domain")
    fig.update_layout(height=320, margin=dict(l=10, r=10, t=40, b=10), title_text="Saliency (mean over frames)")
    return fig


def topk_figure(view: ExplainResult, k: int = 5) -> go.Figure | None:
    """Top-k class probabilities, the explained class highlighted."""
    top = topk(view, k)
    if not top:
        return None
    colors = ["#e4572e" if i == view.target_class else "#4c78a8" for i, _, _ in top][::-1]
    fig = go.Figure(go.Bar(x=[p for _, _, p in top][::-1], y=[name for _, name, _ in top][::-1], orientation="h",
                           marker_color=colors, text=[f"{p:.1%}" for _, _, p in top][::-1], textposition="auto",
                           hovertemplate="%{y}: %{x:.2%}<extra></extra>"))
    fig.update_layout(height=320, margin=dict(l=10, r=10, t=40, b=10), title_text=f"Top-{len(top)} predictions",
                      xaxis=dict(range=[0, 1], tickformat=".0%"))
    return fig


@st.cache_data(show_spinner=False, max_entries=16)
def _figures(key: str, _view: ExplainResult, alpha: float, colormap: str) -> dict:
    """The figures of a view (``key`` identifies the view's content): fast, drawn first."""
    return dict(frames=frame_figure(_view, alpha=alpha, colormap=colormap), timeline=timeline_figure(_view),
                saliency=saliency_figure(_view, colormap), topk=topk_figure(_view))


@st.cache_data(show_spinner="Encoding the overlay video…", max_entries=16)
def _media(key: str, _view: ExplainResult, alpha: float, colormap: str) -> dict:
    """The overlay video and the files to download of a view: encoded once the figures are on the page."""
    video = overlay_mp4(_view, alpha=alpha, colormap=colormap)
    return dict(video=video, files=result_files(_view, alpha=alpha, colormap=colormap, overlay_video=video))


def render(view: ExplainResult, key: str, *, alpha: float = 0.5, colormap: str = "viridis") -> dict:
    """Everything :func:`show_view` draws, rendered once per (view, alpha, colormap)."""
    return {**_figures(key, view, alpha, colormap), **_media(key, view, alpha, colormap)}


def _download(file: Download, key: str) -> None:
    st.download_button(file.label, file.data, file_name=file.file_name, mime=file.mime, key=key,
                       on_click="ignore", icon=":material/download:", width="stretch")


def show_view(view: ExplainResult, key: str, *, alpha: float = 0.5, colormap: str = "viridis") -> None:
    """Draw a view: overlay video | frame view with scrubber, timeline, saliency, top-k, downloads.

    ``key`` must change whenever the view's content does (it keys the rendering cache and widgets).
    """
    constant = view.constant_frames()
    if constant.all():
        st.warning("This map is constant in every frame (all zero or flat): no channel weight was positive, so "
                   "Grad-CAM found no evidence for this class at this layer. It is no saliency map (gaze scoring and "
                   "studies leave it out); try another layer, method or class.", icon=":material/warning:")
    elif constant.any():
        st.caption(f"{int(constant.sum())} of {constant.size} heatmap frames are constant (no evidence found there).")
    parts = _figures(key, view, alpha, colormap)
    left, right = st.columns([2, 3], gap="medium")
    with right:  # the player first: the overlay video is encoded once everything else is on the page
        st.plotly_chart(parts["frames"], key=f"{key}-frames", config=dict(
            displaylogo=False, toImageButtonOptions=dict(format="png", filename=f"{view.name}_frame", scale=2)))
    with left:
        video_slot = st.empty()
        _png_download(view, key, alpha, colormap)
    st.plotly_chart(parts["timeline"], key=f"{key}-timeline", config=dict(displaylogo=False))
    cols = st.columns([2, 3] if parts["topk"] is not None else 1, gap="medium")
    with cols[0]:
        st.plotly_chart(parts["saliency"], key=f"{key}-saliency", config=dict(displaylogo=False))
    if parts["topk"] is not None:
        with cols[1]:
            st.plotly_chart(parts["topk"], key=f"{key}-topk", config=dict(displaylogo=False))
    st.markdown("**Downloads**")
    downloads = st.container()
    media = _media(key, view, alpha, colormap)
    with video_slot.container():
        if media["video"] is not None:
            st.markdown("**Overlay video**")
            st.video(media["video"], format="video/mp4", loop=True, autoplay=True, muted=True)
            st.caption(f"{view.num_frames} heatmap frames at {playback_fps(view):.1f} fps "
                       "(the pace of the stretch of video they sample).")
        elif not view.file_notes:  # a file read back says itself why its video is missing
            st.info("No video frames for these heatmaps: the heatmaps are shown alone.")
    with downloads:
        for col, file in zip(st.columns(len(media["files"])), media["files"], strict=True):
            with col:
                _download(file, f"{key}-{file.file_name}")


@st.fragment
def _png_download(view: ExplainResult, key: str, alpha: float, colormap: str) -> None:
    """PNG of the frame the frame view shows (a fragment: when its slider rests, only this reruns)."""
    index = min(player_frame(f"{key}-frames", f"{key}-shown"), view.num_frames - 1)
    st.caption(f"PNG of the frame the player shows: {_frame_title(view, index)}")
    st.download_button("Frame view (png)", lambda: frame_png(view, index, alpha=alpha, colormap=colormap),
                       file_name=f"{view.name}_frame{index + 1:03d}.png", mime="image/png", key=f"{key}-png",
                       on_click="ignore", icon=":material/image:", width="stretch")

