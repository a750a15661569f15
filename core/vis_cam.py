"""``python -m core.vis_cam CONFIG CHECKPOINT VIDEO``: MMAction2's vis_cam.py, at inference cost.

Accepts vis_cam's arguments (so existing .sh loops keep working) plus ``--file-url`` (heatmap txt
and JSON sidecar, as the thesis' patched script wrote), ``--target-class``, ``--method``,
``--versus`` (contrastive maps), ``--all-views``, ``--trust-checkpoint``, ``--alpha`` and ``--colormap``.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import core
from core.errors import CamError, run_command
from core.formats.sidecar import sidecar_path
from core.geometry import Views
from core.methods import METHODS, Method, parse_method
from core.outputs import check_apart, check_output_file
from core.overlay import colormap_lut, display_overlays, resize_frames, write_video
from core.result import topk
from core.target import TargetChoice, read_target, with_versus
from core.whole_video import explain_whole_video


def parse_cfg_options(pairs: list[str] | None) -> dict | None:
    """``--cfg-options KEY=VALUE ...`` as the dict MMEngine merges into a config (None when absent)."""
    if not pairs:
        return None
    from mmengine.config import DictAction

    namespace = argparse.Namespace()
    try:
        DictAction(option_strings=["--cfg-options"], dest="cfg_options")(None, namespace, pairs)
    except Exception as err:  # DictAction raises bare errors for malformed pairs
        raise CamError(f"--cfg-options needs KEY=VALUE pairs, not {' '.join(pairs)}.") from err
    return namespace.cfg_options


def add_explain_options(parser: argparse.ArgumentParser, *, ground_truth: bool = False) -> None:
    """The options that say how to load and explain the model (shared with ``python -m core.batch``).

    ``ground_truth=True`` also accepts ``--target-class gt`` (alias ``--target``): the annotation's label.
    """
    parser.add_argument("--device", default="auto", help="auto (CUDA when available), cpu or cuda:N")
    parser.add_argument("--target-layer-name", default=None,
                        help="layer to explain, e.g. backbone/layer4/1/relu (default: the architecture's last "
                             "stage or block); join layers with + to average their maps")
    parser.add_argument("--cfg-options", nargs="+", default=None, metavar="KEY=VALUE",
                        help="override settings of the config")
    if ground_truth:
        parser.add_argument("--target-class", "--target", dest="target_class", default=None,
                            help="class index or name, or gt for each video's annotated label "
                                 "(default: predicted class)")
    else:
        parser.add_argument("--target-class", default=None, help="class index or name (default: predicted class)")
    parser.add_argument("--versus", default=None, metavar="B|similar:K",
                        help="explain why the target rather than class B (index, name, predicted"
                             + (", gt" if ground_truth else "") + "): the map of score(target) - score(B); "
                             "similar:K contrasts with the K most similar classes (FinerCAM)")
    parser.add_argument("--method", default=Method.GRADCAM,
                        help=f"CAM method: {', '.join(METHODS)} (default: {Method.GRADCAM})")
    parser.add_argument("--all-views", action="store_true",
                        help="keep multi-crop views of the test pipeline (default: center crop only)")
    parser.add_argument("--label-map", default=None, help="txt with one class name per line")
    parser.add_argument("--trust-checkpoint", action="store_true",
                        help="allow checkpoints that need arbitrary pickled objects (only for your own files)")
    parser.add_argument("--alpha", type=float, default=0.5, help="heatmap opacity in the overlay (0-1)")
    parser.add_argument("--colormap", default="viridis", help="matplotlib colormap of the overlay")


def target_of_args(args: argparse.Namespace, *, ground_truth: bool = False) -> TargetChoice | str | None:
    """What ``--target-class`` and ``--versus`` ask for: the target as given, or its :class:`~core.target.Contrast`
    with ``--versus``."""
    versus = getattr(args, "versus", None)
    if versus is None:
        return args.target_class
    return with_versus(read_target(args.target_class, ground_truth=ground_truth), versus)


def explain_choices_of_args(args: argparse.Namespace) -> tuple[Method, Views]:
    """The method ``--method`` names (a CamError for an unknown one, before the slow part) and the views
    ``--all-views`` asks for."""
    return parse_method(args.method), Views.ALL if args.all_views else Views.CENTER


def build_parser() -> argparse.ArgumentParser:
    """vis_cam.py's arguments (same names and meaning) plus ours."""
    parser = argparse.ArgumentParser(prog="python -m core.vis_cam", description=__doc__.splitlines()[0])
    parser.add_argument("config", help="test config file path")
    parser.add_argument("checkpoint", help="checkpoint file (.pth)")
    parser.add_argument("video", help="video file or rawframes directory")
    parser.add_argument("--use-frames", action="store_true",
                        help="the input is a rawframes directory (detected automatically too)")
    parser.add_argument("--out-filename", default=None, help="overlay video to write (.mp4 H.264 or .gif)")
    parser.add_argument("--fps", default=None, type=float,
                        help="frame rate of the overlay video (default 5; with --whole-video the source's)")
    parser.add_argument("--target-resolution", nargs=2, type=int, default=None, metavar=("W", "H"),
                        help="resolution of the overlay video (-1 keeps the aspect ratio)")
    parser.add_argument("--resize-algorithm", default="bilinear", help="resize algorithm for the overlay video")
    parser.add_argument("--file-url", default=None,
                        help="heatmap txt to write ('Frame N - Heatmap values:' blocks) plus a .json sidecar")
    parser.add_argument("--npz", action="store_true", help="also write heatmaps as .npz next to --file-url")
    add_explain_options(parser)
    add_whole_video_options(parser)
    return parser


def add_whole_video_options(parser: argparse.ArgumentParser) -> None:
    """``--whole-video`` and its settings (shared with ``python -m core.batch``)."""
    parser.add_argument("--whole-video", action="store_true",
                        help="explain every frame: the model's clip sampling slides over the whole video "
                             "(txt, sidecar with the window table, npz, overlay of the whole length)")
    parser.add_argument("--window-stride", type=int, default=None, metavar="N",
                        help="with --whole-video: frames between two windows' starts (default: clip_len x "
                             "frame_interval; smaller overlaps them)")
    parser.add_argument("--frame-interval", type=int, default=None, metavar="N",
                        help="with --whole-video: source frames between sampled frames (default: the config's "
                             "SampleFrames frame_interval; 1 for UniformSample)")
    parser.add_argument("--window-batch", type=int, default=4, metavar="N",
                        help="with --whole-video: windows explained together (default 4)")


def check_outputs(args: argparse.Namespace) -> None:
    """The output paths are files of the right kind in existing folders, and none of them is an input."""
    check_output_file(args.out_filename, (".mp4", ".gif"), "--out-filename")
    check_output_file(args.file_url, (".txt",), "--file-url")
    outputs = [args.out_filename]
    if args.file_url:
        txt = Path(args.file_url)
        outputs += [txt, sidecar_path(txt), txt.with_suffix(".npz") if args.npz else None]
    check_apart(outputs, [args.video, args.config, args.checkpoint, args.label_map],
                "pick another --out-filename or --file-url")


def run(args: argparse.Namespace, progress: Callable[[str], object] = print) -> int:
    """Explain one video and write the requested outputs; raises CamError on bad input."""
    check_outputs(args)
    video = Path(args.video)
    if args.use_frames and video.is_file():
        raise CamError(f"{video} is a video file, not a rawframes directory; drop --use-frames.")
    colormap_lut(args.colormap)  # fail on a bad colormap before the slow part
    if not 0 <= args.alpha <= 1:
        raise CamError(f"--alpha must be between 0 and 1, not {args.alpha}.")
    method, views = explain_choices_of_args(args)
    if args.whole_video:
        check_whole_video(args)
    progress("loading model")
    handle = core.load_model(args.config, args.checkpoint, args.device, label_map=args.label_map,
                             cfg_options=parse_cfg_options(args.cfg_options), trust_checkpoint=args.trust_checkpoint)
    progress(f"explaining {video} on {handle.device}")
    if args.whole_video:
        return run_whole_video(args, handle, method, progress)
    result = core.explain(handle, video, target_layer=args.target_layer_name, target=target_of_args(args),
                          views=views, method=method)
    progress(f"{result.method} of {result.layer} for class {result.target_class} ({result.target_label}), "
             f"heatmaps {tuple(result.heatmaps.shape)}")
    if args.file_url:
        core.write_result(args.file_url, result, npz=args.npz)
        progress(f"wrote {args.file_url} and {Path(args.file_url).with_suffix('.json')}")
    if args.out_filename:
        # the app's geometry: frames shown with the source video's proportions (a squashed crop is unsquashed)
        blended = display_overlays(result, alpha=args.alpha, colormap=args.colormap)
        if blended is None:  # explain() always returns the frames it explained
            raise CamError("The result carries no frames to draw the overlay on.")
        frames = resize_frames(blended, args.target_resolution, args.resize_algorithm)
        write_video(frames, args.out_filename, fps=args.fps or 5)
        progress(f"wrote {args.out_filename}")
    if not args.file_url and not args.out_filename:
        for index, label, prob in topk(result, 5):
            print(f"{prob:8.4f}  {index:>5}  {label}{'  <- explained' if index == result.target_class else ''}")
        progress("nothing written: add --file-url OUT.txt for the heatmaps (txt, json sidecar) and/or "
                 "--out-filename OUT.mp4 for the overlay video")
    return 0


def check_whole_video(args: argparse.Namespace) -> None:
    """What ``--whole-video`` cannot do, refused before the model loads."""
    if not args.file_url:
        raise CamError("--whole-video writes a heatmap file per video; pass --file-url OUT.txt.")
    if args.all_views:
        raise CamError("--whole-video explains the center view of every window; drop --all-views.")
    if args.out_filename and not str(args.out_filename).lower().endswith(".mp4"):
        raise CamError("--whole-video writes the overlay as it is made, which needs an .mp4 --out-filename.")
    if args.target_resolution:
        raise CamError("--whole-video writes the overlay at the heatmaps' size; drop --target-resolution.")


def run_whole_video(args: argparse.Namespace, handle: Any, method: Method, progress: Callable[[str], object]) -> int:
    """``--whole-video``: every frame explained (:func:`core.whole_video.explain_whole_video`)."""
    report = explain_whole_video(
        handle, args.video, args.file_url, target=target_of_args(args), target_layer=args.target_layer_name,
        method=method, stride=args.window_stride, frame_interval=args.frame_interval,
        batch_size=args.window_batch, overlay_path=args.out_filename, alpha=args.alpha, colormap=args.colormap,
        fps=args.fps, progress=lambda done, total: progress(f"window {done}/{total}"))
    resumed = f", resumed at window {report.resumed_from}" if report.resumed_from else ""
    progress(f"{report.windows} windows, {report.frames} frames ({report.interpolated} interpolated) in "
             f"{report.seconds:.1f} s{resumed}; wrote {', '.join(str(f) for f in report.files)}")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)

    def progress(message: str) -> None:
        print(f"[vis_cam] {message}", file=sys.stderr, flush=True)

    return run_command(lambda: run(args, progress))


if __name__ == "__main__":
    sys.exit(main())
