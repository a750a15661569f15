"""Gaze comparison: Grad-CAM heatmaps (a txt with its sidecar, or a batch output folder) against human gaze.

All computing happens in ``core.gaze``; this page reads widgets, calls it (cached), and draws the result: the
clip's pictures and scores (each metric with the way it improves), the comparison frame by frame (saliency,
gaze and overlay scrubbed in the browser with the explorer's player, the per-frame scores under it on the same
frame axis), and for a batch every video's scores and a per-class summary.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import plotly.express as px
import plotly.graph_objects as go
import streamlit as st
from plotly.subplots import make_subplots

from core import demo_data, gaze
from core.gaze.images import FramePictures
from core.saliency import BETTER, REGISTRY, Protocol
from pages.ui import cache, pickers, tables
from pages.ui.errors import shown_as_error
from pages.ui.page import setup_page
from pages.ui.text import control, for_page
from pages.ui.viewer import COLORMAPS, add_player

START_LABEL = "First frame's number in gaze folders"
REGION_LABEL = "Score over"
DENSITY_LABEL = "Density (optional)"
BLUR_LABEL = "Blur the fixations into a density"
CONSTANT_LABEL = "Score constant maps too"
CONTROLS = {  # what core's sentences call --flags, as this page's sidebar names them
    "--start-index": control(START_LABEL),
    "--region frame": control(f"{REGION_LABEL}: the whole frame"),
    "--region crop": control(f"{REGION_LABEL}: the model's window"),
    "--density": control(DENSITY_LABEL),
    "--blur": control(BLUR_LABEL),
    "--keep-constant": control(CONSTANT_LABEL),
    "--protocol": control("Protocol"),
}
MARKER = "#e4572e"  # the player's current frame on the curves
SOURCES = {"demo": "Built-in demo", "paths": "Paths"}
DEMO_MODELS = {model.name: model for model in demo_data.MODELS}

setup_page("Gaze comparison", "👁", controls=CONTROLS)
say = for_page  # a sentence of core.gaze in this page's words


@st.cache_data(show_spinner="Scoring the heatmaps against the gaze…", max_entries=16)
def scores(heatmaps: str, fixations: str, density: str | None, region: str, start_index: int | None,
           blur: float | str | None, stamp: tuple, protocol: str = "exact", keep_constant: bool = False
           ) -> tuple[list[gaze.GazeScores], list[str]]:
    """Scores of one heatmap txt or of a batch folder, and notes; ``stamp`` makes edited files count as new."""
    return gaze.score_path(heatmaps, fixations, density, region=region, start_index=start_index, blur=blur,
                           protocol=protocol, keep_constant=keep_constant)


@st.cache_data(show_spinner=False, max_entries=8)
def _frame(video: str | None, index: int | None) -> np.ndarray | None:
    """The source frame behind the pictures, decoded once (not again for each colormap or opacity)."""
    return gaze.video_frame(video, index)


@st.cache_data(show_spinner=False, max_entries=32)
def pictures(result: gaze.GazeScores, colormap: str, alpha: float) -> dict:
    frame = _frame(result.result.video or None, gaze.shown_frame(result))
    return gaze.comparison_images(result, frame, colormap=colormap, alpha=alpha)


@st.cache_data(show_spinner="Drawing the frames…", max_entries=8)
def frame_pictures(key: str, colormap: str, alpha: float, _result: gaze.GazeScores) -> FramePictures | None:
    """The comparison frame by frame (``key`` identifies the scored inputs and the video)."""
    return gaze.frame_pictures(_result, colormap=colormap, alpha=alpha)


def demo_inputs() -> tuple[str, str]:
    """The demo: one demo model's batch folder and the demo gaze (the folder core.gaze.fixations wrote)."""
    name = st.selectbox("Demo model", tuple(DEMO_MODELS), key="gaze_demo_model",
                        format_func=lambda n: f"{n}: {DEMO_MODELS[n].label}")
    with st.spinner("Preparing the demo's heatmaps and gaze (first use only)…"), shown_as_error() as box:
        heatmaps, fixations = str(demo_data.batch(DEMO_MODELS[name])), str(demo_data.gaze())
    if box.failed:
        return "", ""
    st.caption("Grad-CAM of the ground-truth class on 12 synthetic clips, against 5 synthetic observers who follow "
               "the moving shape (with saccade lag, pursuit, noise and a centre bias).")
    return heatmaps, fixations


def inputs() -> tuple[str, str, str | None, str, int | None, float | str | None, str, float]:
    with st.sidebar:
        source = st.radio("Heatmaps and gaze", tuple(SOURCES), key="gaze_source", format_func=SOURCES.get,
                          horizontal=True)
        blur: float | str | None = None
        density: str | None = None
        if source == "demo":
            heatmaps, fixations = demo_inputs()
        else:
            st.header("Heatmaps")
            heatmaps = pickers.path_input("Heatmap txt or batch output folder", "gaze_heatmaps",
                                          help="A txt the explorer or python -m core.vis_cam --file-url wrote (its "
                                               ".json sidecar beside it), or the output folder of a batch (Batch page "
                                               "or python -m core.batch).") or ""
            st.header("Gaze")
            fixations = pickers.path_input("Fixations", "gaze_fixations",
                                           help="One image, a folder of per-frame images (frame number in the name) "
                                                "or a video; for a batch folder, a folder with one such entry per "
                                                "video, named like the video, or the --out folder of python -m "
                                                "core.gaze.fixations.") or ""
            density = pickers.path_input(DENSITY_LABEL, "gaze_density",
                                         help="A fixation density (blurred fixations) in the same form: CC, SIM and "
                                              "KL are computed against it. Without one they compare the heatmap with "
                                              "the fixation points, which says little.")
            if st.checkbox(BLUR_LABEL, key="gaze_blur", disabled=bool(density),
                           help="Without a density: make one from the fixations, as python -m core.gaze.fixations "
                                "does (a Gaussian of σ = width / 30 by default)."):
                sigma = st.number_input("Blur σ in gaze-map pixels (0: width / 30)", 0.0, 1000.0, 0.0, 1.0,
                                        key="gaze_sigma")
                blur = float(sigma) if sigma > 0 else "auto"
        region = st.radio(REGION_LABEL, gaze.REGIONS, key="gaze_region", horizontal=True,
                          format_func={"crop": "the model's window", "frame": "the whole frame"}.get)
        start = st.selectbox(START_LABEL, ("auto", 0, 1), key="gaze_start",
                             help="auto: 0 when a file numbered 0 exists, else 1.")
        st.checkbox(CONSTANT_LABEL, key="gaze_keep_constant",
                    help="A heatmap constant in every frame (all zero or flat: Grad-CAM found no positive evidence) "
                         "has no saliency; by default it is left out and listed.")
        st.header("Display")
        colormap = st.selectbox("Colormap", COLORMAPS, key="gaze_colormap")
        alpha = st.slider("Overlay opacity", 0.0, 1.0, 0.5, 0.05, key="gaze_alpha")
    return (heatmaps, fixations, density, region, start if isinstance(start, int) else None,
            None if density else blur, colormap, alpha)


def metric_columns(metrics: list[str]) -> dict:
    """Column headers that say which way each metric improves, with its definition's direction as help."""
    return {m: st.column_config.NumberColumn(gaze.metric_title(m), format="%.4f", help=f"{BETTER[m]} is better")
            for m in metrics if m in BETTER}


def show_metrics(result: gaze.GazeScores) -> None:
    st.subheader("Metrics")
    metrics = list(result.clip)
    st.dataframe(pd.DataFrame([result.clip]), hide_index=True, column_config=metric_columns(metrics))
    st.caption(f"{gaze.directions(metrics)}. MIT saliency benchmark definitions (Bylinskii et al., TPAMI 2019).")
    if result.against_fixations:
        st.warning(say(gaze.FIXATIONS_ONLY), icon=":material/warning:")
    if result.views:
        st.markdown("**Per view**")
        st.dataframe(pd.DataFrame([{"view": view["view"], **view["clip"]} for view in result.views]),
                     hide_index=True, column_config=metric_columns(metrics))


def _broken(frames: list[int], values: list[float]) -> tuple[list, list]:
    """The curve's points with a gap (None) where frames jump by more than twice their usual step (between
    clips), so the line does not pretend to know the frames in between."""
    if len(frames) < 3:
        return list(frames), list(values)
    step = float(np.median(np.diff(frames)))
    xs: list = [frames[0]]
    ys: list = [values[0]]
    for previous, frame, value in zip(frames, frames[1:], values[1:], strict=False):
        if frame - previous > 2 * step:
            xs.append(None)
            ys.append(None)
        xs.append(frame)
        ys.append(value)
    return xs, ys


def player_figure(shown: FramePictures, result: gaze.GazeScores) -> go.Figure:
    """Saliency | gaze | overlay of each frame, scrubbed and played in the browser, and under them each
    metric's per-frame score over the source frame, a marker on the frame the player shows."""
    metrics = [m for m in result.clip if any(m in row for row in result.frames)]
    height, width = shown.images[0][0].shape[:2]
    top = int(360 * height / width) + 40
    rows = 2 + len(metrics)
    heights = [top, 110, *([110] * len(metrics))]  # the second row leaves room for the slider
    specs = [[{}, {}, {}], [None, None, None], *([[{"colspan": 3}, None, None]] * len(metrics))]
    fig = make_subplots(rows=rows, cols=3, specs=specs, row_heights=heights, vertical_spacing=0.0,
                        horizontal_spacing=0.02,
                        subplot_titles=("Saliency (Grad-CAM)", "Gaze density" if result.density is not None
                                        else "Fixations", "Overlay on the source frame"))
    scored = {row["frame"]: row for row in result.frames}
    markers, first = [], shown.frames[0]
    frames_scored = [f for f in shown.frames if f in scored]
    for row, metric in enumerate(metrics, start=3):
        ys = [scored[f][metric] for f in frames_scored]
        xs, line = _broken(frames_scored, ys)
        fig.add_trace(go.Scatter(x=xs, y=line, mode="lines+markers", name=metric, showlegend=False,
                                 line=dict(color="#4c78a8"), hovertemplate=f"{metric} %{{y:.3f}}<br>source frame "
                                                                            "%{x}<extra></extra>"), row=row, col=1)
        low, high = (min(ys), max(ys)) if ys else (0.0, 1.0)
        pad = (high - low) * 0.1 or 0.05
        markers.append((len(fig.data), [low - pad, high + pad]))
        fig.add_trace(go.Scatter(x=[first, first], y=[low - pad, high + pad], mode="lines", hoverinfo="skip",
                                 showlegend=False, line=dict(color=MARKER, width=2)), row=row, col=1)
        fig.update_yaxes(title_text=gaze.metric_title(metric), range=[low - pad, high + pad], row=row, col=1)
    frames = shown.frames
    span = [frames[0] - 0.5, frames[-1] + 0.5]
    for row in range(3, rows + 1):
        fig.update_xaxes(range=span, matches="x4", showticklabels=row == rows, row=row, col=1)
    if metrics:
        fig.update_xaxes(title_text="source frame (0-based)", row=rows, col=1)

    def moving(i: int) -> tuple[list[int], list[go.Scatter]]:
        return [index for index, _ in markers], [go.Scatter(x=[frames[i], frames[i]], y=span_y)
                                                 for _, span_y in markers]

    labels = [f"Frame {i + 1}/{len(frames)} · {label}" for i, label in enumerate(shown.labels)]
    fps = 1.0 / float(np.median(np.diff(shown.times))) if shown.times and len(shown.times) > 1 else 5.0
    add_player(fig, lambda i: shown.images[i], labels, pixel_aspect=1.0, fps=min(max(fps, 1.0), 8.0),
               slider_x=0.1, slider_y=1 - top / sum(heights), moving=moving)
    fig.update_layout(height=sum(heights) + 60, margin=dict(l=10, r=10, t=40, b=20), plot_bgcolor="white")
    return fig


def show_frames(result: gaze.GazeScores, key: str, colormap: str, alpha: float) -> None:
    if result.result.legacy:
        st.caption("The txt has no sidecar: which frames its heatmaps show is unknown, so there is no per-frame "
                   "comparison.")
        return
    with shown_as_error():
        shown = frame_pictures(key, colormap, alpha, result)
        if shown is None:
            st.caption("The gaze is one map for the clip: no per-frame comparison.")
            return
        st.subheader("Frame by frame")
        for note in shown.notes:
            st.info(say(note))
        st.plotly_chart(player_figure(shown, result), key=f"gaze-frames-{key}", config=dict(displaylogo=False))
        st.caption("Saliency: the heatmaps that show this frame, in the window(s) the model saw (white box), on one "
                   "scale for the clip. Gaze: this frame's density, or its fixations (red dots). The curves below "
                   "are this frame's scores; the orange line is the frame the player shows. Frames without a "
                   "fixation in the window have no score.")


def show_clip(result: gaze.GazeScores, key: str, colormap: str, alpha: float) -> None:
    images = pictures(result, colormap, alpha)
    frame = gaze.shown_frame(result)
    columns = st.columns(3)
    captions = ("Saliency (Grad-CAM, clip)", "Gaze density" if result.density is not None else "Fixations",
                "Overlay" + (f" on source frame {frame}" if frame is not None else ""))
    for column, name, caption in zip(columns, ("saliency", "gaze", "overlay"), captions, strict=True):
        column.image(images[name], caption=caption, width="stretch")
    windows = result.windows or [result.crop_box]
    boxes = "; ".join(", ".join(f"{v:.1f}" for v in box) for box in windows)
    if len(windows) == 1:
        over = "it" if result.region == "crop" else "the whole frame"
        st.caption(f"The white box is the window the model saw ({boxes} in gaze-map pixels); "
                   f"scores are computed over {over}.")
    else:
        over = "each view's window" if result.region == "crop" else "the whole frame, view by view"
        st.caption(f"The white boxes are the {len(windows)} windows the model's views saw ({boxes} in gaze-map "
                   f"pixels); scores are computed over {over} and averaged over the views.")
    show_metrics(result)
    show_frames(result, key, colormap, alpha)


def show_batch(results: list[gaze.GazeScores]) -> None:
    rows = gaze.csv_rows(results)
    clips = pd.DataFrame([row for row in rows if row["frame"] == "" and row["view"] == ""])
    metrics = [m for m in REGISTRY if m in clips]
    clips = clips[["video", "class", *metrics, "target_label", "predicted_label", "region", "txt"]]
    st.subheader(f"{len(results)} videos")
    st.dataframe(clips, hide_index=True, column_config={
        "video": tables.text_column("video", clips["video"], "The video's name", pinned=True),
        "txt": tables.text_column("txt", clips["txt"], "The heatmap file scored", cap=480),
        **metric_columns(metrics)})
    st.caption(f"{gaze.directions(metrics)}.")
    if any(r.against_fixations for r in results):
        st.warning(say(gaze.FIXATIONS_ONLY), icon=":material/warning:")
    st.download_button("Scores (csv)", gaze.csv_text(rows, gaze.header_notes(results)), file_name="gaze_scores.csv",
                       mime="text/csv", help="Lines starting with # above the header say which way each metric "
                                             "improves (pandas: read_csv(path, comment=\"#\")).")
    summary = gaze.class_summary(results)
    st.subheader("Per class")
    st.dataframe(pd.DataFrame([gaze.summary_cells(row) for row in summary]), hide_index=True, column_config={
        "class": tables.text_column("class", [row["class"] for row in summary], "Classes in label order")})
    st.caption("Mean ± std of the clip scores over each class's videos; classes in label order (the ground truth "
               "of a batch with labels, else the explained class).")
    order = [row["class"] for row in summary]
    columns = st.columns(min(3, len(metrics)))
    for i, metric in enumerate(metrics):
        figure = px.box(clips, x="class", y=metric, points="all", hover_data=["video"], height=320,
                        category_orders={"class": order}, title=f"{metric} ({BETTER[metric]} is better)")
        figure.update_layout(margin=dict(l=10, r=10, t=40, b=10))
        columns[i % len(columns)].plotly_chart(figure, width="stretch")


def main() -> None:
    st.title("Gaze comparison")
    heatmaps, fixations, density, region, start, blur, colormap, alpha = inputs()
    protocol = st.sidebar.radio("Protocol", [str(p) for p in Protocol], key="gaze_protocol", horizontal=True,
                                help="exact: deterministic definitions; mit: the MIT saliency benchmark's MATLAB code "
                                     "as DHF1K's evaluation runs it (seeded), with information gain over the centre "
                                     "bias (docs/gaze.md).")
    if not heatmaps or not fixations:
        st.info("Give a heatmap txt (or a batch output folder) and the gaze maps in the sidebar. Scores follow "
                "the MIT saliency benchmark; python -m core.gaze computes the same from the command line.")
        return
    stamp = (cache.tree_stamp(heatmaps), cache.tree_stamp(fixations), cache.tree_stamp(density))
    with shown_as_error() as box:
        results, notes = scores(heatmaps, fixations, density, region, start, blur, stamp, protocol,
                                st.session_state.get("gaze_keep_constant", False))
    if box.failed:
        return
    for note in notes:
        st.info(say(note))
    key = str(abs(hash((heatmaps, fixations, density, region, start, blur, stamp, protocol))))
    if len(results) > 1 or Path(heatmaps).is_dir():
        show_batch(results)
        names = [f"{r.name} ({r.label})" if r.label else r.name for r in results]
        chosen = st.selectbox("Video", range(len(results)), format_func=names.__getitem__, key="gaze_video")
        st.header(results[chosen].name)
        show_clip(results[chosen], f"{key}-{chosen}", colormap, alpha)
    else:
        show_clip(results[0], key, colormap, alpha)


main()
