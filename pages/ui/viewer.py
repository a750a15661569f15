"""The result viewer: overlay video beside a scrubbable frame view, the activation timeline, the
clip's saliency map, top-k predictions and the downloads.

It draws a :class:`core.views.CamView` (plain arrays), so a heatmap file read back without its
video is shown by the same code; parts that need frames or predictions are left out without them.
Scrubbing is client-side: the frame view is one Plotly figure with an animation frame per heatmap
frame and a slider, so moving it never reruns the script.
"""

from __future__ import annotations

import base64
import io

import numpy as np
import plotly.graph_objects as go
import streamlit as st
from plotly.subplots import make_subplots

from core.downloads import Download, frame_png, overlay_mp4, result_files
from core.overlay import colormap_lut
from core.views import CamView

COLORMAPS = ("viridis", "jet", "inferno", "magma", "plasma", "turbo", "hot", "gray")
_HEATMAP_BUDGET = 600_000  # heatmap values sent to the browser for the whole animation


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


def _frame_title(view: CamView, index: int) -> str:
    return f"Frame {index + 1}/{view.num_frames} · {view.frame_label(index)}"


def frame_figure(view: CamView, *, alpha: float = 0.5, colormap: str = "viridis") -> go.Figure:
    """Heatmap (and overlay, with frames) of every frame as animation frames, with a slider and play button."""
    num = view.num_frames
    height, width = view.heatmaps.shape[-2:]
    side = int(np.clip(np.sqrt(_HEATMAP_BUDGET / num), 16, 128))
    maps = view.downscaled(side)
    step_y, step_x = height / maps.shape[1], width / maps.shape[2]
    overlays = view.overlays(alpha, colormap)
    zmax = max(1.0, float(view.heatmaps.max()))
    scale = colorscale(colormap)

    def traces(i: int) -> list:
        heat = go.Heatmap(z=maps[i], x0=step_x / 2, dx=step_x, y0=step_y / 2, dy=step_y, zmin=0, zmax=zmax,
                          colorscale=scale, colorbar=dict(len=0.8, thickness=12, x=1.0 if overlays is None else 0.44),
                          hovertemplate="x %{x:.0f}, y %{y:.0f}: %{z:.3f}<extra></extra>")
        if overlays is None:
            return [heat]
        return [heat, go.Image(source=_data_uri(overlays[i]), hoverinfo="skip")]

    cols = 1 if overlays is None else 2
    fig = make_subplots(rows=1, cols=cols, subplot_titles=("Heatmap", "Overlay")[:cols], horizontal_spacing=0.1)
    for col, trace in enumerate(traces(0), start=1):
        fig.add_trace(trace, row=1, col=col)
    fig.frames = [go.Frame(data=traces(i), traces=list(range(cols)), name=str(i),
                           layout=go.Layout(title_text=_frame_title(view, i))) for i in range(num)]
    for col in range(1, cols + 1):
        fig.update_xaxes(range=[0, width], showticklabels=False, constrain="domain", row=1, col=col)
        fig.update_yaxes(range=[height, 0], showticklabels=False, scaleanchor=f"x{col if col > 1 else ''}",
                         scaleratio=1 / view.pixel_aspect, constrain="domain", row=1, col=col)
    sources = view.source_frames()
    steps = [dict(method="animate", label=str(int(sources[i])),
                  args=[[str(i)], dict(mode="immediate", frame=dict(duration=0, redraw=True),
                                       transition=dict(duration=0))]) for i in range(num)]
    delay = round(1000 / view.playback_fps())
    fig.update_layout(
        title_text=_frame_title(view, 0), height=470, margin=dict(l=10, r=10, t=70, b=10),
        sliders=[dict(active=0, steps=steps, x=0.16, len=0.84, y=0, pad=dict(t=30, b=0),
                      currentvalue=dict(prefix="source frame ", xanchor="right", font=dict(size=12)),
                      font=dict(size=10, color="rgba(0,0,0,0)" if num > 20 else None))],
        updatemenus=[dict(type="buttons", showactive=False, x=0, y=0, xanchor="left", yanchor="top",
                          pad=dict(t=36, r=0), direction="left",
                          buttons=[dict(label="▶", method="animate",
                                        args=[None, dict(frame=dict(duration=delay, redraw=True), fromcurrent=True,
                                                         transition=dict(duration=0))]),
                                   dict(label="❚❚", method="animate",
                                        args=[[None], dict(mode="immediate", frame=dict(duration=0, redraw=False),
                                                           transition=dict(duration=0))])])],
    )
    return fig


def timeline_figure(view: CamView) -> go.Figure:
    """Mean and max activation per heatmap frame: when the model looks."""
    curves = view.timeline()
    times = view.times()
    if view.num_views == 1:
        x, title = (times, "time in the video (s)") if times is not None else (view.source_frames(), "source frame")
    else:
        x, title = np.arange(1, view.num_frames + 1), "heatmap frame (views one after another)"
    labels = [view.frame_label(i) for i in range(view.num_frames)]
    fig = go.Figure()
    for name, values in (("max", curves["max"]), ("mean", curves["mean"])):
        fig.add_trace(go.Scatter(x=x, y=values, name=name, mode="lines+markers", customdata=labels,
                                 hovertemplate=f"{name} %{{y:.3f}}<br>%{{customdata}}<extra></extra>"))
    fig.update_layout(height=280, margin=dict(l=10, r=10, t=40, b=10), title_text="Activation per frame",
                      xaxis_title=title, yaxis_title="activation",
                      yaxis_range=[0, max(1.0, float(curves["max"].max()))],
                      legend=dict(orientation="h", y=1.12, x=1, xanchor="right"))
    return fig


def saliency_figure(view: CamView, colormap: str = "viridis") -> go.Figure:
    """The clip's saliency map (heatmaps summed over frames / number of frames)."""
    saliency = view.saliency()
    fig = go.Figure(go.Heatmap(z=saliency, colorscale=colorscale(colormap), zmin=0,
                               hovertemplate="x %{x}, y %{y}: %{z:.3f}<extra></extra>"))
    fig.update_yaxes(autorange="reversed", scaleanchor="x", scaleratio=1 / view.pixel_aspect, showticklabels=False)
    fig.update_xaxes(showticklabels=False, constrain="domain")
    fig.update_layout(height=320, margin=dict(l=10, r=10, t=40, b=10), title_text="Saliency (mean over frames)")
    return fig


def topk_figure(view: CamView, k: int = 5) -> go.Figure | None:
    """Top-k class probabilities, the explained class highlighted."""
    top = view.topk(k)
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
def _rendered(key: str, _view: CamView, alpha: float, colormap: str) -> dict:
    """Figures, overlay video and files of a view (``key`` identifies the view's content)."""
    video = overlay_mp4(_view, alpha=alpha, colormap=colormap)
    return dict(frames=frame_figure(_view, alpha=alpha, colormap=colormap), timeline=timeline_figure(_view),
                saliency=saliency_figure(_view, colormap), topk=topk_figure(_view), video=video,
                files=result_files(_view, alpha=alpha, colormap=colormap, overlay_video=video))


def render(view: CamView, key: str, *, alpha: float = 0.5, colormap: str = "viridis") -> dict:
    """Everything :func:`show_view` draws, rendered once per (view, alpha, colormap)."""
    return _rendered(key, view, alpha, colormap)


def _download(file: Download, key: str) -> None:
    st.download_button(file.label, file.data, file_name=file.file_name, mime=file.mime, key=key,
                       on_click="ignore", icon=":material/download:", width="stretch")


def show_view(view: CamView, key: str, *, alpha: float = 0.5, colormap: str = "viridis") -> None:
    """Draw a view: overlay video | frame view with scrubber, timeline, saliency, top-k, downloads.

    ``key`` must change whenever the view's content does (it keys the rendering cache and widgets).
    """
    parts = render(view, key, alpha=alpha, colormap=colormap)
    left, right = st.columns([2, 3], gap="medium")
    with left:
        if parts["video"] is not None:
            st.markdown("**Overlay video**")
            st.video(parts["video"], format="video/mp4", loop=True, autoplay=True, muted=True)
            st.caption(f"{view.num_frames} heatmap frames at {view.playback_fps():.1f} fps "
                       "(the pace of the stretch of video they sample).")
        else:
            st.info("No video frames for these heatmaps: the heatmaps are shown alone.")
        _png_download(view, key, alpha, colormap)
    with right:
        st.plotly_chart(parts["frames"], key=f"{key}-frames", config=dict(
            displaylogo=False, toImageButtonOptions=dict(format="png", filename=f"{view.name}_frame", scale=2)))
    st.plotly_chart(parts["timeline"], key=f"{key}-timeline", config=dict(displaylogo=False))
    cols = st.columns([2, 3] if parts["topk"] is not None else 1, gap="medium")
    with cols[0]:
        st.plotly_chart(parts["saliency"], key=f"{key}-saliency", config=dict(displaylogo=False))
    if parts["topk"] is not None:
        with cols[1]:
            st.plotly_chart(parts["topk"], key=f"{key}-topk", config=dict(displaylogo=False))
    st.markdown("**Downloads**")
    for col, file in zip(st.columns(len(parts["files"])), parts["files"], strict=True):
        with col:
            _download(file, f"{key}-{file.file_name}")


@st.fragment
def _png_download(view: CamView, key: str, alpha: float, colormap: str) -> None:
    """PNG of one frame view (a fragment: picking the frame reruns only this)."""
    peak = int(np.argmax(view.timeline()["mean"]))
    if view.num_frames > 1:
        index = st.slider("Frame for the PNG", 1, view.num_frames, peak + 1, key=f"{key}-png-frame",
                          help="The camera icon in the frame view's toolbar saves the frame shown there.") - 1
    else:
        index = 0
    st.caption(view.frame_label(index))
    st.download_button("Frame view (png)", lambda: frame_png(view, index, alpha=alpha, colormap=colormap),
                       file_name=f"{view.name}_frame{index + 1:03d}.png", mime="image/png", key=f"{key}-png",
                       on_click="ignore", icon=":material/image:", width="stretch")

