"""Why B rather than A? Contrastive maps for a confusion cell (true A, predicted B) on the Test results page: a
background batch of ``Contrast(B, A)`` over the cell's samples shown as a grid (sample × frames), and, for one
sample, Grad-CAM(B), Grad-CAM(A) and the contrast side by side."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import streamlit as st

import core
from core import dumps
from core.geometry import Views
from core.heatmap_files import read_result
from core.methods import Method
from core.overlay import display_overlays
from core.target import ClassIndex, Contrast
from pages.ui import cache
from pages.ui.errors import shown_as_error

GRID_SAMPLES, GRID_FRAMES = 8, 8


def cell_folder(out: str | Path, gt: int, pred: int) -> Path:
    """Where the contrast batch of the cell (true ``gt``, predicted ``pred``) writes."""
    return Path(out) / f"why_{pred}_not_{gt}"


def contrast_of(gt: int, pred: int) -> Contrast:
    """Why ``pred`` rather than ``gt``: the map of score(pred) − score(gt)."""
    return Contrast(ClassIndex(pred), ClassIndex(gt))


def _frames(result: core.ExplainResult, count: int) -> list[np.ndarray]:
    """``count`` overlays spread over the result's first view."""
    overlays = display_overlays(result)
    if overlays is None:
        return []
    frames = result.heatmaps.shape[1]
    return [overlays[int(i)] for i in np.linspace(0, frames - 1, min(count, frames)).round()]


def show_grid(folder: Path, report: dumps.DumpReport) -> None:
    """The contrast maps the batch in ``folder`` wrote: one row per sample, a few frames each."""
    txts = sorted(p for p in folder.rglob("*.txt") if p.name != dumps.SAMPLE_LIST and p.with_suffix(".json").is_file())
    if not txts:
        return
    st.caption(f"{len(txts)} samples explained in {folder}" + (f"; the first {GRID_SAMPLES} shown"
                                                                 if len(txts) > GRID_SAMPLES else ""))
    for txt in txts[:GRID_SAMPLES]:
        with shown_as_error():
            result = read_result(txt)
            cols = st.columns([2, *([1] * GRID_FRAMES)])
            contrast = result.extra.get("contrast") or {}
            versus = ", ".join(contrast.get("versus_labels", []))
            cols[0].markdown(f"**{result.video_stem}**  \n{result.target_label} rather than {versus}")
            for col, frame in zip(cols[1:], _frames(result, GRID_FRAMES), strict=False):
                col.image(frame, width="stretch")


def side_by_side(spec: cache.ModelSpec, video: str, gt: int, pred: int, classes: list[str]) -> None:
    """Grad-CAM of the prediction, of the ground truth, and their contrast, frame by frame."""
    video_ref = cache.VideoRef.of(video)
    keys = [cache.RunKey(spec, video_ref, None, pred, Method.GRADCAM, Views.CENTER),
            cache.RunKey(spec, video_ref, None, gt, Method.GRADCAM, Views.CENTER),
            cache.RunKey(spec, video_ref, None, contrast_of(gt, pred).key, Method.GRADCAM, Views.CENTER)]
    titles = [f"Grad-CAM({classes[pred]})", f"Grad-CAM({classes[gt]})",
              f"Contrast({classes[pred]}, {classes[gt]})"]
    with shown_as_error() as box:
        results = [cache.explain(key) for key in keys]
    if box.failed:
        return
    frames = results[0].heatmaps.shape[1]
    shown = st.slider("Frame", 0, frames - 1, 0, key="dump_why_frame") if frames > 1 else 0
    for col, title, result in zip(st.columns(3), titles, results, strict=True):
        overlays = display_overlays(result)
        col.markdown(f"**{title}**")
        if overlays is not None:
            col.image(overlays[shown], width="stretch")
