"""Test results: the predictions MMAction2's ``tools/test.py --dump`` wrote, scored and browsable; any sample opened
in the explorer (its ground truth or its prediction explained), and all mistakes sent to a batch run.

All computing happens in ``core.dumps`` (a safe reader: the pickle is never given to ``pickle.load``) and
``core.runs`` (which checkpoint made the dump); this page reads widgets, calls them (cached), and draws the
result. **Explain** hands the sample over to the explorer (``pages.ui.pickers.hand_over``); **Explain all
mistakes** starts ``core.batch`` jobs through its public API (``core.batch.job``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from core import demo_data, dumps
from core.batch import samples as batch_samples
from core.batch.job import BatchRequest, Phase, job_for, start_jobs_in_turn
from core.demo import CONFIG as DEMO_CONFIG
from core.errors import CamError
from core.geometry import VIEWS
from core.model import read_label_map
from core.runs import dump_origin
from core.target import GROUND_TRUTH, PREDICTED, Target, target_of_key
from pages.ui import cache, contrast, pickers, tables
from pages.ui.errors import shown_as_error
from pages.ui.page import setup_page

setup_page("Test results", "📊")

SOURCES = {"demo": "Built-in demo", "paths": "Paths", "upload": "Upload"}
ANY = -1  # filter sentinel: any class
SHOW = {"all": ("All", None), "wrong": ("Wrong", False), "right": ("Right", True)}  # value: (label, correct)
ORDERS: dict[dumps.Order, str] = {
    dumps.Order.SAMPLE: "sample order", dumps.Order.SCORE_ASCENDING: "score, lowest first",
    dumps.Order.SCORE_DESCENDING: "score, highest first"}
TARGETS = {GROUND_TRUTH.key: "the ground truth", PREDICTED.key: "the prediction"}  # core.target keys
BATCH_TARGETS: dict[str, tuple[str, list[Target]]] = {
    "gt": ("the ground truth", [GROUND_TRUTH]), "predicted": ("the prediction", [PREDICTED]),
    "both": ("both", [GROUND_TRUTH, PREDICTED])}
BATCH_SAMPLES = {"wrong": "the misclassified samples", "shown": "the samples in the table"}
MAX_PICK = 1000  # samples listed in the Explain picker
BATCHES = "dump_batches"  # session-state key: output folders of the batches started here
_OPEN_BATCH = "dump_open_batch"  # session-state key: a batch's button asked to open the Batch page


@st.cache_data(show_spinner="Reading the test results…", max_entries=8)
def _report(results: str, config: str | None, ann_file: str | None, video_root: str | None, label_map: str | None,
            stamps: tuple) -> dumps.DumpReport:
    return dumps.open_dump(results, config=config, ann_file=ann_file, video_root=video_root, label_map=label_map)


def report_of(results: str, config: str | None, ann_file: str | None, video_root: str | None,
              label_map: str | None) -> dumps.DumpReport:
    """The scored dump, read once per content of its files."""
    stamps = tuple(cache.content_stamp(p) for p in (results, config, ann_file, label_map))
    return _report(results, config, ann_file, video_root, label_map, stamps)


def _uploaded(label: str, types: list[str], key: str, check: Callable[[Path], object]) -> str | None:
    """An uploaded file's path in this session's upload folder, or None (refused files are deleted)."""
    paths = pickers.upload_input(label, types, key, check=lambda paths: check(paths[0]))
    return str(paths[0]) if paths else None


def _is_demo(spec: pickers.ModelSpec) -> bool:
    return Path(spec.config).resolve() == DEMO_CONFIG.resolve()


def origin_of(results: str) -> dumps.DumpSource | None:
    """Which checkpoint made the dump, when it can be told (the record beside it, or the test.py log)."""
    with shown_as_error() as box:
        origin = dump_origin(results)
    return None if box.failed else origin


def _use_origin(origin: dumps.DumpSource, config: str | None) -> None:
    pickers.preset_model_paths(origin.config or config or "", origin.checkpoint)


def _remember(results: str, spec: pickers.ModelSpec) -> None:
    try:
        dumps.record_source(results, checkpoint=spec.checkpoint or "", config=spec.config,
                            recorded_by="the Test results page")
    except CamError as err:
        st.session_state["dump_remember_error"] = str(err)


def _same_file(a: str | None, b: str | None) -> bool:
    if not a or not b:
        return False
    return Path(a).expanduser().resolve() == Path(b).expanduser().resolve()


def model_section(results: str | None, test_config: str | None) -> tuple[pickers.ModelSpec | None,
                                                                          dumps.DumpSource | None]:
    """The model to explain samples with, and the checkpoint that made the dump (offered, and remembered)."""
    st.header("Model (to explain samples)")
    origin = origin_of(results) if results else None
    if origin is not None:
        st.caption(f"These results were made by checkpoint `{origin.checkpoint}` with config "
                   f"`{origin.config or test_config or '(none recorded)'}` (recorded by "
                   f"{origin.recorded_by or 'hand'}); they are used only if you press the button.")
        st.button("Use the checkpoint that made them", key="dump_use_origin", on_click=_use_origin,
                  args=(origin, test_config), icon=":material/link:",
                  help="Puts both paths above into the model picker (a file beside the results never loads a "
                       "model by itself).")
    spec = pickers.pick_model()
    if results and spec is not None and spec.checkpoint and not (origin and _same_file(spec.checkpoint,
                                                                                     origin.checkpoint)):
        label = ("Remember: these results come from this checkpoint" if origin is None
                 else "Record this checkpoint instead")
        st.button(label, key="dump_remember", on_click=_remember,
                  args=(results, spec), icon=":material/bookmark:",
                  help=f"Writes {dumps.source_file(results).name} beside the results, so the next time the right "
                       "checkpoint is offered.")
    if error := st.session_state.pop("dump_remember_error", None):
        st.error(error)
    return spec, origin


def inputs() -> tuple[dict, pickers.ModelSpec | None, dumps.DumpSource | None]:
    """The dump and its test set (paths for ``core.dumps.open_dump``), the model to explain samples with, and the
    checkpoint that made the dump (when it can be told)."""
    with st.sidebar:
        st.header("Results")
        source = st.radio("Files", tuple(SOURCES), format_func=SOURCES.get, horizontal=True, key="dump_source")
        if source == "demo":
            results = config = None
            with st.spinner("Preparing the demo's test results (first use only)…"), shown_as_error() as box:
                results, config = str(demo_data.dump()), str(demo_data.run_config())
            if not box.failed:
                st.caption("MMAction2's own tools/test.py --dump of the demo model on 16 synthetic clips (four of "
                           "them glimpses of 4 frames, too short to show the motion well).")
            spec, origin = model_section(results, config)
            files = dict(results=results, config=config, ann_file=None, video_root=None,
                         label_map=spec.label_map if spec is not None else None)
            return files, spec, origin
        if source == "paths":
            results = pickers.path_input("Results pickle", "dump_path", placeholder="work_dirs/…/results.pkl",
                                         help="Written by MMAction2's tools/test.py CONFIG CHECKPOINT --dump FILE "
                                              "(or python -m core.mm test; 0.x --out files work too, with the "
                                              "annotation file).")
        else:
            results = _uploaded("Results pickle", ["pkl", "pickle"], "dump_upload", dumps.load_dump)
        st.header("Test set")
        config = pickers.path_input("Config (.py)", "dump_config",
                                    help="Its test_dataloader gives the annotation file, the video folder and the "
                                         "class names. Empty: the model's config below (unless the built-in demo).")
        if source == "paths":
            ann_file = pickers.path_input("Annotation file", "dump_ann", help="Sample i of the dump is its line i; "
                                          "by default the config's test ann_file.")
            label_map = pickers.path_input("Label map (one class a line)", "dump_label_map")
        else:
            ann_file = _uploaded("Annotation file", ["txt"], "dump_ann_upload", dumps.read_annotations)
            label_map = _uploaded("Label map (one class a line)", ["txt"], "dump_labels_upload", read_label_map)
        video_root = pickers.path_input("Video folder", "dump_video_root",
                                        help="The folder the annotation paths are relative to; by default the "
                                             "config's data_prefix.")
        spec, origin = model_section(results, config)
    if config is None and spec is not None and not _is_demo(spec):
        config = spec.config
    label_map = label_map or (spec.label_map if spec is not None else None)
    if label_map is not None:  # class names are given once: the explorer and the batch use them for this model
        for model in ([spec] if spec is not None else []) + ([origin] if origin is not None else []):
            pickers.remember_label_map(model.config or config or "", model.checkpoint, label_map)
        if spec is not None and spec.label_map is None:
            spec = spec._replace(label_map=label_map)
    files = dict(results=results, config=config, ann_file=ann_file, video_root=video_root, label_map=label_map)
    return files, spec, origin


def accuracies(report: dumps.DumpReport) -> None:
    cols = st.columns(4)
    cols[0].metric("Top-1 accuracy", f"{report.top1:.2%}")
    cols[1].metric("Top-5 accuracy", f"{report.top5:.2%}")
    cols[2].metric("Mean class accuracy", f"{report.mean_class_accuracy:.2%}",
                   help="MMAction2's acc/mean1: the mean over the classes found in the ground truth or the "
                        "predictions; a class that is only predicted counts 0.")
    cols[3].metric("Mean over ground-truth classes", f"{report.mean_class_accuracy_gt:.2%}",
                   help="The mean class accuracy over the classes that have test samples.")


def names_key(report: dumps.DumpReport) -> str:
    """Identifies the class names shown: widgets whose labels carry them are keyed by it, because Streamlit keeps
    a keyed selectbox's old label text in the browser when only its labels change (``class_0`` after a config
    with names was given)."""
    return hashlib.sha1("\n".join(report.classes).encode()).hexdigest()[:10]


def cell_of(point: dict, shown: list[int]) -> tuple[int, int] | None:
    """(ground truth, prediction) of a clicked confusion-matrix cell. The browser sends the point's position
    (``x`` column, ``y`` row) and its ``customdata`` as a dict ``{"0": .., "1": ..}`` (AppTest: a list)."""
    try:
        column, row = round(float(point["x"])), round(float(point["y"]))
    except (KeyError, TypeError, ValueError):
        data = point.get("customdata")
        values = list(data.values()) if isinstance(data, dict) else data
        if not isinstance(values, (list, tuple)) or len(values) < 2:
            return None
        return int(values[0]), int(values[1])
    if not (0 <= row < len(shown) and 0 <= column < len(shown)):
        return None
    return shown[row], shown[column]


def _cell_clicked() -> None:
    """A click on the confusion matrix filters the sample table to that cell."""
    points = (st.session_state.get("dump_confusion") or {}).get("selection", {}).get("points") or []
    cell = cell_of(points[0], st.session_state.get("dump_shown", [])) if points else None
    if cell is not None:
        st.session_state.update(dump_gt=cell[0], dump_pred=cell[1], dump_show="all")


def confusion(report: dumps.DumpReport) -> None:
    shown = report.occurring
    st.session_state["dump_shown"] = shown.tolist()
    counts = report.confusion_over(shown)
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
        x=cols.tolist(), y=rows.tolist(), mode="markers", showlegend=False,
        marker=dict(symbol="square", size=max(4, min(28, 560 // max(1, len(shown)))), color="rgba(0,0,0,0)"),
        customdata=[[int(shown[r]), int(shown[c]), int(counts[r, c])] for r, c in zip(rows, cols, strict=True)],
        text=[f"{names[r]} → {names[c]}" for r, c in zip(rows, cols, strict=True)],
        hovertemplate="%{text}: %{customdata[2]} samples<extra>click to list them</extra>"))
    ticks = dict(tickmode="array", tickvals=list(range(len(shown))), ticktext=names, automargin=True,
                 showgrid=False, zeroline=False)
    fig.update_layout(height=min(900, max(420, 200 + 26 * len(shown))), margin=dict(l=10, r=10, t=40, b=10),
                      title_text="Confusion matrix (rows: ground truth, columns: prediction)",
                      # no square cells (scaleanchor): they held the matrix to its height, a third of the page
                      xaxis=dict(title="prediction", **ticks), yaxis=dict(title="ground truth", autorange="reversed",
                                                                       **ticks),
                      clickmode="event+select", dragmode=False, plot_bgcolor="white")
    st.plotly_chart(fig, key="dump_confusion", on_select=_cell_clicked, selection_mode="points", width="stretch",
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


def _named_choice(column: Any, label: str, role: str, options: list, report: dumps.DumpReport,
                  format_func: Callable[[Any], str], **kwargs: Any) -> Any:
    """A selectbox whose labels carry class names. Its widget key includes :func:`names_key` (so the browser
    shows the current names); its value is kept under ``role`` (set by clicks and row picks, kept across
    renamings)."""
    key = f"{role}@{names_key(report)}"
    state = st.session_state
    if state.get(role) in options and state.get(key) != state[role]:
        state[key] = state[role]
    elif key in state and state[key] not in options:
        del state[key]
    value = column.selectbox(label, options, key=key, format_func=format_func,
                             on_change=lambda: state.__setitem__(role, state[key]), **kwargs)
    state[role] = value
    return value


def _class_filter(label: str, role: str, report: dumps.DumpReport, options: np.ndarray, column: Any) -> int | None:
    chosen = _named_choice(column, label, role, [ANY, *options.tolist()], report,
                           lambda c: "Any" if c == ANY else f"{c}: {report.classes[c]}")
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
    show = cols[2].radio("Show", tuple(SHOW), format_func=lambda v: SHOW[v][0], key="dump_show", horizontal=True)
    order = cols[3].selectbox("Order", tuple(ORDERS), format_func=ORDERS.__getitem__, key="dump_order")
    chosen = dumps.filter_samples(report.samples(), gt=gt, pred=pred, correct=SHOW[show][1],
                                  order=order or dumps.Order.SAMPLE)
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


def _origin_warning(spec: pickers.ModelSpec | None, origin: dumps.DumpSource | None) -> str | None:
    """Why the explorer may contradict the dump: another checkpoint than the one that made it."""
    if spec is None or origin is None:
        return None
    if not _same_file(spec.checkpoint, origin.checkpoint):
        picked = Path(spec.checkpoint).name if spec.checkpoint else "no checkpoint (random weights)"
        return (f"the model picked ({picked}) is not the checkpoint that made these results "
                f"({Path(origin.checkpoint).name})")
    if origin.changed:
        return f"{Path(origin.checkpoint).name} changed since it made these results"
    return None


def explain(report: dumps.DumpReport, chosen: list[dumps.Sample], spec: pickers.ModelSpec | None,
            origin: dumps.DumpSource | None) -> None:
    st.subheader("Explain a sample")
    if not chosen:
        st.info("No sample matches the filters.")
        return
    by_index = {s.index: s for s in chosen[:MAX_PICK]}
    cols = st.columns([5, 3, 2], vertical_alignment="bottom")
    index = _named_choice(cols[0], f"Sample (first {MAX_PICK} shown)" if len(chosen) > MAX_PICK else "Sample",
                          "dump_sample", list(by_index), report, lambda i: _sample_label(report, by_index[i]))
    target = cols[1].radio("Explain", tuple(TARGETS), key="dump_target", horizontal=True, format_func=TARGETS.get)
    clicked = cols[2].button("Explain in the explorer", type="primary", key="dump_explain",
                             icon=":material/travel_explore:", disabled=spec is None)
    why = _origin_warning(spec, origin)
    if spec is None:
        st.caption("Pick the model (config and checkpoint) in the sidebar to explain samples.")
    elif why:
        st.warning(f"Explanations may contradict the dump: {why}. Use the checkpoint that made them (sidebar).",
                   icon=":material/warning:")
    if clicked and spec is not None:
        sample = by_index[index]
        expected = {"class": sample.pred_label, "label": report.classes[sample.pred_label],
                    "source": f"The test dump (sample #{sample.index})", "why": why}
        with shown_as_error():
            chosen_target = dumps.explain_target(report, index, target_of_key(target))
            pickers.hand_over(spec, chosen_target.video, chosen_target.target_class, expected=expected)


# --------------------------------------------------------------------------- Explain all mistakes (core.batch)


def _default_out(results: str) -> str:
    path = Path(results)
    return str(path.with_name(f"{path.stem}_explained"))


def _start_batches(requests: list[BatchRequest]) -> None:
    """Start the first batch now and each next one when the previous ends (one model at a time: both targets
    share the CPU or GPU, and the page may be closed meanwhile)."""
    start_jobs_in_turn(requests)
    st.session_state[BATCHES] = [r.out for r in requests]


def _open_batch_page(out: str, listed: str) -> None:
    pickers.preset_path("batch_out", out)
    pickers.preset_path("batch_input", listed)
    st.session_state[_OPEN_BATCH] = True


def batch_model(spec: pickers.ModelSpec | None, origin: dumps.DumpSource | None,
                files: dict) -> pickers.ModelSpec | None:
    """The model a batch of this dump's samples runs: the checkpoint that made the dump (never merely the one picked
    in the sidebar, which may be another); when that is unknown, the page asks for it. Device and trust come from
    the sidebar, the class names from the test set."""
    checkpoint: str | None
    config: str | None
    if origin is not None:
        checkpoint, config = origin.checkpoint, origin.config
        st.caption(f"With **{Path(checkpoint).name}**, the checkpoint that made these results.")
        if origin.changed:
            st.warning(f"{Path(checkpoint).name} changed since it made these results: the maps may not explain "
                       "the predictions listed here.", icon=":material/warning:")
    else:
        checkpoint = pickers.path_input("Checkpoint that made these results", "dump_batch_checkpoint",
                                        help="Which checkpoint tools/test.py ran to write the pickle is not recorded "
                                             "beside it; the batch explains that model's predictions.")
        if checkpoint is None:
            st.info("Give the checkpoint that made these results to explain them in a batch.")
            return None
        config = None
    config = config or files["config"] or (spec.config if spec is not None else None)
    if config is None:
        st.info("Give the config (Test set, sidebar) of the model that made these results.")
        return None
    return pickers.ModelSpec(config, checkpoint, spec.device if spec is not None else "auto", files["label_map"],
                             spec.trust_checkpoint if spec is not None else False)


def batch(report: dumps.DumpReport, chosen: list[dumps.Sample], spec: pickers.ModelSpec | None, origin:
          dumps.DumpSource | None, files: dict) -> pickers.ModelSpec | None:
    """One button that explains the misclassified samples (or the table's) in a background batch run, with the
    checkpoint that made the dump; returns that model (None while it is unknown)."""
    st.subheader("Explain many samples")
    results = files["results"]
    wrong = [s for s in report.samples() if not s.correct]
    cols = st.columns([3, 3, 2])
    which = cols[0].radio("Samples", tuple(BATCH_SAMPLES), key="dump_batch_samples", horizontal=True,
                          format_func=lambda v: f"{BATCH_SAMPLES[v]} ({len(wrong if v == 'wrong' else chosen)})")
    targets = cols[1].radio("Explain", tuple(BATCH_TARGETS), key="dump_batch_target", horizontal=True,
                            format_func=lambda v: BATCH_TARGETS[v][0],
                            help="The ground truth from the annotations, the model's prediction, or both (into "
                                 "ground_truth/ and prediction/).")
    views = cols[2].radio("Views", VIEWS, key="dump_batch_views", horizontal=True,
                          format_func=pickers.VIEW_LABELS.get,
                          help="All views explains every test view of the config (as tools/test.py scores them).")
    out = pickers.path_input("Output folder", "dump_batch_out", default=_default_out(results),
                             help="The batch writes heatmaps (txt, json, npz) and summary.csv here, with the list "
                                  "of samples (samples.txt); an existing batch there resumes.")
    spec = batch_model(spec, origin, files)
    picked = wrong if which == "wrong" else chosen
    label = "Explain all mistakes" if which == "wrong" else f"Explain the {len(picked)} samples shown"
    running = [o for o in st.session_state.get(BATCHES, []) if (job := job_for(o)) is not None and job.running]
    clicked = st.button(label, type="primary", key="dump_batch_start", icon=":material/dynamic_feed:",
                        disabled=spec is None or not picked or out is None or bool(running),
                        help=None if spec is not None else "Give the checkpoint that made these results first.")
    if clicked and spec is not None and out is not None:
        with shown_as_error():
            if origin is None:  # asked for above: remembered beside the dump from now on
                dumps.record_source(results, checkpoint=spec.checkpoint or "", config=spec.config,
                                    recorded_by="the Test results page")
            requests = batch_samples.batch_requests(report, picked, out, BATCH_TARGETS[targets][1], config=spec.config,
                                            checkpoint=spec.checkpoint, device=spec.device, label_map=spec.label_map,
                                            trust_checkpoint=spec.trust_checkpoint, views=views)
            _start_batches(requests)
    if st.session_state.get(BATCHES):
        progress()
    return spec


@st.fragment(run_every=1.0)
def progress() -> None:
    """The batches started here, refreshed every second; each opens on the Batch page."""
    for out in st.session_state.get(BATCHES, []):
        job = job_for(out)
        if job is None:
            st.progress(0.0, text=f"{Path(out).name}: waiting for the batch before it")
            continue
        state = job.progress()
        text = (f"{Path(out).name}: {state.total}/{state.total} · already complete (nothing left to explain)"
                if state.already_complete else
                f"{Path(out).name}: {state.done}/{state.total} · {state.ok} explained · {state.failed} failed"
                + (f" · about {state.eta:.0f} s left" if state.eta is not None and job.running else "")
                + f" · {state.phase}")
        st.progress(state.fraction, text=text)
        if state.error:
            st.error(state.error)
        if not job.running and state.phase in (Phase.FINISHED, Phase.STOPPED):
            if st.button(f"Open {Path(out).name} on the Batch page", key=f"dump_batch_open_{out}",
                         on_click=_open_batch_page, args=(out, job.request.inputs[0])):
                st.rerun(scope="app")  # switch from the whole page's run, not from this fragment's (see main)


# --------------------------------------------------------------------------- Why B rather than A? (contrast)


def why(report: dumps.DumpReport, spec: pickers.ModelSpec | None, results: str) -> None:
    """For the confusion cell picked (true A, predicted B): explain its samples with Contrast(B, A) in a
    background batch and show the maps; one sample's Grad-CAM(B), Grad-CAM(A) and contrast side by side."""
    gt, pred = st.session_state.get("dump_gt"), st.session_state.get("dump_pred")
    if gt in (None, ANY) or pred in (None, ANY) or gt == pred:
        return
    cell = [s for s in report.samples() if s.gt_label == gt and s.pred_label == pred]
    if not cell:
        return
    a, b = report.classes[gt], report.classes[pred]
    st.subheader(f"Why {b} rather than {a}?")
    folder = contrast.cell_folder(_default_out(results), gt, pred)
    running = [o for o in st.session_state.get(BATCHES, []) if (job := job_for(o)) is not None and job.running]
    clicked = st.button(f"Why {b} rather than {a}? ({len(cell)} samples)", key="dump_why", type="primary",
                        icon=":material/compare:", disabled=spec is None or bool(running),
                        help=f"Explains each sample of the cell with the map of score({b}) − score({a}) in a "
                             f"background batch into {folder}.")
    if clicked and spec is not None:
        with shown_as_error():
            _start_batches(batch_samples.batch_requests(
                report, cell, folder, [contrast.contrast_of(gt, pred)], config=spec.config,
                checkpoint=spec.checkpoint, device=spec.device, label_map=spec.label_map,
                trust_checkpoint=spec.trust_checkpoint))
    contrast.show_grid(folder, report)
    if spec is not None and report.videos and st.toggle("One sample side by side", key="dump_why_single"):
        by_index = {s.index: s for s in cell[:MAX_PICK]}
        index = st.selectbox("Sample", list(by_index), key="dump_why_sample",
                             format_func=lambda i: _sample_label(report, by_index[i]))
        contrast.side_by_side(spec, report.videos[index], gt, pred, report.classes)


def main() -> None:
    if st.session_state.pop(_OPEN_BATCH, False):
        # Switching pages from inside the progress fragment (rerun every second) raced with its own next run and
        # sometimes left the Batch page half drawn; the switch happens here, in a run of the whole page.
        st.switch_page("pages/2_Batch.py")
    st.title("Test results")
    files, spec, origin = inputs()
    if not files["results"]:
        st.info("Give the results pickle of MMAction2's `tools/test.py CONFIG CHECKPOINT --dump results.pkl` (or "
                "`python -m core.mm test …`) in the sidebar, with the config (or the annotation file and a label "
                "map) to name the samples and classes. `python -m core.dumps` prints the same report on the "
                "command line.")
        return
    with shown_as_error() as box:
        report = report_of(**files)
    if box.failed:
        return
    kind = "probabilities" if report.holds_probabilities else "raw scores (a softmax gives each sample's score)"
    st.caption(f"{len(report.gt)} samples · {len(report.classes)} classes · "
               f"{'0.x' if report.legacy else '1.x'} dump holding {kind}"
               + (f" · test set from {files['config']}" if files["config"] else "")
               + (f" · made by {Path(origin.checkpoint).name}" if origin else ""))
    accuracies(report)
    with shown_as_error():
        confusion(report)
    per_class(report)
    st.subheader("Samples")
    chosen = samples(report)
    explain(report, chosen, spec, origin)
    dump_model = batch(report, chosen, spec, origin, files)
    why(report, dump_model, files["results"])  # the contrast explains the dump's own model too


main()
