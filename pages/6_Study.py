"""Study: several runs (batch output folders) compared with human gaze, with baselines, CIs and tests.

All computing happens in ``core.study`` (the same as ``python -m core.study``); this page reads widgets, runs
the study with a progress bar, keeps the result for the session, and draws it: the summary with CIs and
significance, a pairwise p-value matrix per metric, distributions per run and per class, one video frame by
frame (every run beside the gaze, one client-side slider), per-frame curves, and the downloads.
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pandas as pd
import plotly.express as px
import plotly.graph_objects as go
import streamlit as st
from plotly.subplots import make_subplots

from core.gaze.inputs import fixations_output
from core.saliency import BETTER, Protocol
from core.study import ALL_BASELINES, BASELINES, REGIONS, StudyResult, StudySpec, compute, p_matrix
from core.study.pictures import VideoPictures, frame_curves, video_pictures
from core.study.report import output_files
from core.study.result import MARKS
from pages.ui import cache
from pages.ui.errors import shown_as_error
from pages.ui.page import setup_page
from pages.ui.pickers import path_input
from pages.ui.text import control, for_page
from pages.ui.viewer import COLORMAPS, add_player

START_LABEL = "First frame's number in gaze folders"
setup_page("Study", "📊", controls={  # what core's sentences call --flags, as this page's sidebar names them
    "--start-index": control(START_LABEL),
    "--region frame": control("Score over: the whole frame"),
    "--region crop": control("Score over: each model's window"),
    "--gaze": control("Fixations folder"),
    "--density": control("Density folder (optional)"),
    "--run NAME=BATCH_DIR": "a run's name and batch folder (sidebar)",
    "--subjects": control("Subjects folder (optional: the human bound)"),
    "--protocol": control("Protocol"),
})

ARROW = {"higher": "↑", "lower": "↓"}
# baselines in grey, as in the report's figures
GREYS = {"center": "#7f7f7f", "center_fit": "#666666", "others": "#b5b5b5", "human": "#4d4d4d"}
RESULT = "study_result"  # session state: (key, StudyResult) of the last study run
SOURCES = {"demo": "Built-in demo", "folders": "Batch folders"}


def inputs() -> tuple[StudySpec | None, str, float]:
    """The study the sidebar describes (None until a run and the gaze are given), colormap and opacity."""
    with st.sidebar:
        source = st.radio("Study", tuple(SOURCES), key="study_source", format_func=SOURCES.get, horizontal=True)
        runs: list[tuple[str, Path]] = []
        gaze = density = None
        if source == "demo":
            st.caption("The two demo models (the same recipe with and without the localization term) against 5 "
                       "synthetic observers of 12 demo clips.")
        else:
            st.header("Runs")
            st.caption("Each run is the output folder of a batch (the Batch page, or `python -m core.batch --out`): "
                       "one model, layer and method.")
            count = st.session_state.setdefault("study_runs", 2)
            for i in range(count):
                name = st.text_input(f"Run {i + 1} name", key=f"study_name_{i}", placeholder=f"run{i + 1}").strip()
                folder = path_input(f"Run {i + 1} batch folder", key=f"study_folder_{i}")
                if folder:
                    runs.append((name or f"run{i + 1}", Path(folder)))
            # one above the other: side by side, the sidebar cut the second label short ("Remove the …")
            st.button("Add a run", key="study_add", on_click=lambda: st.session_state.update(study_runs=count + 1),
                      width="stretch", icon=":material/add:")
            st.button(f"Remove run {count}", key="study_remove", disabled=count <= 1, width="stretch",
                      icon=":material/remove:", on_click=lambda: st.session_state.update(study_runs=count - 1))
            st.header("Gaze")
            gaze = path_input("Fixations folder", key="study_gaze",
                              help="One entry per video, named like it: an image, a folder of per-frame images "
                                   "(python -m core.gaze.fixations writes them) or a video of gaze maps.")
            density = path_input("Density folder (optional)", key="study_density")
        region = st.radio("Score over", REGIONS, key="study_region", horizontal=True,
                          format_func={"crop": "each model's window", "frame": "the whole frame"}.get)
        start = st.selectbox(START_LABEL, ("auto", 0, 1), key="study_start",
                             help="In per-frame gaze folders, the number of the video's first frame; auto: 0 when "
                                  "a file numbered 0 exists, else 1.")
        baselines = st.multiselect("Baselines", ALL_BASELINES, default=list(BASELINES), key="study_baselines",
                                   help="center: a Gaussian centred on the scoring grid (σ = size / 4); center_fit: "
                                        "its σ chosen on the other videos' fixations; others: the mean gaze density "
                                        "of the other videos (leave one out); human: each observer against the "
                                        "others (needs the subjects folder).")
        subjects = path_input("Subjects folder (optional: the human bound)", key="study_subjects",
                              help="The subjects/ folder python -m core.gaze.fixations (or core.gaze.datasets) "
                                   "writes: each observer's fixations, one <video>.npz per video.")
        protocol = st.radio("Protocol", list(Protocol), key="study_protocol", horizontal=True,
                            help="exact: deterministic definitions; mit: the MIT saliency benchmark's MATLAB code as "
                                 "DHF1K's evaluation runs it (seeded), with information gain (docs/study.md).")
        keep_constant = st.checkbox("Score constant maps too", key="study_keep_constant",
                                    help="A map that is constant in every frame (all zero or flat: Grad-CAM found no "
                                         "positive evidence) has no saliency; by default it is left out and listed.")
        st.header("Display")
        colormap = st.selectbox("Colormap", COLORMAPS, key="study_colormap")
        alpha = st.slider("Overlay opacity", 0.0, 1.0, 0.5, 0.05, key="study_alpha")
    if source == "demo":
        with st.spinner("Preparing the demo's heatmaps and gaze (first use only)…"), shown_as_error() as box:
            demo = StudySpec.demo(region)
        if box.failed:
            return None, colormap, alpha
        return replace(demo, baselines=tuple(baselines), start_index=start if isinstance(start, int) else None,
                       protocol=Protocol(protocol or Protocol.EXACT), keep_constant=keep_constant), colormap, alpha
    if not runs or not gaze:
        return None, colormap, alpha
    gaze, density, _ = fixations_output(gaze, density)
    spec = StudySpec(tuple(runs), Path(gaze), Path(density) if density else None, region, tuple(baselines),
                     start if isinstance(start, int) else None, Protocol(protocol or Protocol.EXACT),
                     Path(subjects) if subjects else None, keep_constant=keep_constant)
    return spec, colormap, alpha


def _key(spec: StudySpec) -> tuple:
    folders = [folder for _, folder in spec.runs]
    return (spec, *map(cache.tree_stamp, [*folders, spec.gaze, spec.density, spec.subjects]))


def run_study(spec: StudySpec, key: tuple) -> bool:
    """Compute the study with a progress bar and keep it for this session; False when it failed (said)."""
    with st.status("Running the study…", expanded=True) as status:
        bar = st.progress(0.0, text="finding the videos")

        def progress(done: int, total: int, message: str) -> None:
            bar.progress(done / max(total, 1), text=f"{message} ({done}/{total})")

        with shown_as_error() as box:
            result = compute(spec, progress)
        if box.failed:
            # expanded: the sentence that says what is wrong stays in view
            status.update(label="The study could not run", state="error", expanded=True)
            return False
        status.update(label=f"Scored {len(result.scores.videos)} videos", state="complete", expanded=False)
    st.session_state[RESULT] = (key, result)
    return True


def colours(result: StudyResult) -> dict[str, str]:
    """One colour per run for every chart; baselines grey."""
    palette = px.colors.qualitative.Plotly
    runs = [run for run in result.runs if run not in result.scores.baselines]
    return {**{run: palette[i % len(palette)] for i, run in enumerate(runs)},
            **{run: GREYS.get(run, "#999999") for run in result.scores.baselines}}


def summary_table(result: StudyResult) -> pd.DataFrame:
    """Run × metric: mean ± std and the significance marks against the best."""
    rows = {}
    for run in result.runs:
        cells = {"n": result.stat(run, result.metrics[0])["n"]}
        for metric in result.metrics:
            stat = result.stat(run, metric)
            cells[f"{metric} {ARROW[BETTER[metric]]}"] = (f"{stat['mean']:.3f} ± {stat['std']:.3f} "
                                                          f"{result.mark(run, metric)}").strip()
        rows[run + (" (baseline)" if run in result.scores.baselines else "")] = cells
    return pd.DataFrame.from_dict(rows, orient="index")


def show_summary(result: StudyResult) -> None:
    table = summary_table(result)
    best = {f"{m} {ARROW[BETTER[m]]}": result.best(m) for m in result.metrics}
    names = {label: label.removesuffix(" (baseline)") for label in table.index}

    def highlight(column: pd.Series) -> list[str]:
        return ["background-color: #d8f0d2; font-weight: bold" if names[i] == best.get(column.name) else ""
                for i in column.index]

    st.subheader("Clip scores")
    st.dataframe(table.style.apply(highlight), width="stretch")
    marks = ", ".join(f"{mark} p < {limit}" for limit, mark in reversed(MARKS))
    st.caption(f"Mean ± std over videos; green: the best per metric; {marks}: differs from the best (two-sided "
               "Wilcoxon signed-rank over the videos both have, Holm-corrected per metric). ↑ higher is better, "
               "↓ lower is better.")
    with st.expander("95 % confidence intervals, frame-pooled means and all tests"):
        summary = pd.DataFrame(result.summary)
        st.dataframe(summary, hide_index=True, width="stretch", column_config={
            c: st.column_config.NumberColumn(format="%.4f")
            for c in ("mean", "std", "ci_low", "ci_high", "frame_pooled_mean")})
        st.caption("CI: percentile bootstrap over videos (10 000 resamples, seed 0). Frame-pooled mean: all "
                   "per-frame scores of all videos.")
        st.dataframe(pd.DataFrame(result.tests), hide_index=True, width="stretch", column_config={
            c: st.column_config.NumberColumn(format="%.4g") for c in ("statistic", "p", "p_holm", "effect")})
    missing = {run: videos for run, videos in result.scores.missing.items() if videos}
    for run, videos in missing.items():
        where = "have no gaze entry and are not scored" if run == "gaze" else f"are missing from run {run}"
        st.warning(f"{len(videos)} videos {where}: {', '.join(videos)}")
    for run, videos in result.scores.constant.items():
        if videos:
            st.warning(f"{len(videos)} constant maps of run {run} are not scored (all zero or flat: Grad-CAM found no "
                       f"positive evidence, so there is no saliency to compare): {', '.join(videos)}")
    if result.scores.gaze_only:
        st.info(f"{len(result.scores.gaze_only)} videos have gaze but are in no run: "
                f"{', '.join(result.scores.gaze_only)}")
    with st.expander(f"Notes ({len(result.scores.notes)})"):
        for note in result.scores.notes:
            st.markdown(f"- {for_page(note)}")


def p_figure(result: StudyResult, metric: str) -> go.Figure:
    matrix = p_matrix(result, metric)
    text = [["" if pd.isna(v) else ("<0.001" if v < 0.001 else f"{v:.3f}") for v in row] for row in matrix]
    figure = go.Figure(go.Heatmap(z=matrix, x=result.runs, y=result.runs, text=text, texttemplate="%{text}",
                                  colorscale="Greens_r", zmin=0, zmax=0.1, colorbar=dict(title="p (Holm)"),
                                  hovertemplate="%{y} vs %{x}: p = %{z:.4g}<extra></extra>"))
    figure.update_yaxes(autorange="reversed")
    figure.update_layout(height=120 + 45 * len(result.runs), margin=dict(l=10, r=10, t=40, b=10),
                         title_text=f"{metric}: Holm-corrected p, Wilcoxon signed-rank")
    return figure


def show_metric(result: StudyResult) -> None:
    metric = st.selectbox("Metric", result.metrics, key="study_metric",
                          format_func=lambda m: f"{m} ({BETTER[m]} is better)")
    clips = pd.DataFrame([row for row in result.scores.rows if row["frame"] == ""])
    left, right = st.columns([2, 3], gap="medium")
    with left:
        st.plotly_chart(p_figure(result, metric), width="stretch", key="study_pvalues")
    with right:
        figure = px.box(clips, x="run", y=metric, points="all", hover_data=["video", "class"], color="run",
                        category_orders={"run": result.runs}, color_discrete_map=colours(result), height=360,
                        title=f"{metric} per video ({BETTER[metric]} is better)")
        figure.update_layout(showlegend=False, margin=dict(l=10, r=10, t=40, b=10))
        st.plotly_chart(figure, width="stretch", key="study_box")
    if clips["class"].nunique() > 1:
        figure = px.box(clips, x="class", y=metric, color="run", points="all", hover_data=["video"],
                        category_orders={"run": result.runs}, color_discrete_map=colours(result), height=380,
                        title=f"{metric} per class")
        figure.update_layout(margin=dict(l=10, r=10, t=40, b=10))
        st.plotly_chart(figure, width="stretch", key="study_classes")


@st.cache_data(show_spinner="Drawing the video's frames…", max_entries=8)
def _pictures(key: str, video: str, colormap: str, alpha: float, _result: StudyResult) -> VideoPictures:
    return video_pictures(_result, video, colormap=colormap, alpha=alpha)


def player_figure(pictures: VideoPictures) -> go.Figure:
    """Every panel side by side, one slider (and play button) for all, swapped in the browser."""
    cols = len(pictures.panels)
    figure = make_subplots(rows=1, cols=cols, subplot_titles=pictures.panels, horizontal_spacing=0.01)
    labels = [f"Frame {f}" if f is not None else "Clip" for f in pictures.frames]
    add_player(figure, lambda i: pictures.images[i], labels, pixel_aspect=1.0, fps=min(pictures.fps or 5.0, 8.0),
               slider_x=0.08)
    height = pictures.images[0][0].shape[0] * min(1.0, 1100 / (cols * pictures.images[0][0].shape[1]))
    figure.update_layout(height=int(height) + 150, margin=dict(l=10, r=10, t=40, b=10), plot_bgcolor="white")
    return figure


def curves_figure(result: StudyResult, video: str) -> go.Figure | None:
    rows = frame_curves(result, video)
    if not rows:
        return None
    data = pd.DataFrame(rows)
    metrics = result.metrics
    figure = make_subplots(rows=len(metrics), cols=1, shared_xaxes=True, vertical_spacing=0.02,
                           subplot_titles=[f"{m} ({BETTER[m]} is better)" for m in metrics])
    palette = colours(result)
    for run in result.runs:
        mine = data[data["run"] == run].sort_values("frame")
        for row, metric in enumerate(metrics, start=1):
            figure.add_trace(go.Scatter(x=mine["frame"], y=mine[metric], mode="lines+markers", name=run,
                                        legendgroup=run, showlegend=row == 1,
                                        line=dict(color=palette[run],
                                                  dash="dot" if run in result.scores.baselines else "solid")),
                             row=row, col=1)
    figure.update_xaxes(title_text="source frame (0-based)", row=len(metrics), col=1)
    figure.update_annotations(font_size=11)
    figure.update_layout(height=150 * len(metrics), margin=dict(l=10, r=10, t=30, b=10),
                         legend=dict(orientation="h", y=1.03, x=1, xanchor="right"))
    return figure


def show_video(result: StudyResult, key: str, colormap: str, alpha: float) -> None:
    st.subheader("One video")
    videos = result.scores.videos
    names = [f"{v} ({result.scores.classes.get(v)})" if result.scores.classes.get(v) else v for v in videos]
    chosen = st.selectbox("Video", range(len(videos)), format_func=names.__getitem__, key="study_video")
    video = videos[chosen]
    with shown_as_error():
        pictures = _pictures(key, video, colormap, alpha, result)
        for note in pictures.notes:
            st.info(for_page(note))
        st.plotly_chart(player_figure(pictures), width="stretch", key="study_player",
                        config=dict(displaylogo=False))
        st.caption("Gaze: the density with the fixations (red dots) over the source frame. Runs: each heatmap in "
                   "the window its model saw (white box), the fixations on top.")
    curves = curves_figure(result, video)
    if curves is not None:
        st.plotly_chart(curves, width="stretch", key="study_curves")
    else:
        st.caption("The gaze is one map per clip: no per-frame scores.")


@st.cache_data(show_spinner=False, max_entries=4)
def _files(key: str, _result: StudyResult) -> dict[str, bytes]:
    """Every output file, built at the first download (the figures take seconds)."""
    files = output_files(_result)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in files.items():
            archive.writestr(f"study/{name}", data)
    return {"study.zip": buffer.getvalue(), **files}


DOWNLOADS = ("study.zip", "scores.csv", "summary.csv", "tests.csv", "report.md", "summary.png", "distributions.png",
             "pvalues.png", "classes.png")
MIME = {".zip": "application/zip", ".csv": "text/csv", ".md": "text/markdown", ".png": "image/png"}


def _file_data(key: str, result: StudyResult, name: str) -> Callable[[], bytes]:
    """The bytes of output file ``name``, made only when its download is clicked."""
    return lambda: _files(key, result)[name]


def show_downloads(result: StudyResult, key: str) -> None:
    st.subheader("Downloads")
    st.caption("The same files python -m core.study --out writes; study.zip holds them all.")
    for column, name in zip(st.columns(3) * 3, DOWNLOADS, strict=True):
        column.download_button(name, _file_data(key, result, name), file_name=name,
                               mime=MIME[Path(name).suffix], key=f"study_dl_{name}", on_click="ignore",
                               icon=":material/download:", width="stretch")


def main() -> None:
    st.title("Study")
    spec, colormap, alpha = inputs()
    if spec is None:
        st.info("Give one or more runs (batch output folders) and the gaze folder in the sidebar, then run the "
                "study: every saliency metric for every run and baseline, bootstrap CIs, Holm-corrected Wilcoxon "
                "tests. python -m core.study computes the same from the command line.")
        return
    key = _key(spec)
    kept = st.session_state.get(RESULT)
    current = kept is not None and kept[0] == key
    first_demo = not current and st.session_state.get("study_source", "demo") == "demo" and kept is None
    if first_demo or st.button("Run the study" if not current else "Run it again", type="primary", key="study_run"):
        if run_study(spec, key):
            st.rerun()  # draw the result (and the button's new label) from the top
        return
    if kept is None or not current:
        if kept is not None:
            st.caption("The inputs changed since the last study: run it again to see their result.")
        return
    result = kept[1]
    digest = str(abs(hash(key)))
    show_summary(result)
    show_metric(result)
    show_video(result, digest, colormap, alpha)
    show_downloads(result, digest)


main()
