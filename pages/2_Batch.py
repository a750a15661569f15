"""Batch: explain a folder or a list of videos in the background, watch the summary fill, open any row.

The batch runs in a background thread of the server (``core.batch.job``), one per output folder, so
the page stays responsive, can stop it, and finds it again when reopened. An output folder whose
``.batch.json`` lists more videos than are done holds an interrupted batch: **Resume** finishes it.
Rows open from their files on disk (npz + sidecar); the frames are decoded again, nothing is recomputed.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import streamlit as st

import core  # noqa: F401  (applies the mmaction2 compatibility shim first)
from core.batch import BatchOptions, read_summary
from core.batch.job import BatchProgress, BatchRequest, job_for, read_manifest, start_job
from core.batch.store import SUMMARY_FIELDS, read_outputs
from core.errors import CamError
from core.methods import METHODS
from core.overlay import colorize, overlay

st.set_page_config(page_title="Batch · Grad-CAM explorer", page_icon="🗂️", layout="wide")

COLORMAPS = ("viridis", "jet", "inferno", "magma", "plasma", "turbo", "hot", "gray")
TABLE_COLUMNS = [c for c in SUMMARY_FIELDS if c not in ("video", "decode_seconds")]


def _text(label: str, key: str, **kwargs) -> str | None:
    value = st.text_input(label, key=key, **kwargs)
    return value.strip() or None


def pick_model() -> dict | None:
    """Config, checkpoint, label map, device and trust (a minimal picker; the main page's shared
    picker replaces it once both live on one branch)."""
    st.header("Model")
    config = _text("Config (.py)", "batch_config", placeholder="work_dirs/tsn/tsn.py")
    checkpoint = _text("Checkpoint (.pth)", "batch_checkpoint", help="Leave empty for random weights.")
    with st.expander("Class names, device, trust"):
        label_map = _text("Label map (txt, one class per line)", "batch_label_map")
        device = st.radio("Device", ("auto", "cuda", "cpu"), horizontal=True, key="batch_device")
        trust = st.checkbox("Trust this checkpoint", key="batch_trust",
                            help="Allow arbitrary pickled objects; only for checkpoints you made yourself.")
    if config is None:
        st.info("Enter the path of an MMAction2 config.")
        return None
    return dict(config=config, checkpoint=checkpoint, label_map=label_map, device=device, trust_checkpoint=trust)


def pick_options() -> tuple[BatchOptions, int]:
    """What to explain and write, and the number of decoding threads."""
    layer = _text("Target layer", "batch_layer", placeholder="default: last backbone stage")
    kind = st.radio("Target class", ("Predicted", "Ground truth", "Class"), horizontal=True, key="batch_target",
                    help="Ground truth needs an annotation file (path label) as the input.")
    target = {"Predicted": None, "Ground truth": "gt"}.get(kind) or _text("Class index or name", "batch_class")
    method = st.selectbox("CAM method", list(METHODS), format_func=lambda m: METHODS[m].label or m,
                          key="batch_method")
    views = st.radio("Views", ("center", "all"), horizontal=True, key="batch_views")
    write_overlay = st.checkbox("Also write overlay videos (.mp4)", key="batch_overlay")
    alpha = st.slider("Overlay opacity", 0.0, 1.0, 0.5, 0.05, key="batch_alpha")
    colormap = st.selectbox("Colormap", COLORMAPS, key="batch_colormap")
    force = st.checkbox("Recompute videos that are done", key="batch_force")
    workers = int(st.number_input("Decoding threads", 1, 16, 1, key="batch_workers"))
    options = BatchOptions(target_layer=layer, target=target, method=method, views=views, overlay=write_overlay,
                           alpha=alpha, colormap=colormap, force=force)
    return options, workers


def _table(rows: list[dict]) -> None:
    st.dataframe([{c: row.get(c) for c in TABLE_COLUMNS} for row in rows], hide_index=True, width="stretch")


def _counts(rows: list[dict]) -> tuple[int, int]:
    return sum(r.get("status") == "ok" for r in rows), sum(r.get("status") == "failed" for r in rows)


def _progress_text(progress: BatchProgress) -> str:
    text = (f"{progress.done}/{progress.total} videos · {progress.ok} explained · {progress.failed} failed · "
            f"{progress.skipped} already done")
    if progress.eta is not None and progress.phase == "running":
        text += f" · about {progress.eta:.0f} s left"
    return text


@st.fragment(run_every=1.0)
def live(out: str) -> None:
    """Progress of the running batch, refreshed every second without rerunning the page."""
    job = job_for(out)
    if job is None:
        return
    progress = job.progress()
    st.progress(progress.fraction, text=_progress_text(progress))
    current = progress.current or ("loading the model…" if progress.phase == "starting" else "—")
    st.markdown(f"**Now:** {current} · {progress.phase}")
    if st.button("Stop", key="batch_stop", icon=":material/stop:", disabled=progress.phase == "stopping",
                 help="Finish the video being explained, then stop; Resume finishes the rest later."):
        job.stop()
    _table(progress.rows)
    if not job.running:
        st.rerun()  # the whole page: the final summary and the row viewer


def _start(request: BatchRequest) -> None:
    try:
        start_job(request)
    except CamError as err:
        st.error(str(err))
        return
    st.rerun()


@st.cache_data(show_spinner=False, max_entries=8)
def _saved(out: str, name: str, stamp: float, cfg_options: dict | None):
    return read_outputs(out, name, cfg_options=cfg_options)


def show_row(out: str, name: str, cfg_options: dict | None) -> None:
    """One finished video from its files: heatmap and overlay of a chosen frame, top-5, activation per frame
    (a minimal viewer; the main page's result viewer replaces it once both live on one branch)."""
    sidecar = Path(out) / f"{name}.json"
    try:
        saved = _saved(out, name, sidecar.stat().st_mtime, cfg_options)
    except (CamError, OSError, ValueError) as err:
        st.error(str(err))
        return
    meta = saved.meta
    st.subheader(f"{name}: {meta['target_label']}")
    st.caption(f"Explained class {meta['target_class']} ({meta['target_label']}) · predicted "
               f"{meta['predicted_label']} · layer {meta['layer']} · {meta['method']} · views {meta['views']} · "
               f"video {meta['video']}")
    if saved.note:
        st.info(saved.note)
    maps = saved.heatmaps.reshape(-1, *saved.heatmaps.shape[-2:])
    index = st.slider("Heatmap frame", 1, len(maps), 1, key=f"batch_frame_{name}") - 1 if len(maps) > 1 else 0
    source = saved.frame_indices.reshape(-1)[index]
    cols = st.columns(3 if saved.frames is not None else 2)
    cols[0].image((colorize(maps[index], "viridis") * 255).astype(np.uint8), caption=f"Heatmap · source frame "
                  f"{source}", width="stretch")
    if saved.frames is not None:
        frame = saved.frames.reshape(-1, *saved.frames.shape[-3:])[index]
        cols[1].image(overlay(frame, maps[index]), caption="Overlay", width="stretch")
    with cols[-1]:
        st.markdown("**Top-5**")
        st.dataframe([{"class": t["label"], "probability": round(t["score"], 4)} for t in meta["top5"]],
                     hide_index=True, width="stretch")
    st.line_chart({"mean": maps.mean(axis=(1, 2)), "max": maps.max(axis=(1, 2))}, height=200)


def main() -> None:
    st.title("Batch")
    st.caption("Explain every video of a folder or list file with one model load. Files mirror the inputs "
               "under the output folder (txt, json, npz, optional mp4) with a summary.csv; a rerun skips done "
               "videos. The same batch from a terminal: `python -m core.batch` (command below).")
    with st.sidebar:
        model = pick_model()
    left, right = st.columns(2, gap="large")
    with left:
        source = _text("Input folder, video or list file", "batch_input",
                       help="Folders are scanned recursively; a .txt lists one path per line or is an MMAction2 "
                            "annotation file (path label).")
        video_root = _text("Video root (for list files)", "batch_video_root",
                           help="Folder the list's relative paths start from (default: the list's folder).")
        use_frames = st.checkbox("Also take rawframes folders (img_*.jpg)", key="batch_use_frames")
        out = _text("Output folder", "batch_out")
    with right, st.expander("Options", expanded=False):
        options, workers = pick_options()
    if out is None:
        st.info("Choose an output folder: a new one, or one that holds a batch to see or resume.")
        return
    out = str(Path(out).expanduser().absolute())
    job = job_for(out)
    if job is not None and job.running:
        live(out)
        return
    if job is not None and job.progress().phase == "error":
        st.error(job.progress().error)
    manifest, rows = read_manifest(out), read_summary(out)
    request = None
    if model is not None and source is not None:
        request = BatchRequest(config=model["config"], checkpoint=model["checkpoint"], inputs=[source], out=out,
                               options=options, device=model["device"], label_map=model["label_map"],
                               trust_checkpoint=model["trust_checkpoint"], use_frames=use_frames,
                               video_root=video_root, workers=workers)
    ok, failed = _counts(rows)
    if manifest is not None and ok + failed < manifest["videos"]:
        st.warning(f"This folder holds an interrupted batch: {ok + failed} of {manifest['videos']} videos done"
                   f"{f' ({failed} failed)' if failed else ''}.")
        if st.button("Resume", type="primary", key="batch_resume", icon=":material/play_arrow:"):
            _start(manifest["request"])
    if st.button("Start", type="primary" if manifest is None else "secondary", key="batch_start",
                 disabled=request is None, icon=":material/play_arrow:",
                 help=None if request is not None else "Choose a model and an input first."):
        _start(request)
    shown = manifest["request"] if manifest is not None else request
    if shown is not None:
        st.code(shown.command(), language="bash")
    if not rows:
        return
    st.markdown(f"**Summary** · {ok} explained · {failed} failed · `{Path(out) / 'summary.csv'}`")
    _table(rows)
    names = [r["name"] for r in rows if r.get("status") == "ok"]
    if names:
        name = st.selectbox("Open a video's result", names, index=None, key="batch_open",
                            placeholder="Pick an explained video")
        if name is not None:
            show_row(out, name, manifest["request"].cfg_options if manifest else None)


main()
