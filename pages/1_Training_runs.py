"""Training runs: a ``work_dirs/NAME/`` folder as MMEngine's runner left it. Loss and accuracy curves (from
``vis_data/scalars.json``), which epoch each checkpoint holds and which one is best, and the ``tools/test.py``
results pickles of the run with the checkpoint that made each; any of them opens on the Test results page.

All reading happens in ``core.runs`` (files as data: no config or checkpoint is run or unpickled here).
"""

from __future__ import annotations

import math
import time

import pandas as pd
import plotly.graph_objects as go
import streamlit as st
from plotly.subplots import make_subplots

from core import demo_data, runs
from pages.ui import pickers
from pages.ui.errors import shown_as_error
from pages.ui.page import setup_page

setup_page("Training runs", "📈")

TEST_RESULTS_PAGE = "pages/4_Test_results.py"
SOURCES = {"demo": "Built-in demo", "folder": "Your work_dirs"}


def pick_run() -> tuple[runs.Run | None, list[runs.Run]]:
    """The run shown, and the other runs whose curves are overlaid on it (picked in the sidebar)."""
    with st.sidebar:
        st.header("Runs")
        source = st.radio("Runs from", tuple(SOURCES), key="runs_source", format_func=SOURCES.get, horizontal=True)
        found: list[runs.Run] | None = None
        if source == "demo":
            with st.spinner("Preparing the demo runs (first use only)…"), shown_as_error() as box:
                found = runs.find_runs(demo_data.runs())
            if box.failed:
                return None, []
            st.caption("The two demo models' training runs: the same recipe with and without the localization "
                       "term (`python -m tools.demo train`).")
        else:
            found = pickers.runs_input(help="A project folder (its `work_dirs/*/` are listed), a work_dirs folder, "
                                            "or one run folder.")
        if not found:
            return None, []
        folders = [str(run.folder) for run in found]
        if st.session_state.get("runs_page_run") not in folders:
            st.session_state.pop("runs_page_run", None)
        label = lambda f: pickers.run_label(found[folders.index(f)])  # noqa: E731
        chosen = st.selectbox(f"Run ({len(found)}, newest first)", folders, key="runs_page_run", format_func=label)
        others = [f for f in folders if f != chosen]
        if st.session_state.get("runs_page_compare") and not set(st.session_state["runs_page_compare"]) <= set(others):
            st.session_state["runs_page_compare"] = [f for f in st.session_state["runs_page_compare"] if f in others]
        compared = st.multiselect("Overlay the curves of", others, key="runs_page_compare", format_func=label,
                                  disabled=not others, help="Other runs (e.g. TSN against I3D) on one chart with this "
                                                            "one.")
        return found[folders.index(chosen)], [found[folders.index(f)] for f in compared]


def curves(log: runs.TrainingLog, checkpoints: list[runs.CheckpointInfo]) -> None:
    """Losses per iteration (left) and validation metrics per epoch (right), checkpoints marked on the right."""
    unit = "epoch" if log.by_epoch else "iteration"
    fig = make_subplots(rows=1, cols=2, horizontal_spacing=0.08,
                        subplot_titles=("Training loss", f"Accuracy (validation per {unit})"))
    _loss_traces(fig, log)
    _val_traces(fig, log, unit)
    steps = _checkpoint_marks(fig, checkpoints)
    last_iteration = max((r["step"] for r in log.train), default=1)
    last_step = max((r["step"] for r in log.val), default=1)
    fig.update_xaxes(title_text="iteration", dtick=max(1, math.ceil(last_iteration / 10)), row=1, col=1)
    fig.update_xaxes(title_text=unit, dtick=max(1, math.ceil(last_step / 10)), row=1, col=2)
    fig.update_yaxes(title_text="loss", row=1, col=1)
    fig.update_yaxes(title_text="accuracy", rangemode="tozero", row=1, col=2)
    fig.update_layout(height=420, margin=dict(l=10, r=10, t=40, b=10), legend=dict(orientation="h", y=-0.2),
                      hovermode="closest")
    st.plotly_chart(fig, key="runs_curves", config=dict(displaylogo=False))
    if steps:
        st.caption(f"Dotted lines: the {unit}s a checkpoint was kept at; the star: the best checkpoint.")


def _loss_traces(fig: go.Figure, log: runs.TrainingLog) -> None:
    """Each training loss per iteration, on the left."""
    for name in log.losses():
        rows = [r for r in log.train if name in r]
        fig.add_trace(go.Scatter(x=[r["step"] for r in rows], y=[r[name] for r in rows], mode="lines", name=name,
                                 customdata=[r.get("epoch") for r in rows], legendgroup="loss",
                                 hovertemplate=f"{name} %{{y:.4f}} · iteration %{{x}} · epoch %{{customdata}}"
                                               "<extra></extra>"), row=1, col=1)


def _val_traces(fig: go.Figure, log: runs.TrainingLog, unit: str) -> None:
    """Each validation metric per ``unit``, on the right."""
    for name in log.keys("val"):
        rows = [r for r in log.val if name in r]
        fig.add_trace(go.Scatter(x=[r["step"] for r in rows], y=[r[name] for r in rows], mode="lines+markers",
                                 name=name, legendgroup="val",
                                 hovertemplate=f"{name} %{{y:.4f}} · {unit} %{{x}}<extra></extra>"), row=1, col=2)


def _checkpoint_marks(fig: go.Figure, checkpoints: list[runs.CheckpointInfo]) -> list[int]:
    """The best checkpoint starred and a dotted line at each step a checkpoint was kept at, on the right;
    those steps."""
    for info in checkpoints:
        if info.best and info.val and info.best_metric in info.val:
            fig.add_trace(go.Scatter(x=[info.step], y=[info.val[info.best_metric]], mode="markers", showlegend=True,
                                     name=f"best: {info.path.name}",
                                     marker=dict(symbol="star", size=16, color="#f5a623", line=dict(width=1)),
                                     hovertemplate=f"{info.path.name}: {info.best_metric} %{{y:.4f}}<extra></extra>"),
                          row=1, col=2)
    steps = sorted({info.step for info in checkpoints if info.step is not None})
    for step in steps:
        fig.add_vline(x=step, line=dict(color="rgba(120,120,120,0.35)", dash="dot", width=1), row=1, col=2)
    return steps


COLORS = ("#4c78a8", "#e4572e", "#54a24b", "#b279a2", "#f58518", "#72b7b2", "#9d755d", "#eeca3b")
DASHES = ("solid", "dash", "dot", "dashdot")


def compared_curves(logs: dict[str, runs.TrainingLog]) -> None:
    """The training loss and the validation metrics of several runs on one chart: a colour per run, a dash per
    metric."""
    fig = make_subplots(rows=1, cols=2, horizontal_spacing=0.08,
                        subplot_titles=("Training loss", "Validation (per epoch, or per iteration)"))
    units = set()
    for i, (name, log) in enumerate(logs.items()):
        color = COLORS[i % len(COLORS)]
        rows = [r for r in log.train if "loss" in r]
        fig.add_trace(go.Scatter(x=[r["step"] for r in rows], y=[r["loss"] for r in rows], mode="lines",
                                 name=f"{name} · loss", line=dict(color=color), legendgroup=name,
                                 hovertemplate=f"{name}: loss %{{y:.4f}} · iteration %{{x}}<extra></extra>"),
                      row=1, col=1)
        units.add("epoch" if log.by_epoch else "iteration")
        for j, metric in enumerate(log.keys("val")):
            rows = [r for r in log.val if metric in r]
            fig.add_trace(go.Scatter(x=[r["step"] for r in rows], y=[r[metric] for r in rows], mode="lines+markers",
                                     name=f"{name} · {metric}", legendgroup=name,
                                     line=dict(color=color, dash=DASHES[j % len(DASHES)]),
                                     hovertemplate=f"{name}: {metric} %{{y:.4f}} · step %{{x}}<extra></extra>"),
                          row=1, col=2)
    fig.update_xaxes(title_text="iteration", row=1, col=1)
    fig.update_xaxes(title_text=" or ".join(sorted(units)), row=1, col=2)
    fig.update_yaxes(title_text="loss", row=1, col=1)
    fig.update_yaxes(title_text="accuracy", rangemode="tozero", row=1, col=2)
    fig.update_layout(height=440, margin=dict(l=10, r=10, t=40, b=10), legend=dict(orientation="h", y=-0.2),
                      hovermode="closest")
    st.plotly_chart(fig, key="runs_compared", config=dict(displaylogo=False))
    if len(units) > 1:
        st.caption("These runs validate at different units (epochs and iterations): their validation curves share "
                   "one axis but not one scale.")


def checkpoint_table(infos: list[runs.CheckpointInfo], log: runs.TrainingLog) -> None:
    metrics = log.keys("val")
    rows = []
    for info in infos:
        stat = info.path.stat()
        row = {"checkpoint": info.path.name, "epoch": info.epoch, "iteration": info.iteration,
               **{m: (info.val or {}).get(m) for m in metrics},
               "best": f"★ by {info.best_metric}" if info.best else "", "latest": info.latest,
               "MB": round(stat.st_size / 1e6, 1),
               "saved": time.strftime("%Y-%m-%d %H:%M", time.localtime(stat.st_mtime))}
        rows.append(row)
    table = pd.DataFrame(rows)
    if table["iteration"].isna().all():
        table = table.drop(columns="iteration")
    if table["epoch"].isna().all():
        table = table.drop(columns="epoch")
    st.dataframe(table, hide_index=True, key="runs_checkpoints",
                 column_config={m: st.column_config.NumberColumn(m, format="%.4f") for m in metrics})


def _open_results(dump: str, config: str | None) -> None:
    pickers.preset_path("dump_path", dump)
    pickers.preset_path("dump_config", config)
    st.session_state["dump_source"] = "paths"


def dumps_table(run: runs.Run, infos: list[runs.CheckpointInfo]) -> None:
    """The run's results pickles with the checkpoint (and its epoch) that made each."""
    with shown_as_error() as box:
        found = runs.run_dumps(run.folder)
    if box.failed:
        return
    if not found:
        st.info(f"No test results for this run yet: `python -m core.mm test {run.config or 'CONFIG'} "
                f"{(run.checkpoints[0] if run.checkpoints else 'CHECKPOINT')} --dump results.pkl` writes one (its "
                "log in this folder tells which checkpoint made it).")
        return
    epochs = {info.path: info for info in infos}
    rows = []
    for item in found:
        info = epochs.get(item.checkpoint.resolve()) if item.checkpoint else None
        rows.append({"results": str(item.dump), "checkpoint": item.checkpoint.name if item.checkpoint else "unknown",
                     "epoch": info.step if info else None, "best": bool(info and info.best),
                     **{k: v for k, v in item.metrics.items()}, "tested": item.when, "known from": item.known_from,
                     "exists": item.exists})
    st.dataframe(pd.DataFrame(rows), hide_index=True, key="runs_dumps", on_select="rerun",
                 selection_mode="single-row")
    picked = st.session_state.get("runs_dumps", {}).get("selection", {}).get("rows") or [0]
    item = found[min(picked[0], len(found) - 1)]
    if st.button(f"Open {item.dump.name} on the Test results page", key="runs_open_dump", type="primary",
                 icon=":material/analytics:", disabled=not item.exists, on_click=_open_results,
                 args=(str(item.dump), str(run.config) if run.config else None)):
        st.switch_page(TEST_RESULTS_PAGE)


def main() -> None:
    st.title("Training runs")
    run, others = pick_run()
    if run is None:
        st.info("Pick the folder that holds your work_dirs in the sidebar. `python -m core.mm train CONFIG` trains "
                "with MMAction2's own tools/train.py and writes a run folder there.")
        return
    st.caption(f"{run.folder} · config {run.config.name if run.config else 'missing'} · "
               f"{len(run.checkpoints)} checkpoint{'s' if len(run.checkpoints) != 1 else ''}")
    with shown_as_error() as box:
        log = runs.read_training_log(run.folder)  # read a line at a time, cached by file stamp in core
        infos = runs.describe_checkpoints(run, log)
    if box.failed:
        return
    for sentence in log.notes:
        st.caption(sentence)
    if others:
        st.subheader("Runs compared")
        with shown_as_error():
            compared_curves({run.name: log, **{other.name: runs.read_training_log(other.folder) for other in others}})
        st.subheader(run.name)
    if log.train or log.val:
        curves(log, infos)
    else:
        st.info("This run logged no curves (no <timestamp>/vis_data/scalars.json: MMEngine's LocalVisBackend "
                "writes it).")
    st.subheader("Checkpoints")
    checkpoint_table(infos, log)
    st.subheader("Test results")
    dumps_table(run, infos)


main()
