"""The explorer's **Evaluate** part, below a result: can the map be trusted?

Deletion and insertion curves against a random ranking with their AUCs and a one-line verdict, frame importance
as bars under the activation-per-frame timeline, a **Sanity check** (Spearman's rho after each cumulative
re-initialisation of the weights, the maps beside each other) and **Compare methods** (the six CAM methods'
maps side by side with one frame slider, their AUCs in one table). All figures come from ``core.evaluate``;
results are cached per (explanation, options), so a rerun or another session asking the same returns at once.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np
import plotly.graph_objects as go
import streamlit as st
from plotly.subplots import make_subplots

import core
from core.cam import methods_for
from core.evaluate import (
    BASELINES,
    DEFAULT_BLUR_SIGMA,
    THRESHOLD,
    Baseline,
    Faithfulness,
    FrameImportance,
    SanityCheck,
    Verdict,
)
from core.evaluate.faithfulness import FAITHFULNESS_METRICS
from core.methods import method_label
from core.overlay import colorize, frame_label, playback_fps
from core.result import ExplainResult
from pages.ui import cache
from pages.ui.errors import shown_as_error
from pages.ui.viewer import add_player, timeline_figure

if TYPE_CHECKING:
    import pandas as pd

BASELINE_HELP = ("What replaces the pixels a curve removes. zeros: the dataset's mean colour (a grey hole whose "
                 "outline still moves); blur: each frame blurred; static: each pixel's mean over the clip, which "
                 "keeps appearance and removes motion.")
DELETION, INSERTION, AVERAGE_DROP = (FAITHFULNESS_METRICS[name].label  # the comparison table's columns
                                      for name in ("deletion_auc", "insertion_auc", "average_drop"))
STATE = "evaluate_requests"  # session state: which (explanation, options) the user asked to evaluate


class Options(NamedTuple):
    """What, besides the explanation, determines the faithfulness figures."""

    baseline: Baseline = Baseline.ZEROS
    steps: int = 20
    blur_sigma: float = DEFAULT_BLUR_SIGMA


def _progress_slot(what: str) -> tuple[Any, Callable[[int, int], None]]:
    """A progress bar that vanishes when done (created inside a cached function, so its replay is empty)."""
    slot = st.empty()

    def progress(done: int, total: int) -> None:
        slot.progress(min(1.0, done / max(total, 1)), text=f"{what}: {done}/{total}")

    return slot, progress


@st.cache_data(show_spinner=False, max_entries=32)
def faithfulness_of(key: cache.RunKey, stamps: tuple, options: Options, random: bool = True) -> Faithfulness:
    """Deletion/insertion, Average Drop (and the random ranking's AUCs) of the explanation ``key``."""
    result = cache.explain(key)
    loaded = cache.loaded(key.model)
    slot, progress = _progress_slot(f"{method_label(key.method)}: scoring perturbed inputs (forward passes)")
    with loaded.lock:  # the random ranking reads the layer's grid with a hook on the shared model
        scores = core.faithfulness(loaded.handle, result, steps=options.steps, baseline=options.baseline,
                                   blur_sigma=options.blur_sigma, random=random, progress=progress)
    slot.empty()
    return scores


@st.cache_data(show_spinner=False, max_entries=16)
def frame_importance_of(key: cache.RunKey, stamps: tuple, baseline: str, blur_sigma: float) -> FrameImportance:
    """Score drop without each input frame, and the map's mass per frame."""
    result = cache.explain(key)
    loaded = cache.loaded(key.model)
    slot, progress = _progress_slot("Frame importance: forward passes")
    with loaded.lock:
        importance = core.frame_importance(loaded.handle, result, baseline=baseline, blur_sigma=blur_sigma,
                                           progress=progress)
    slot.empty()
    return importance


@st.cache_data(show_spinner=False, max_entries=4)
def sanity_of(key: cache.RunKey, stamps: tuple, seed: int = 0) -> SanityCheck:
    """Cascading randomisation and random-logit check of the explanation ``key`` (on a copy of the model)."""
    result = cache.explain(key)
    loaded = cache.loaded(key.model)
    slot, progress = _progress_slot("Sanity check: explanations")
    with loaded.lock:  # the copy is taken from the shared model
        check = core.sanity_check(loaded.handle, result.inputs or key.video.path, target_layer=result.layer,
                                  target=result.target_class, method=key.method, seed=seed, views=key.views,
                                  progress=progress)
    slot.empty()
    return check


def _requests() -> dict[str, set]:
    return st.session_state.setdefault(STATE, {"faithfulness": set(), "sanity": set(), "compare": set(),
                                               "done": set()})


@contextmanager
def _working(what: tuple, label: str, done: str) -> Iterator[Callable[[str], None]]:
    """A status box holding the progress bars while ``what`` is computed the first time in this session; yields
    a function that writes a step into it (silent once ``what`` is done)."""
    finished = _requests()["done"]
    if what in finished:
        yield lambda _text: None
        return
    with st.status(label, expanded=True) as status:
        yield status.write
        status.update(label=done, state="complete", expanded=False)
    finished.add(what)


def _say(verdict: Verdict) -> None:
    (st.success if verdict.supported else st.warning)(verdict.text, icon=":material/fact_check:" if verdict.supported
                                                      else ":material/warning:")


def curves_figure(scores: Faithfulness) -> go.Figure:
    """Deletion and insertion curves of the map against the random ranking's."""
    fig = make_subplots(rows=1, cols=2, horizontal_spacing=0.08, subplot_titles=(
        f"Deletion · AUC {scores.deletion_auc:.3f} (random {scores.random_deletion_auc:.3f}) · lower is better",
        f"Insertion · AUC {scores.insertion_auc:.3f} (random {scores.random_insertion_auc:.3f}) · higher is better"))
    x = scores.fractions
    for col, (curve, chance) in enumerate(((scores.deletion, scores.random_deletion),
                                           (scores.insertion, scores.random_insertion)), start=1):
        fig.add_trace(go.Scatter(x=x, y=curve, name=method_label(scores.method), mode="lines+markers", fill="tozeroy",
                                 line=dict(color="#e4572e"), showlegend=col == 1, legendgroup="map",
                                 hovertemplate="%{x:.0%} of pixels: p = %{y:.3f}<extra></extra>"), row=1, col=col)
        if chance is not None:
            fig.add_trace(go.Scatter(x=x, y=chance, name="random ranking", mode="lines", showlegend=col == 1,
                                     line=dict(color="#7f7f7f", dash="dash"), legendgroup="random",
                                     hovertemplate="%{x:.0%} of pixels: p = %{y:.3f}<extra></extra>"), row=1, col=col)
    fig.update_xaxes(title_text="fraction of pixels removed (top-ranked first)", tickformat=".0%", row=1, col=1)
    fig.update_xaxes(title_text="fraction of pixels restored (top-ranked first)", tickformat=".0%", row=1, col=2)
    fig.update_yaxes(range=[0, 1.02], title_text=f"p({scores.target_label})", row=1, col=1)
    fig.update_yaxes(range=[0, 1.02], row=1, col=2)
    fig.update_layout(height=340, margin=dict(l=10, r=10, t=50, b=10), legend=dict(orientation="h", y=-0.25))
    fig.update_annotations(font_size=12)
    return fig


def importance_figure(view: ExplainResult, importance: FrameImportance) -> go.Figure:
    """The activation-per-frame timeline with, under it on the same time axis, each frame's importance (score
    drop without the frame) as bars and the map's mass in the frame as a line."""
    timeline = timeline_figure(view)
    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, vertical_spacing=0.08, row_heights=[0.45, 0.55],
                        specs=[[{}], [{"secondary_y": True}]],
                        subplot_titles=("Activation per frame", "Frame importance"))
    for trace in timeline.data:
        fig.add_trace(trace, row=1, col=1)
    x = timeline.data[0].x
    labels = [frame_label(view, i) for i in range(view.num_frames)]
    fig.add_trace(go.Bar(x=x, y=importance.drop.reshape(-1), name="score drop without the frame",
                         marker_color="#e4572e", customdata=labels,
                         hovertemplate="drop %{y:+.3f}<br>%{customdata}<extra></extra>"), row=2, col=1)
    fig.add_trace(go.Scatter(x=x, y=importance.mass.reshape(-1), name="map mass in the frame", mode="lines+markers",
                             line=dict(color="#4c78a8"), customdata=labels,
                             hovertemplate="mass %{y:.3f}<br>%{customdata}<extra></extra>"),
                  row=2, col=1, secondary_y=True)
    fig.update_xaxes(title_text=timeline.layout.xaxis.title.text, row=2, col=1)
    fig.update_yaxes(title_text="activation", range=timeline.layout.yaxis.range, row=1, col=1)
    fig.update_yaxes(title_text="score drop", row=2, col=1, secondary_y=False)
    fig.update_yaxes(title_text="map mass", rangemode="tozero", row=2, col=1, secondary_y=True)
    fig.update_layout(height=460, margin=dict(l=10, r=10, t=40, b=10), bargap=0.3,
                      legend=dict(orientation="h", y=-0.18))
    return fig


def sanity_figure(check: SanityCheck) -> go.Figure:
    """Spearman's rho (and |rho|) with the original map after each cumulative randomisation step."""
    names = list(check.steps)
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=names, y=check.rho, name="ρ", mode="lines+markers", line=dict(color="#4c78a8"),
                             hovertemplate="after %{x}: ρ = %{y:.3f}<extra></extra>"))
    fig.add_trace(go.Scatter(x=names, y=check.abs_rho, name="|ρ|", mode="lines+markers",
                             line=dict(color="#e4572e", dash="dot"),
                             hovertemplate="after %{x}: |ρ| = %{y:.3f}<extra></extra>"))
    if check.random_class is not None:
        fig.add_trace(go.Scatter(x=[names[0]], y=[check.random_logit_rho], name=f"random logit (class "
                                 f"{check.random_class})", mode="markers", marker=dict(symbol="diamond", size=11,
                                                                                      color="#54a24b"),
                                 hovertemplate="another class: ρ = %{y:.3f}<extra></extra>"))
    for level in (THRESHOLD, -THRESHOLD):
        fig.add_hline(y=level, line=dict(color="#bbbbbb", dash="dash", width=1))
    fig.update_layout(height=320, margin=dict(l=10, r=10, t=40, b=10), yaxis=dict(range=[-1.05, 1.05],
                      title="Spearman's ρ with the original map"), xaxis_title="re-initialised (cumulative, top-down)",
                      title_text="Sanity check: cascading randomisation", legend=dict(orientation="h", y=1.15, x=1,
                                                                                      xanchor="right"))
    return fig


def maps_figure(columns: list[tuple[str, np.ndarray]], view: ExplainResult, *, colormap: str) -> go.Figure:
    """Maps ``[V, T, H, W]`` side by side, one frame slider for all of them, client-side
    (:func:`pages.ui.viewer.add_player`)."""
    flat = [heatmaps.reshape(-1, *heatmaps.shape[-2:]) for _, heatmaps in columns]

    def pictures(i: int) -> list[np.ndarray]:
        return [(colorize(maps[i], colormap) * 255).astype(np.uint8) for maps in flat]

    fig = make_subplots(rows=1, cols=len(columns), subplot_titles=[name for name, _ in columns],
                        horizontal_spacing=0.01)
    labels = [f"Frame {i + 1}/{view.num_frames} · {frame_label(view, i)}" for i in range(view.num_frames)]
    add_player(fig, pictures, labels, pixel_aspect=view.pixel_aspect, fps=playback_fps(view), slider_x=0.08)
    fig.update_layout(height=max(220, 120 + 900 // len(columns)), margin=dict(l=10, r=10, t=40, b=10),
                      plot_bgcolor="white")
    fig.update_annotations(font_size=11)
    return fig


def compare_table(rows: list[dict]) -> tuple:
    """The methods' AUCs (the last row: the random ranking) as a styled table of text cells, with which of them
    beat chance and the best value of each AUC column marked where it beats chance; and its column settings."""
    import pandas as pd  # here, not above: the explorer imports this module before its Run button is enabled

    numbers = pd.DataFrame(rows).set_index("method")
    chance = numbers.iloc[-1]
    beats = [" and ".join(name for name, ok in (("deletion", row[DELETION] < chance[DELETION]),
                                                ("insertion", row[INSERTION] > chance[INSERTION]))
                          if ok) or "neither" for _, row in numbers.iloc[:-1].iterrows()]
    numbers["beats chance on"] = [*beats, ""]
    shown = numbers.map(lambda v: v if isinstance(v, str) else "—" if pd.isna(v) else f"{v:.3f}")
    methods = numbers.iloc[:-1]
    best = {DELETION: methods[DELETION].idxmin(),
            INSERTION: methods[INSERTION].idxmax()}
    best = {column: method for column, method in best.items()  # the best of each curve, where it beats chance
            if (numbers.loc[method, column] < chance[column]) == (column == DELETION)}

    def mark(frame: pd.DataFrame) -> pd.DataFrame:
        css = pd.DataFrame("", index=frame.index, columns=frame.columns)
        for column, method in best.items():
            css.loc[method, column] = "background-color: #d4edda; font-weight: 600"
        return css

    config = {column: st.column_config.TextColumn(alignment="right") for column in shown.columns[:-1]}
    return shown.style.apply(mark, axis=None), config


def _faithfulness_part(key: cache.RunKey, stamps: tuple, view: ExplainResult, options: Options) -> None:
    with _working(("faithfulness", key, options), "Measuring faithfulness…", "Faithfulness measured"):
        scores = faithfulness_of(key, stamps, options)
        importance = frame_importance_of(key, stamps, options.baseline, options.blur_sigma)
    _say(scores.verdict())
    cols = st.columns(5)
    cols[0].metric("Deletion AUC", f"{scores.deletion_auc:.3f}",
                   f"{scores.deletion_auc - scores.random_deletion_auc:+.3f} vs random", delta_color="inverse",
                   help="Lower is better: the score falls as soon as the top-ranked pixels are removed.")
    cols[1].metric("Insertion AUC", f"{scores.insertion_auc:.3f}",
                   f"{scores.insertion_auc - scores.random_insertion_auc:+.3f} vs random",
                   help="Higher is better: the top-ranked pixels alone bring the score back.")
    cols[2].metric("Average drop", f"{scores.average_drop:.1%}", help="max(0, y − o) / y where o scores the input "
                   "multiplied by the map (Grad-CAM++ paper); lower is better.")
    cols[3].metric("Increase in confidence", f"{scores.increase_in_confidence:.0%}",
                   help="Share of views whose score rises when the input is multiplied by the map.")
    cols[4].metric(f"p({scores.target_label})", f"{scores.score:.3f}", help="The score of the unperturbed input: "
                   "the target class's softmax probability (mean over views).")
    st.plotly_chart(curves_figure(scores), key=f"eval-curves-{hash((key, options))}",
                    config=dict(displaylogo=False))
    st.plotly_chart(importance_figure(view, importance), key=f"eval-frames-{hash((key, options))}",
                    config=dict(displaylogo=False))
    agreement = importance.agreement()
    st.caption(f"Frame importance: the target probability minus its value with that frame replaced by the "
               f"{options.baseline} baseline (Captum's FeatureAblation by frame). Spearman's ρ between the drops and "
               f"the map's mass per frame: {agreement:.2f} "
               + ("— the frames the map weighs most are the ones the model needs." if agreement >= 0.5 else
                  "— the map's weight over time does not follow what the model needs."))


@st.cache_data(show_spinner=False, max_entries=8)
def _maps_figure(what: tuple, colormap: str, _columns: list[tuple[str, np.ndarray]], _view: ExplainResult
                 ) -> go.Figure:
    """:func:`maps_figure`, drawn once per ``what`` (the part, its run key, stamps and options: they fix the maps
    and the view) and colormap, not on every rerun of the page."""
    return maps_figure(_columns, _view, colormap=colormap)


def _sanity_part(key: cache.RunKey, stamps: tuple, view: ExplainResult, colormap: str) -> None:
    with _working(("sanity", key), "Randomising the model step by step and explaining again…",
                  "Sanity check done"):
        check = sanity_of(key, stamps)
    _say(check.verdict())
    st.plotly_chart(sanity_figure(check), key=f"eval-sanity-{hash(key)}", config=dict(displaylogo=False))
    columns = [("original", check.original)] + [(name.removeprefix("backbone/"), maps)
                                               for name, maps in zip(check.steps, check.maps, strict=True)]
    st.plotly_chart(_maps_figure(("sanity", key, stamps), colormap, columns, view),
                    key=f"eval-sanity-maps-{hash(key)}", config=dict(displaylogo=False))
    st.caption("Each map after re-initialising the named part and everything above it (PyTorch's default "
               "initialisation, fixed seed, on a copy of the model). Maps that survive the randomisation of the "
               "weights they should explain show the input's structure rather than the model (Adebayo et al. 2018).")


def _compare_part(key: cache.RunKey, stamps: tuple, view: ExplainResult, options: Options, colormap: str) -> None:
    rows, columns = [], []
    with _working(("compare", key, options), "Explaining with every method and measuring each…",
                  "Methods compared") as note:
        chance = faithfulness_of(key, stamps, options)
        for method in methods_for(cache.loaded(key.model).handle):
            other = key._replace(method=method)
            note(f"{method_label(method)}…")
            result = cache.explain(other)
            scores = chance if method == key.method else faithfulness_of(other, stamps, options, random=False)
            columns.append((method_label(method), result.heatmaps))
            rows.append({"method": method_label(method), DELETION: scores.deletion_auc,
                         INSERTION: scores.insertion_auc,
                         "deletion − random": scores.deletion_auc - chance.random_deletion_auc,
                         "insertion − random": scores.insertion_auc - chance.random_insertion_auc,
                         AVERAGE_DROP: scores.average_drop})
    rows.append({"method": "random ranking", DELETION: chance.random_deletion_auc,
                 INSERTION: chance.random_insertion_auc})
    st.plotly_chart(_maps_figure(("compare", key, stamps, options), colormap, columns, view),
                    key=f"eval-compare-maps-{hash((key, options))}", config=dict(displaylogo=False))
    table, config = compare_table(rows)
    st.dataframe(table, column_config=config, width="stretch")
    st.caption(_best_caption(rows, options))


def _best_caption(rows: list[dict], options: Options) -> str:
    """Which method is most faithful by each curve, said only of methods that beat the random ranking."""
    import pandas as pd  # (see compare_table)

    methods, chance = pd.DataFrame(rows[:-1]).set_index("method"), rows[-1]
    parts = []
    for curve, column, best in (("deletion", DELETION, "idxmin"), ("insertion", INSERTION, "idxmax")):
        name = getattr(methods[column], best)()
        value = methods.loc[name, column]
        beats = value < chance[column] if curve == "deletion" else value > chance[column]
        parts.append(f"{name} by {curve}" if beats else f"no method beats the random ranking by {curve}")
    return (f"Most faithful here: {'; '.join(parts)} ({options.baseline} baseline, {options.steps} steps; the random "
            "ranking is drawn at the layer's grid, so every method is judged against the same chance).")


def show_evaluate(key: cache.RunKey, view: ExplainResult, *, colormap: str = "viridis") -> None:
    """The Evaluate part for the shown explanation ``key`` (its result drawn as ``view``)."""
    st.divider()
    st.subheader("Evaluate: can the map be trusted?")
    st.caption("Deletion removes the pixels the map ranks highest first, insertion restores them first, and both "
               "are compared with a random ranking of the same granularity (RISE, as torchcam computes it). The "
               "sanity check re-initialises the model from the top and asks whether the map changes with it.")
    stamps = key.model.stamps()
    requests = _requests()
    cols = st.columns([2, 1, 1, 2], vertical_alignment="bottom")
    baseline = cols[0].selectbox("Baseline", BASELINES, key="eval_baseline", help=BASELINE_HELP)
    steps = int(cols[1].number_input("Steps", 1, 200, 20, key="eval_steps",
                                     help="Intervals of each curve; deletion and insertion together cost at most "
                                          "2·steps forward passes per ranking and view."))
    sigma = float(cols[2].number_input("Blur σ (px)", 0.5, 50.0, DEFAULT_BLUR_SIGMA, 0.5, key="eval_sigma",
                                       disabled=baseline is not Baseline.BLUR))
    options = Options(baseline, steps, sigma if baseline is Baseline.BLUR else DEFAULT_BLUR_SIGMA)
    if cols[3].button("Evaluate faithfulness", key="eval_run", icon=":material/insights:", type="primary"):
        requests["faithfulness"].add((key, options))
    if (key, options) in requests["faithfulness"]:
        with shown_as_error():
            _faithfulness_part(key, stamps, view, options)
    st.markdown("**Sanity check** · does the map change when the model's weights are randomised?")
    if st.button("Sanity check", key="eval_sanity", icon=":material/shuffle:"):
        requests["sanity"].add(key)
    if key in requests["sanity"]:
        with shown_as_error():
            _sanity_part(key, stamps, view, colormap)
    st.markdown("**Compare methods** · the six CAM methods on this video, their maps and AUCs side by side")
    if st.button("Compare methods", key="eval_compare", icon=":material/compare:"):
        requests["compare"].add((key, options))
    if (key, options) in requests["compare"]:
        with shown_as_error():
            _compare_part(key, stamps, view, options, colormap)
