"""Batch: explain a folder or a list of videos in the background, watch the summary fill, open any row.

The batch runs in a background thread of the server (``core.batch.job``), one per output folder, so
the page stays responsive, can stop it, and finds it again when reopened. An output folder whose
``.batch.json`` lists more videos than are done holds an interrupted batch: **Resume** finishes it.
Rows open in the explorer's result viewer from their files on disk (npz + sidecar); the frames are
decoded again from the video, nothing is recomputed. The model is picked as on the main page.
"""

from __future__ import annotations

from pathlib import Path

import streamlit as st

import core  # noqa: F401  (applies the mmaction2 compatibility shim first)
from core.batch import BatchOptions, read_summary
from core.batch.job import BatchProgress, BatchRequest, job_for, read_manifest, start_job
from core.batch.store import SUMMARY_FIELDS, read_outputs
from core.downloads import file_stem
from core.errors import CamError
from core.methods import METHODS
from pages.ui import pickers
from pages.ui.errors import shown_as_error
from pages.ui.page import setup_page
from pages.ui.viewer import COLORMAPS, show_view

setup_page("Batch", "🗂️")

TABLE_COLUMNS = [c for c in SUMMARY_FIELDS if c not in ("video", "decode_seconds")]


def _text(label: str, key: str, **kwargs) -> str | None:
    value = st.text_input(label, key=key, **kwargs)
    return value.strip() or None


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


@st.cache_data(show_spinner="Reading the files and decoding the frames…", max_entries=8)
def _saved(out: str, name: str, stamp: int, cfg_options: dict | None):
    return read_outputs(out, name, cfg_options=cfg_options)


def show_row(out: str, name: str, cfg_options: dict | None, options: BatchOptions) -> None:
    """One finished video in the explorer's result viewer, from its files (npz + sidecar)."""
    with shown_as_error() as box:
        saved = _saved(out, name, (Path(out) / f"{name}.json").stat().st_mtime_ns, cfg_options)
    if box.failed:
        return
    meta = saved.meta
    st.subheader(f"{name}: {meta['target_label']}")
    st.caption(f"Explained class {meta['target_class']} ({meta['target_label']}) · predicted "
               f"{meta['predicted_label']} · layer {meta['layer']} · "
               f"{METHODS[meta['method']].label if meta['method'] in METHODS else meta['method']} · "
               f"views {meta['views']} · video {meta['video']}")
    if saved.note:
        st.info(saved.note)
    stem = file_stem(meta["video"], meta.get("checkpoint"), meta["layer"], meta["target_label"], meta["method"])
    with shown_as_error():
        show_view(saved.view(stem), f"batch-{abs(hash((out, name, meta.get('batch', {}).get('seconds'))))}",
                  alpha=options.alpha, colormap=options.colormap)


def main() -> None:
    st.title("Batch")
    st.caption("Explain every video of a folder or list file with one model load. Files mirror the inputs "
               "under the output folder (txt, json, npz, optional mp4) with a summary.csv; a rerun skips done "
               "videos. The same batch from a terminal: `python -m core.batch` (command below).")
    with st.sidebar:
        st.header("Model")
        model = pickers.pick_model()
    left, right = st.columns(2, gap="large")
    with left:
        source = pickers.path_input("Input folder, video or list file", "batch_input",
                       help="Folders are scanned recursively; a .txt lists one path per line or is an MMAction2 "
                            "annotation file (path label).")
        video_root = pickers.path_input("Video root (for list files)", "batch_video_root",
                           help="Folder the list's relative paths start from (default: the list's folder).")
        use_frames = st.checkbox("Also take rawframes folders (img_*.jpg)", key="batch_use_frames")
        out = pickers.path_input("Output folder", "batch_out")
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
    if model is not None and source is not None and not pickers.refused("batch_video_root"):
        request = BatchRequest(config=model.config, checkpoint=model.checkpoint, inputs=[source], out=out,
                               options=options, device=model.device, label_map=model.label_map,
                               trust_checkpoint=model.trust_checkpoint, use_frames=use_frames,
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
            show_row(out, name, manifest["request"].cfg_options if manifest else None, options)


main()
