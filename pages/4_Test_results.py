"""Test results: the predictions MMAction2's ``tools/test.py --dump`` wrote, scored and browsable, and any
sample opened in the explorer (its ground truth or its prediction explained).

All computing happens in ``core.dumps`` (a safe reader: the pickle is never given to ``pickle.load``);
this page reads widgets, calls it (cached), and draws the result. **Explain** hands the sample over to
the explorer (``pages.ui.pickers.hand_over``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from core import dumps
from core.model import read_label_map
from pages.ui import cache, pickers, tables
from pages.ui.errors import shown_as_error
from pages.ui.page import setup_page

setup_page("Test results", "📊")

SOURCES = ("Paths", "Upload")
ANY = -1  # filter sentinel: any class
SHOW = ("All", "Wrong", "Right")
MAX_PICK = 1000  # samples listed in the Explain picker


@st.cache_data(show_spinner="Reading the test results…", max_entries=8)
def _report(results: str, config: str | None, ann_file: str | None, video_root: str | None, label_map: str | None,
            stamps: tuple) -> dumps.DumpReport:
    return dumps.open_dump(results, config=config, ann_file=ann_file, video_root=video_root, label_map=label_map)


def report_of(results: str, config: str | None, ann_file: str | None, video_root: str | None,
              label_map: str | None) -> dumps.DumpReport:
    """The scored dump, read once per content of its files."""
    stamps = tuple(cache.content_stamp(p) for p in (results, config, ann_file, label_map))
    return _report(results, config, ann_file, video_root, label_map, stamps)


def _uploaded(label: str, types: list[str], key: str, check) -> str | None:
    """An uploaded file's path in this session's upload folder, or None (refused files are deleted)."""
    paths = pickers.upload_input(label, types, key, check=lambda paths: check(paths[0]))
    return str(paths[0]) if paths else None


def inputs() -> tuple[dict, pickers.ModelSpec | None]:
    """The dump and its test set (paths for ``core.dumps.open_dump``), and the model to explain samples with."""
    with st.sidebar:
        st.header("Results")
        source = st.radio("Files", SOURCES, horizontal=True, key="dump_source")
        if source == SOURCES[0]:
            results = pickers.path_input("Results pickle", "dump_path", placeholder="work_dirs/…/results.pkl",
                                         help="Written by MMAction2's tools/test.py CONFIG CHECKPOINT --dump FILE "
                                              "(0.x --out files work too, with the annotation file).")
        else:
            results = _uploaded("Results pickle", ["pkl", "pickle"], "dump_upload", dumps.load_dump)
        st.header("Test set")
        config = pickers.path_input("Config (.py)", "dump_config",
                                    help="Its test_dataloader gives the annotation file, the video folder and the "
                                         "class names. Empty: the model's config below (unless the built-in demo).")
        if source == SOURCES[0]:
            ann_file = pickers.path_input("Annotation file", "dump_ann", help="Sample i of the dump is its line i; "
                                          "by default the config's test ann_file.")
            label_map = pickers.path_input("Label map (one class a line)", "dump_label_map")
        else:
            ann_file = _uploaded("Annotation file", ["txt"], "dump_ann_upload", dumps.read_annotations)
            label_map = _uploaded("Label map (one class a line)", ["txt"], "dump_labels_upload", read_label_map)
        video_root = pickers.path_input("Video folder", "dump_video_root",
                                        help="The folder the annotation paths are relative to; by default the "
                                             "config's data_prefix.")
        st.header("Model (to explain samples)")
        spec = pickers.pick_model()
    if config is None and spec is not None and st.session_state.get("model_source") != pickers.MODEL_SOURCES[0]:
        config = spec.config
    label_map = label_map or (spec.label_map if spec is not None else None)
    return dict(results=results, config=config, ann_file=ann_file, video_root=video_root, label_map=label_map), spec


def accuracies(report: dumps.DumpReport) -> None:
    cols = st.columns(4)
    cols[0].metric("Top-1 accuracy", f"{report.top1:.2%}")
    cols[1].metric("Top-5 accuracy", f"{report.top5:.2%}")
    cols[2].metric("Mean class accuracy", f"{report.mean_class_accuracy:.2%}",
                   help="MMAction2's acc/mean1: the mean over the classes found in the ground truth or the "
                        "predictions; a class that is only predicted counts 0.")
    cols[3].metric("Mean over ground-truth classes", f"{report.mean_class_accuracy_gt:.2%}",
                   help="The mean class accuracy over the classes that have test samples.")


def _shown_classes(report: dumps.DumpReport) -> np.ndarray:
    """Classes with test samples or predictions (the rest would be empty rows and columns)."""
    return np.union1d(report.gt, report.pred)


def _cell_clicked() -> None:
    """A click on the confusion matrix filters the sample table to that cell."""
    points = st.session_state["dump_confusion"]["selection"]["points"]
    if points and points[0].get("customdata"):
        gt, pred = points[0]["customdata"][:2]
        st.session_state.update(dump_gt=int(gt), dump_pred=int(pred), dump_show=SHOW[0])


def confusion(report: dumps.DumpReport) -> None:
    shown = _shown_classes(report)
    counts = report.confusion[np.ix_(shown, shown)]
    normalise = st.toggle("Share of each ground-truth class", key="dump_normalise")
    totals = counts.sum(axis=1, keepdims=True)
    z = np.divide(counts, totals, out=np.zeros(counts.shape), where=totals > 0) if normalise else counts
    names = [f"{report.classes[c]}" for c in shown]
    rows, cols = np.nonzero(counts)
    small = len(shown) <= 25  # room to write the numbers in the cells
    fig = go.Figure(go.Heatmap(z=z, x=np.arange(len(shown)), y=np.arange(len(shown)), colorscale="Blues",
                               hoverinfo="skip", colorbar=dict(thickness=10),
                               texttemplate=("%{z:.0%}" if normalise else "%{z}") if small else None))
    fig.add_trace(go.Scatter(  # clickable cells: Plotly heatmaps cannot be selected, points can
        x=cols, y=rows, mode="markers", showlegend=False,
        marker=dict(symbol="square", size=max(4, min(28, 560 // max(1, len(shown)))), color="rgba(0,0,0,0)"),
        customdata=np.stack([shown[rows], shown[cols], counts[rows, cols]], axis=1) if rows.size else None,
        text=[f"{names[r]} → {names[c]}" for r, c in zip(rows, cols, strict=True)],
        hovertemplate="%{text}: %{customdata[2]} samples<extra>click to list them</extra>"))
    ticks = dict(tickmode="array", tickvals=list(range(len(shown))), ticktext=names, automargin=True,
                 showgrid=False, zeroline=False)
    fig.update_layout(height=min(900, max(420, 200 + 26 * len(shown))), margin=dict(l=10, r=10, t=40, b=10),
                      title_text="Confusion matrix (rows: ground truth, columns: prediction)",
                      xaxis=dict(title="prediction", **ticks), yaxis=dict(title="ground truth", autorange="reversed",
                                                                       scaleanchor="x", **ticks),
                      clickmode="event+select", dragmode=False, plot_bgcolor="white")
    st.plotly_chart(fig, key="dump_confusion", on_select=_cell_clicked, selection_mode="points",
                    config=dict(displaylogo=False))
    if len(shown) < len(report.classes):
        st.caption(f"{len(shown)} of {len(report.classes)} classes: those with test samples or predictions.")


def per_class(report: dumps.DumpReport) -> None:
    rows = [c for c in report.per_class() if c.count]
    rows.sort(key=lambda c: (c.accuracy, c.index))
    fig = go.Figure(go.Bar(x=[c.name for c in rows], y=[c.accuracy for c in rows],
                           marker=dict(color=[c.accuracy for c in rows], colorscale="RdYlGn", cmin=0, cmax=1),
                           customdata=[[c.correct, c.count] for c in rows],
                           hovertemplate="%{x}: %{y:.1%} (%{customdata[0]}/%{customdata[1]})<extra></extra>"))
    fig.update_layout(height=340, margin=dict(l=10, r=10, t=40, b=10), title_text="Accuracy per class (worst first)",
                      yaxis=dict(range=[0, 1], tickformat=".0%", automargin=True),
                      xaxis=dict(type="category", automargin=True))
    st.plotly_chart(fig, key="dump_per_class", config=dict(displaylogo=False))
    pairs = report.confused_pairs(10)
    if pairs:
        with st.expander("Most confused pairs"):
            st.dataframe(pd.DataFrame([{"ground truth": p.gt_name, "prediction": p.pred_name, "samples": p.count}
                                       for p in pairs]), hide_index=True)


def _class_filter(label: str, key: str, report: dumps.DumpReport, options: np.ndarray, column) -> int | None:
    values = [ANY, *options.tolist()]
    if st.session_state.get(key) not in values:
        st.session_state.pop(key, None)
    chosen = column.selectbox(label, values, key=key,
                              format_func=lambda c: "Any" if c == ANY else f"{c}: {report.classes[c]}")
    return None if chosen == ANY else chosen


def _row_picked() -> None:
    """A row picked in the table becomes the sample to explain."""
    rows = st.session_state["dump_table"]["selection"]["rows"]
    shown = st.session_state.get("dump_rows", [])
    if rows and rows[0] < len(shown):
        st.session_state["dump_sample"] = shown[rows[0]]


def samples(report: dumps.DumpReport) -> list[dumps.Sample]:
    """Filters and the sample table; returns the samples shown."""
    cols = st.columns([3, 3, 2, 2])
    gt = _class_filter("Ground truth", "dump_gt", report, np.unique(report.gt), cols[0])
    pred = _class_filter("Prediction", "dump_pred", report, np.unique(report.pred), cols[1])
    show = cols[2].radio("Show", SHOW, key="dump_show", horizontal=True)
    order = cols[3].selectbox("Order", dumps.ORDERS, key="dump_order")
    chosen = dumps.filter_samples(report.samples(), gt=gt, pred=pred,
                                  correct={"All": None, "Wrong": False, "Right": True}[show], order=order)
    st.caption(f"{len(chosen)} of {len(report.gt)} samples. Click a confusion-matrix cell to list its samples, "
               "a row to pick it for Explain.")
    st.session_state["dump_rows"] = [s.index for s in chosen]
    table = pd.DataFrame({"sample": [s.index for s in chosen],
                          "video": [Path(s.video).name if s.video else "" for s in chosen],
                          "ground truth": [report.classes[s.gt_label] for s in chosen],
                          "prediction": [report.classes[s.pred_label] for s in chosen],
                          "score": [round(s.score, 4) for s in chosen],
                          "right": [s.correct for s in chosen]})
    st.dataframe(table, hide_index=True, key="dump_table", on_select=_row_picked, selection_mode="single-row",
                 column_config={"score": st.column_config.ProgressColumn("score", min_value=0.0, max_value=1.0,
                                                                         format="%.3f"),
                                "video": tables.text_column("video", table["video"], "The sample's video")})
    return chosen


def _sample_label(report: dumps.DumpReport, sample: dumps.Sample) -> str:
    video = f"{Path(sample.video).name}: " if sample.video else ""
    mark = "✓" if sample.correct else "✗"
    return (f"#{sample.index} {video}{report.classes[sample.gt_label]} → {report.classes[sample.pred_label]} "
            f"({sample.score:.2f}) {mark}")


def explain(report: dumps.DumpReport, chosen: list[dumps.Sample], spec: pickers.ModelSpec | None) -> None:
    st.subheader("Explain a sample")
    if not chosen:
        st.info("No sample matches the filters.")
        return
    by_index = {s.index: s for s in chosen[:MAX_PICK]}
    if st.session_state.get("dump_sample") not in by_index:
        st.session_state.pop("dump_sample", None)
    cols = st.columns([5, 3, 2], vertical_alignment="bottom")
    index = cols[0].selectbox(f"Sample (first {MAX_PICK} shown)" if len(chosen) > MAX_PICK else "Sample",
                              list(by_index), key="dump_sample",
                              format_func=lambda i: _sample_label(report, by_index[i]))
    target = cols[1].radio("Explain", dumps.TARGETS, key="dump_target", horizontal=True,
                           format_func={"ground truth": "the ground truth", "prediction": "the prediction"}.get)
    clicked = cols[2].button("Explain in the explorer", type="primary", key="dump_explain",
                             icon=":material/travel_explore:", disabled=spec is None)
    if spec is None:
        st.caption("Pick the model (config and checkpoint) in the sidebar to explain samples.")
    if clicked:
        with shown_as_error():
            chosen_target = dumps.explain_target(report, index, target)
            pickers.hand_over(spec, chosen_target.video, chosen_target.target_class)


def main() -> None:
    st.title("Test results")
    files, spec = inputs()
    if not files["results"]:
        st.info("Give the results pickle of MMAction2's `tools/test.py CONFIG CHECKPOINT --dump results.pkl` in the "
                "sidebar, with the config (or the annotation file and a label map) to name the samples and classes. "
                "`python -m core.dumps` prints the same report on the command line.")
        return
    with shown_as_error() as box:
        report = report_of(**files)
    if box.failed:
        return
    kind = "probabilities" if report.holds_probabilities else "raw scores (a softmax gives each sample's score)"
    st.caption(f"{len(report.gt)} samples · {len(report.classes)} classes · "
               f"{'0.x' if report.legacy else '1.x'} dump holding {kind}"
               + (f" · test set from {files['config']}" if files["config"] else ""))
    accuracies(report)
    confusion(report)
    per_class(report)
    st.subheader("Samples")
    chosen = samples(report)
    explain(report, chosen, spec)


main()
