"""Gaze comparison: Grad-CAM heatmaps (a txt with its sidecar, or a batch output folder) against human gaze.

All computing happens in ``core.gaze``; this page reads widgets, calls it (cached), and draws the result.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import plotly.express as px
import streamlit as st

from core import gaze
from core.errors import CamError
from pages.ui import cache, pickers
from pages.ui.page import setup_page

setup_page("Gaze comparison", "👁")


def _stamp(path: str | None) -> tuple:
    """What identifies the content under ``path``: (name, mtime, size) of it and of every entry below it."""
    if not path or not Path(path).exists():
        return ()
    root = Path(path)
    entries = [root, *sorted(root.rglob("*"))] if root.is_dir() else [root]
    return tuple((str(p), cache.content_stamp(p)) for p in entries if not p.name.startswith("."))


@st.cache_data(show_spinner="Scoring the heatmaps against the gaze…", max_entries=16)
def scores(heatmaps: str, fixations: str, density: str | None, region: str, start_index: int | None,
           stamp: tuple) -> tuple[list[gaze.GazeScores], list[str]]:
    """Scores of one heatmap txt or of a batch folder, and notes; ``stamp`` makes edited files count as new."""
    return gaze.score_path(heatmaps, fixations, density, region=region, start_index=start_index)


@st.cache_data(show_spinner=False, max_entries=8)
def _frame(video: str | None, index: int | None):
    """The source frame behind the pictures, decoded once (not again for each colormap or opacity)."""
    return gaze.video_frame(video, index)


@st.cache_data(show_spinner=False, max_entries=32)
def pictures(result: gaze.GazeScores, colormap: str, alpha: float) -> dict:
    frame = _frame(result.result.video or None, gaze.shown_frame(result))
    return gaze.comparison_images(result, frame, colormap=colormap, alpha=alpha)


def inputs() -> tuple[str, str, str | None, str, int | None, str, float]:
    with st.sidebar:
        st.header("Heatmaps")
        heatmaps = pickers.path_input("Heatmap txt or batch output folder", "gaze_heatmaps",
                                      help="A txt written with --file-url (its .json sidecar beside it), or the "
                                           "--out folder of python -m core.batch.") or ""
        st.header("Gaze")
        fixations = pickers.path_input("Fixations", "gaze_fixations",
                                       help="One image, a folder of per-frame images (frame number in the name) or "
                                            "a video; for a batch folder, a folder with one such entry per video, "
                                            "named like the video.") or ""
        density = pickers.path_input("Density (optional)", "gaze_density")
        region = st.radio("Score over", gaze.REGIONS, key="gaze_region", horizontal=True,
                          format_func={"crop": "the model's window", "frame": "the whole frame"}.get)
        start = st.selectbox("First frame's number in gaze folders", ("auto", 0, 1), key="gaze_start",
                             help="auto: 0 when a file numbered 0 exists, else 1.")
        st.header("Display")
        colormap = st.selectbox("Colormap", ("viridis", "jet", "inferno", "magma", "turbo"), key="gaze_colormap")
        alpha = st.slider("Overlay opacity", 0.0, 1.0, 0.5, 0.05, key="gaze_alpha")
    return heatmaps, fixations, density, region, None if start == "auto" else int(start), colormap, alpha


def show_clip(result: gaze.GazeScores, colormap: str, alpha: float) -> None:
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
    st.subheader("Metrics")
    st.dataframe(pd.DataFrame([result.clip]).round(4), hide_index=True)
    if result.views:
        st.markdown("**Per view**")
        st.dataframe(pd.DataFrame([{"view": view["view"], **view["clip"]} for view in result.views]).round(4),
                     hide_index=True)
    if result.frames:
        st.subheader("Per frame")
        curves = pd.DataFrame(result.frames).melt(id_vars="frame", var_name="metric", value_name="value")
        figure = px.line(curves, x="frame", y="value", facet_row="metric", markers=True,
                         labels={"frame": "source frame (0-based)"}, height=130 * len(result.clip))
        figure.update_yaxes(matches=None, title=None)
        figure.for_each_annotation(lambda note: note.update(text=note.text.split("=")[-1]))
        st.plotly_chart(figure, width="stretch")


def show_batch(results: list[gaze.GazeScores]) -> None:
    rows = gaze.csv_rows(results)
    clips = pd.DataFrame([row for row in rows if row["frame"] == "" and row["view"] == ""])
    clips = clips.drop(columns=["frame", "view"])
    st.subheader(f"{len(results)} videos")
    st.dataframe(clips.round(4), hide_index=True)
    st.download_button("Scores (csv)", gaze.csv_text(rows), file_name="gaze_scores.csv", mime="text/csv")
    metrics = [m for m in gaze.METRICS if m in clips]
    st.subheader("Per class")
    columns = st.columns(min(3, len(metrics)))
    for i, metric in enumerate(metrics):
        figure = px.box(clips, x="class", y=metric, points="all", hover_data=["video"], height=320)
        columns[i % len(columns)].plotly_chart(figure, width="stretch")


def main() -> None:
    st.title("Gaze comparison")
    heatmaps, fixations, density, region, start, colormap, alpha = inputs()
    if not heatmaps or not fixations:
        st.info("Give a heatmap txt (or a batch output folder) and the gaze maps in the sidebar. Scores follow "
                "the MIT saliency benchmark; python -m core.gaze computes the same from the command line.")
        return
    try:
        results, notes = scores(heatmaps, fixations, density, region, start,
                                (_stamp(heatmaps), _stamp(fixations), _stamp(density)))
    except CamError as err:
        st.error(str(err))
        return
    for note in notes:
        st.info(note)
    if len(results) > 1 or Path(heatmaps).is_dir():
        show_batch(results)
        names = [f"{r.name} ({r.label})" if r.label else r.name for r in results]
        chosen = st.selectbox("Video", range(len(results)), format_func=names.__getitem__, key="gaze_video")
        st.header(results[chosen].name)
        show_clip(results[chosen], colormap, alpha)
    else:
        show_clip(results[0], colormap, alpha)


main()
