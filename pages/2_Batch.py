"""Batch: explain a folder or a list of videos in the background, watch the summary fill, open any row.

The batch runs in a background thread of the server (``core.batch.job``), one per output folder, so
the page stays responsive, can stop it, and finds it again when reopened. An output folder whose
``.batch.json`` lists more videos than are done holds an interrupted batch: **Resume** finishes it with
the model picked on this page (never the model, trust or folder the file names: every recorded value it
overrides is listed and must be confirmed). Rows open in the explorer's result viewer from their files on
disk (npz + sidecar); the frames are cut again from the source video through the recorded windows:
nothing is recomputed and no config runs. The model is picked as on the main page.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import streamlit as st

import core  # noqa: F401  (applies the mmaction2 compatibility shim first)
from core.batch import BatchOptions, ModelFiles, read_summary
from core.batch.job import (
    BatchProgress,
    BatchRequest,
    Phase,
    interrupted,
    job_for,
    read_manifest,
    resume_request,
    start_job,
)
from core.batch.store import EVALUATION_FIELDS, SUMMARY_FIELDS, Status, is_locked, read_outputs
from core.downloads import file_stem
from core.errors import CamError
from core.evaluate import BASELINES, DEFAULT_BLUR_SIGMA, Baseline
from core.geometry import VIEWS
from core.methods import METHODS, method_label
from core.result import ExplainResult
from core.target import GROUND_TRUTH, PREDICTED, TargetChoice, read_target
from pages.ui import pickers, tables
from pages.ui.errors import shown_as_error
from pages.ui.page import setup_page
from pages.ui.text import control, for_page
from pages.ui.viewer import COLORMAPS, show_view

setup_page("Batch", "🗂️", controls={  # what core's sentences call --flags, as this page names them
    **pickers.MODEL_CONTROLS,
    "--video-root": control("Video root (for list files)", "on this page"),
    "--use-frames": control("Also take rawframes folders", "on this page"),
    "--out folders": "output folders",
    "--out folder": control("Output folder", ""),
    "--out": control("Output folder", "on this page"),
    "--target gt": control("Target class: Ground truth", "under Options"),
    "--target-layer-name": control("Target layer", "under Options"),
    "--workers": control("Decoding threads", "under Options"),
    "--steps": control("Steps", "under Options"),
    "--baseline": control("Baseline", "under Options"),
    "--blur-sigma": control("Blur σ (px)", "under Options"),
})

TABLE_COLUMNS = [c for c in SUMMARY_FIELDS if c not in ("video", "decode_seconds")]
TARGET_KINDS = ("Predicted", "Ground truth", "Class")  # radio labels; pick_target maps them to Targets


def _text(label: str, key: str, **kwargs: Any) -> str | None:
    value = st.text_input(label, key=key, **kwargs)
    return value.strip() or None


def pick_target() -> TargetChoice | None:
    """The target the radio names (None while "Class" has no class typed)."""
    kind = st.radio("Target class", TARGET_KINDS, horizontal=True, key="batch_target",
                    help="Ground truth needs an annotation file (path label) as the input.")
    if kind == "Predicted":
        return PREDICTED
    if kind == "Ground truth":
        return GROUND_TRUTH
    text = _text("Class index or name", "batch_class")
    return None if text is None else read_target(text)


def pick_options() -> tuple[BatchOptions | None, int]:
    """What to explain and write (None until a class is given when "Class" is picked), and the number of
    decoding threads."""
    layer = _text("Target layer", "batch_layer", placeholder="default: last backbone stage")
    target = pick_target()
    method = st.selectbox("CAM method", list(METHODS), format_func=method_label, key="batch_method")
    views = st.radio("Views", VIEWS, horizontal=True, key="batch_views")
    write_overlay = st.checkbox("Also write overlay videos (.mp4)", key="batch_overlay")
    alpha = st.slider("Overlay opacity", 0.0, 1.0, 0.5, 0.05, key="batch_alpha")
    colormap = st.selectbox("Colormap", COLORMAPS, key="batch_colormap")
    force = st.checkbox("Recompute videos that are done", key="batch_force")
    evaluate = st.checkbox("Evaluate faithfulness", key="batch_evaluate",
                           help="Also measure each map: deletion and insertion AUCs against a random ranking and "
                                "Average Drop (as the explorer's Evaluate part), five more summary columns. About "
                                "4·steps more forward passes per view.")
    cols = st.columns(3)
    steps = int(cols[0].number_input("Steps", 1, 200, 20, key="batch_steps", disabled=not evaluate,
                                     help="Intervals of the deletion and insertion curves."))
    baseline = cols[1].selectbox("Baseline", BASELINES, key="batch_baseline", disabled=not evaluate,
                                 help="What replaces removed pixels: zeros (the mean colour), blur, or static (each "
                                      "pixel's mean over the clip: motion removed).")
    sigma = float(cols[2].number_input("Blur σ (px)", 0.5, 50.0, DEFAULT_BLUR_SIGMA, 0.5, key="batch_sigma",
                                       disabled=not evaluate or baseline is not Baseline.BLUR))
    workers = int(st.number_input("Decoding threads", 1, 16, 1, key="batch_workers"))
    if target is None:
        return None, workers
    options = BatchOptions(target_layer=layer, target=target, method=method, views=views, overlay=write_overlay,
                           alpha=alpha, colormap=colormap, force=force, evaluate=evaluate, steps=steps,
                           baseline=baseline, blur_sigma=sigma)
    return options, workers


def _table(rows: list[dict]) -> None:
    """The summary rows; the name and error columns are as wide as their longest value (up to a cap), so long
    video names show whole, and the name stays in view while scrolling sideways."""
    evaluated = any(row.get(EVALUATION_FIELDS[0]) not in (None, "") for row in rows)
    fields = [*TABLE_COLUMNS[:-1], *EVALUATION_FIELDS, TABLE_COLUMNS[-1]] if evaluated else TABLE_COLUMNS
    shown = [{c: row.get(c) for c in fields} for row in rows]
    names, errors = [r["name"] for r in shown], [r["error"] for r in shown]
    columns = {
        "name": tables.text_column("name", names, "The video's outputs under the output folder (name.txt, "
                                                  "name.json, name.npz)", pinned=True),
        "error": tables.text_column("error", errors, "Why a video failed (or its map could not be evaluated)",
                                    cap=480),
    }
    st.dataframe(shown, hide_index=True, width="stretch", column_config=columns)


def _counts(rows: list[dict]) -> tuple[int, int]:
    return sum(r.get("status") == Status.OK for r in rows), sum(r.get("status") == Status.FAILED for r in rows)


def _progress_text(progress: BatchProgress) -> str:
    if progress.already_complete:
        return f"{progress.total}/{progress.total} videos · already complete (nothing left to explain)"
    text = (f"{progress.done}/{progress.total} videos · {progress.ok} explained · {progress.failed} failed · "
            f"{progress.skipped} already done")
    if progress.eta is not None and progress.phase is Phase.RUNNING:
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
    current = progress.current or ("loading the model…" if progress.phase is Phase.STARTING else "—")
    st.markdown(f"**Now:** {current} · {progress.phase}")
    if st.button("Stop", key="batch_stop", icon=":material/stop:", disabled=progress.phase is Phase.STOPPING,
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


def resume(manifest: dict, rows: list[dict], model: ModelFiles | None, out: str,
           options: BatchOptions | None) -> BatchRequest | None:
    """The interrupted batch's note and Resume button: it runs with this page's model and output folder
    (see :func:`core.batch.job.resume_request`); every recorded value that differs must be confirmed."""
    recorded: BatchRequest = manifest["request"]
    ok, failed = _counts(rows)
    st.warning(f"This folder holds an interrupted batch: {ok + failed} of {manifest['videos']} videos have results"
               f"{f' ({failed} failed)' if failed else ''}.")
    if model is None:
        st.info(f"To resume it, pick its model in the sidebar (it used config `{recorded.config}` and checkpoint "
                f"`{recorded.checkpoint or 'none'}`); the page never loads a model named by a file in the folder.")
        st.button("Resume", type="primary", key="batch_resume", icon=":material/play_arrow:", disabled=True)
        return None
    request, differences = resume_request(recorded, model, out, options=options)
    confirmed = True
    if differences:
        st.markdown("Resuming differs from what this page chose or from the recorded batch (each line says which "
                    "is used; videos done with other settings are explained again):\n"
                    + "\n".join(f"- {d}" for d in differences))
        confirmed = st.checkbox("Resume with these settings", key="batch_resume_confirm")
    if st.button("Resume", type="primary", key="batch_resume", icon=":material/play_arrow:", disabled=not confirmed,
                 help=None if confirmed else "Confirm the differences above first."):
        _start(request)
    return request


@st.cache_data(show_spinner="Reading the files and decoding the frames…", max_entries=8)
def _saved(out: str, name: str, stamp: int) -> ExplainResult:
    return read_outputs(out, name)


def show_row(out: str, name: str, options: BatchOptions) -> None:
    """One finished video in the explorer's result viewer, from its files (npz + sidecar; no config runs)."""
    with shown_as_error() as box:
        result = _saved(out, name, (Path(out) / f"{name}.json").stat().st_mtime_ns)
    if box.failed:
        return
    method = method_label(result.method)
    st.subheader(f"{name}: {result.target_label}")
    st.caption(f"Explained class {result.target_class} ({result.target_label}) · predicted "
               f"{result.predicted_label} · layer {result.layer} · {method} · views {result.views} · "
               f"video {result.video}")
    for note in result.file_notes:
        st.info(for_page(note))
    stem = file_stem(result.video, result.checkpoint, result.layer, result.target_label, result.method)
    seconds = result.extra.get("batch", {}).get("seconds") if isinstance(result.extra.get("batch"), dict) else None
    with shown_as_error():
        show_view(replace(result, name=stem), f"batch-{abs(hash((out, name, seconds)))}",
                  alpha=options.alpha, colormap=options.colormap)


def pick_inputs() -> tuple[str | None, str | None, bool, str | None]:
    """The input (folder, video or list file), the video root of a list, whether to take rawframes folders,
    and the output folder."""
    source = pickers.path_input("Input folder, video or list file", "batch_input",
                   help="Folders are scanned recursively; a .txt lists one path per line or is an MMAction2 "
                        "annotation file (path label).")
    video_root = pickers.path_input("Video root (for list files)", "batch_video_root",
                       help="Folder the list's relative paths start from (default: the list's folder).")
    use_frames = st.checkbox("Also take rawframes folders (`img_*.jpg`)", key="batch_use_frames")
    out = pickers.path_input("Output folder", "batch_out")
    return source, video_root, use_frames, out


def new_request(model: ModelFiles | None, source: str | None, out: str, options: BatchOptions | None,
                workers: int, video_root: str | None, use_frames: bool) -> BatchRequest | None:
    """The batch this page's choices describe (None until the model, input and class are given)."""
    if model is None or source is None or options is None or pickers.refused("batch_video_root"):
        return None
    return BatchRequest(config=model.config, checkpoint=model.checkpoint, inputs=[source], out=out,
                        options=options, device=model.device, label_map=model.label_map,
                        trust_checkpoint=model.trust_checkpoint, use_frames=use_frames,
                        video_root=video_root, workers=workers)


def existing(out: str, manifest: dict | None, rows: list[dict], model: ModelFiles | None,
             options: BatchOptions | None) -> BatchRequest | None:
    """What the output folder already holds: a note when another process writes to it, the Resume of an
    interrupted batch (its request, once a model is picked)."""
    if is_locked(out):
        st.info("Another process (e.g. `python -m core.batch` in a terminal) is writing to this folder; its "
                "summary below fills as it goes (rerun the page to refresh).")
        return None
    if manifest is not None and interrupted(manifest, rows):
        return resume(manifest, rows, model, out, options)
    return None


def start_button(model: ModelFiles | None, source: str | None, options: BatchOptions | None,
                 request: BatchRequest | None) -> None:
    """Start, disabled (saying what is missing) until the batch is described."""
    missing = ("Choose a model and an input first." if model is None or source is None
               else "Type the class to explain (Options), or pick Predicted." if options is None else None)
    if st.button("Start", type="primary", key="batch_start", disabled=request is None,
                 icon=":material/play_arrow:", help=missing) and request is not None:
        _start(request)


def summary(out: str, rows: list[dict], options: BatchOptions | None) -> None:
    """The summary table of the output folder, and the result of any explained video picked."""
    ok, failed = _counts(rows)
    st.markdown(f"**Summary** · {ok} explained · {failed} failed · `{Path(out) / 'summary.csv'}`")
    _table(rows)
    names = [r["name"] for r in rows if r.get("status") == Status.OK]
    if names:
        name = st.selectbox("Open a video's result", names, index=None, key="batch_open",
                            placeholder="Pick an explained video")
        if name is not None:
            show_row(out, name, options or BatchOptions())


def main() -> None:
    st.title("Batch")
    st.caption("Explain every video of a folder or list file with one model load. Files mirror the inputs "
               "under the output folder (txt, json, npz, optional mp4) with a summary.csv; a rerun skips done "
               "videos. The same batch from a terminal: `python -m core.batch` (command below).")
    with st.sidebar:
        st.header("Model")
        spec = pickers.pick_model()
    model = None if spec is None else ModelFiles(spec.config, spec.checkpoint, spec.device, spec.label_map,
                                                 trust_checkpoint=spec.trust_checkpoint)
    left, right = st.columns(2, gap="large")
    with left:
        source, video_root, use_frames, out = pick_inputs()
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
    if job is not None and job.progress().phase is Phase.ERROR:
        st.error(job.progress().error)
    manifest, rows = read_manifest(out), read_summary(out)
    request = new_request(model, source, out, options, workers, video_root, use_frames)
    resumed = existing(out, manifest, rows, model, options)
    start_button(model, source, options, request)
    shown = resumed or request or (manifest["request"] if manifest is not None else None)
    if shown is not None:
        st.code(shown.command(), language="bash")
    if rows:
        summary(out, rows, options)


main()
