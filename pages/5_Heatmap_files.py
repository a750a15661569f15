"""Heatmap files: open heatmap txt files written earlier (ours, with sidecar and npz, or legacy ones), scrub
them with the explorer's viewer, and compare two of them frame by frame.

Reading, placing legacy files on a video and comparing happen in ``core.heatmap_files`` (``read_result``,
``place_legacy``) and ``core.compare`` (which refuses two different videos); this page wires widgets to them
and draws with ``pages.ui.viewer`` (the explorer's own view) and ``pages.ui.comparison``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import streamlit as st

from core.compare import OtherVideos, compare_results, recorded_video
from core.errors import CamError
from core.formats.sidecar import sidecar_path
from core.heatmap_files import WINDOWS, place_legacy, read_result
from core.result import ExplainResult
from pages.ui import cache, comparison, pickers, tables
from pages.ui.errors import shown_as_error
from pages.ui.page import setup_page
from pages.ui.text import for_page
from pages.ui.viewer import COLORMAPS, show_view

setup_page("Heatmap files", "🗂")

SOURCES = {"paths": "Paths", "upload": "Upload"}  # radio values and their labels
SAMPLING = {"evenly": "Sampled evenly over the video", "stride": "A clip of every k-th frame"}
WINDOW_LABELS = {"center": "Centre crop (the heatmaps' shape)", "frame": "Whole frame"}


@st.cache_data(show_spinner="Reading the heatmap file…", max_entries=16)
def opened(txt: str, video: str | None, stamps: tuple) -> ExplainResult:
    """The file, read once per content (``stamps``: see :func:`stamps_of`)."""
    return read_result(txt, video=video)


@st.cache_data(show_spinner="Placing the legacy file on the video…", max_entries=16)
def placed(txt: str, video: str, stride: int | None, window: str, stamps: tuple) -> ExplainResult:
    """A legacy file placed on ``video`` (``core.heatmap_files.place_legacy``), once per content and choice."""
    return place_legacy(read_result(txt, frames=False), video, stride=stride, window=window)


def stamps_of(txt: Path, video: str | None) -> tuple:
    """What identifies a file's content: the txt, its sidecar, npz and video (mtime, size)."""
    files = (txt, sidecar_path(txt), txt.with_suffix(".npz"), Path(video) if video else None)
    return tuple(cache.content_stamp(p) for p in files)


def inputs() -> tuple[list[Path], str | None, float, str, st.delta_generator.DeltaGenerator]:
    """The txt files, the optional source video, the overlay's look, and a sidebar slot under the video for
    the legacy files' placement (filled once the files are read)."""
    with st.sidebar:
        st.header("Heatmap files")
        source = st.radio("Files", tuple(SOURCES), horizontal=True, key="hm_source", format_func=SOURCES.get)
        files: list[Path] = []
        if source == "paths":
            files = [Path(p) for p in pickers.paths_input("Heatmap txt files, one path a line", "hm_paths",
                                                          height=110,
                                                          help="Their .json sidecar and .npz beside them are "
                                                               "read too.")]
        else:
            uploads = pickers.upload_input("Heatmap txt files, with their .json and .npz", ["txt", "json", "npz"],
                                           "hm_upload", multiple=True)
            files = sorted(p for p in uploads if p.suffix == ".txt")
        video = pickers.path_input("Source video (optional)", "hm_video",
                                   help="For the overlay. By default each file's sidecar names its video; it is "
                                        "used when it is on this machine. Files without sidecar are placed on "
                                        "this video by assumption (see below).")
        slot = st.container()
        st.header("Look")
        alpha = st.slider("Overlay opacity", 0.0, 1.0, 0.5, 0.05, key="hm_alpha")
        colormap = st.selectbox("Colormap", COLORMAPS, key="hm_colormap")
    return list(dict.fromkeys(files)), video, alpha, colormap, slot


def placement(slot: Any, video: str | None) -> tuple[int | None, str] | None:
    """How legacy files go on the source video (stride or None for evenly, window), or None without one."""
    with slot:
        st.subheader("Files without sidecar")
        if not video:
            st.caption("Give their source video above to see their heatmaps over it.")
            return None
        sampling = st.radio("Their frames", list(SAMPLING), format_func=SAMPLING.get, key="hm_sampling",
                            help="Which source frames the heatmap frames show, as MMAction2's test pipelines "
                                 "sample them: evenly, the middle of equal segments (TSN-style: SampleFrames "
                                 "with num_clips = the number of heatmap frames), or one clip of frames k apart "
                                 "centred in the video (SampleFrames with frame_interval = k).")
        stride = None
        if sampling == "stride":
            stride = int(st.number_input("k (frames apart)", 1, 1000, 2, key="hm_stride",
                                         help="The config's frame_interval."))
        window = st.radio("Their window", WINDOWS, format_func=WINDOW_LABELS.get, key="hm_window",
                          help="The centred crop with the heatmaps' proportions (a Resize of the short side, then "
                               "CenterCrop: the usual test pipeline), or the whole frame (a Resize to a fixed "
                               "size).")
    return stride, window


def _label(result: ExplainResult) -> str:
    parts = [f"layer {result.layer}" if result.layer else None,
             result.method or None,
             f"class {result.target_class} ({result.target_label})" if result.target_class is not None else None,
             Path(result.checkpoint).name if result.checkpoint else (None if result.legacy else "random weights")]
    return " · ".join(p for p in parts if p)


def video_name(file: ExplainResult) -> str:
    """The video a file explains, as the table shows it."""
    if file.legacy:
        return f"{Path(file.video).name} (assumed)" if file.video else "unknown (no sidecar)"
    recorded = recorded_video(file)
    return Path(recorded).name if recorded else "not recorded"


def summary(files: dict[str, ExplainResult]) -> None:
    """One row per file: its name and video shown whole, what it holds."""
    rows = []
    for name, file in files.items():
        heat = file.heatmaps
        rows.append({"file": name, "video": video_name(file),
                     "kind": "legacy (no sidecar)" if file.legacy else "with sidecar",
                     "views × frames": f"{heat.shape[0]} × {heat.shape[1]}", "size": f"{heat.shape[3]}×{heat.shape[2]}",
                     "overlay": file.frames is not None, "about": _label(file)})
    table = pd.DataFrame(rows)
    st.dataframe(table, hide_index=True, column_config={
        "file": tables.text_column("file", table["file"], "The txt file's name", pinned=True),
        "video": tables.text_column("video", table["video"], "The video the file explains (its sidecar's)"),
        "about": tables.text_column("about", table["about"], "Layer, method, class and checkpoint")})


def show_file(name: str, file: ExplainResult, key: str, alpha: float, colormap: str) -> None:
    st.subheader(name)
    if file.legacy:  # one notice: what the file lacks, and how it was placed or can be
        hint = [] if file.frames is not None else ["Give its source video in the sidebar to see the heatmaps over "
                                                   "it (its frames and window are then assumed)."]
        st.info(for_page(" ".join([*file.file_notes, *hint])))
    else:
        st.caption(" · ".join(p for p in (_label(file), f"video {file.video or None}") if p))
        for note in file.file_notes:
            st.info(for_page(note))
    show_view(file, key, alpha=alpha, colormap=colormap)


def show_comparison(files: dict[str, ExplainResult], alpha: float, colormap: str) -> None:
    names = list(files)
    left, right = st.columns(2)
    first = left.selectbox("A", names, key="hm_a")
    second = right.selectbox("B", names, index=1, key="hm_b")
    if first == second:
        st.info("Pick two different files to compare.")
        return
    a, b = files[first], files[second]
    try:
        try:
            cmp = compare_results(a, b)
        except OtherVideos as err:  # refused; the user may insist (then a warning says what the numbers are)
            message = st.empty()
            if not st.checkbox("Compare them anyway (the same clip under another name, or on purpose)",
                               key="hm_other_videos"):
                message.error(for_page(str(err)), icon=":material/error:")
                return
            cmp = compare_results(a, b, other_videos=True)
            message.warning(for_page(cmp.notes[0]), icon=":material/warning:")
    except CamError as err:
        st.error(for_page(str(err)), icon=":material/error:")
        return
    different = cmp.video is not None and cmp.video.verdict == "different"
    for note in cmp.notes[1:] if different else cmp.notes:
        st.info(for_page(note))
    correlation = cmp.correlation
    cols = st.columns(3)
    cols[0].metric("Saliency correlation", f"{cmp.saliency_correlation:.3f}",
                   help="Pearson correlation of the two clip saliency maps (mean over the paired frames).")
    cols[1].metric("Mean per-frame correlation",
                   f"{pd.Series(correlation).mean():.3f}" if pd.Series(correlation).notna().any() else "—",
                   help="Mean of the per-frame Pearson correlations (frames where a map is constant left out).")
    cols[2].metric("Mean |A − B|", f"{cmp.mean_abs_difference.mean():.3f}")
    st.plotly_chart(comparison.comparison_figure(cmp, a, b, (first, second), alpha=alpha, colormap=colormap),
                    key="hm-compare-frames", config=dict(displaylogo=False))
    st.plotly_chart(comparison.curves_figure(cmp), key="hm-compare-curves", config=dict(displaylogo=False))
    st.plotly_chart(comparison.saliency_figure(cmp, (first, second), colormap, pixel_aspect=a.pixel_aspect),
                    key="hm-compare-saliency", config=dict(displaylogo=False))
    table = pd.DataFrame({"pair": range(1, len(cmp.labels) + 1), "frame": cmp.labels,
                          "correlation": correlation, "mean |A − B|": cmp.mean_abs_difference})
    st.download_button("Per-frame table (csv)", table.to_csv(index=False).encode(), file_name="comparison.csv",
                       mime="text/csv", key="hm-compare-csv", on_click="ignore", icon=":material/download:")


def main() -> None:
    st.title("Heatmap files")
    paths, video, alpha, colormap, slot = inputs()
    if not paths:
        st.info("Open one or more heatmap txt files in the sidebar: files written by the explorer or "
                "`python -m core.vis_cam --file-url` (their .json sidecar and .npz beside them), or legacy files "
                "of the patched vis_cam.py. Two files of the same video (two checkpoints, layers or methods) "
                "can be compared frame by frame.")
        return
    files: dict[str, ExplainResult] = {}
    keys: dict[str, str] = {}
    where: dict[str, Path] = {}
    for path in paths:
        with shown_as_error(prefix=f"{path.name}: "):
            content = stamps_of(path, video)
            file = opened(str(path), video, content)
            name = path.stem if path.stem not in files else str(path)
            files[name], where[name] = file, path
            keys[name] = f"file{abs(hash((video, content)))}"
    if any(file.legacy for file in files.values()):
        how = placement(slot, video)
        for name, file in files.items():
            if file.legacy and how is not None and video:
                with shown_as_error(prefix=f"{where[name].name}: "):
                    content = stamps_of(where[name], video)
                    files[name] = placed(str(where[name]), video, *how, content)
                    keys[name] = f"file{abs(hash((video, content, how)))}"
    if not files:
        return
    if len(files) == 1:
        name, file = next(iter(files.items()))
        show_file(name, file, keys[name], alpha, colormap)
        return
    summary(files)
    view_tab, compare_tab = st.tabs(["View one file", "Compare two files"])
    with view_tab:
        name = st.selectbox("File", list(files), key="hm_file")
        show_file(name, files[name], keys[name], alpha, colormap)
    with compare_tab:
        show_comparison(files, alpha, colormap)


main()
