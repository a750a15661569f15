"""``python -m core.vis_cam CONFIG CHECKPOINT VIDEO``: MMAction2's vis_cam.py, at inference cost.

Accepts vis_cam's arguments (so existing .sh loops keep working) plus ``--file-url`` (heatmap txt
and JSON sidecar, as the thesis' patched script wrote), ``--target-class``, ``--method``,
``--all-views``, ``--trust-checkpoint``, ``--alpha`` and ``--colormap``.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

import core
from core.errors import CamError, run_command
from core.export import sidecar_path
from core.methods import METHODS
from core.outputs import check_apart, check_output_file
from core.overlay import colormap_lut, resize_frames, write_video


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
    parser.add_argument("--method", default="gradcam", help=f"CAM method: {', '.join(METHODS)} (default: gradcam)")
    parser.add_argument("--all-views", action="store_true",
                        help="keep multi-crop views of the test pipeline (default: center crop only)")
    parser.add_argument("--label-map", default=None, help="txt with one class name per line")
    parser.add_argument("--trust-checkpoint", action="store_true",
                        help="allow checkpoints that need arbitrary pickled objects (only for your own files)")
    parser.add_argument("--alpha", type=float, default=0.5, help="heatmap opacity in the overlay (0-1)")
    parser.add_argument("--colormap", default="viridis", help="matplotlib colormap of the overlay")


def build_parser() -> argparse.ArgumentParser:
    """vis_cam.py's arguments (same names and meaning) plus ours."""
    parser = argparse.ArgumentParser(prog="python -m core.vis_cam", description=__doc__.splitlines()[0])
    parser.add_argument("config", help="test config file path")
    parser.add_argument("checkpoint", help="checkpoint file (.pth)")
    parser.add_argument("video", help="video file or rawframes directory")
    parser.add_argument("--use-frames", action="store_true",
                        help="the input is a rawframes directory (detected automatically too)")
    parser.add_argument("--out-filename", default=None, help="overlay video to write (.mp4 H.264 or .gif)")
    parser.add_argument("--fps", default=5, type=float, help="frame rate of the overlay video")
    parser.add_argument("--target-resolution", nargs=2, type=int, default=None, metavar=("W", "H"),
                        help="resolution of the overlay video (-1 keeps the aspect ratio)")
    parser.add_argument("--resize-algorithm", default="bilinear", help="resize algorithm for the overlay video")
    parser.add_argument("--file-url", default=None,
                        help="heatmap txt to write ('Frame N - Heatmap values:' blocks) plus a .json sidecar")
    parser.add_argument("--npz", action="store_true", help="also write heatmaps as .npz next to --file-url")
    add_explain_options(parser)
    return parser


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
    progress("loading model")
    handle = core.load_model(args.config, args.checkpoint, args.device, label_map=args.label_map,
                             cfg_options=parse_cfg_options(args.cfg_options), trust_checkpoint=args.trust_checkpoint)
    progress(f"explaining {video} on {handle.device}")
    result = core.explain(handle, video, target_layer=args.target_layer_name, target=args.target_class,
                          views="all" if args.all_views else "center", method=args.method)
    progress(f"{result.method} of {result.layer} for class {result.target_class} ({result.target_label}), "
             f"heatmaps {tuple(result.heatmaps.shape)}")
    if args.file_url:
        core.write_result(args.file_url, result, npz=args.npz)
        progress(f"wrote {args.file_url} and {Path(args.file_url).with_suffix('.json')}")
    if args.out_filename:
        # the app's geometry: frames shown with the source video's proportions (a squashed crop is unsquashed)
        blended = result.display_overlays(alpha=args.alpha, colormap=args.colormap)
        if blended is None:  # explain() always returns the frames it explained
            raise CamError("The result carries no frames to draw the overlay on.")
        frames = resize_frames(blended, args.target_resolution, args.resize_algorithm)
        write_video(frames, args.out_filename, fps=args.fps)
        progress(f"wrote {args.out_filename}")
    if not args.file_url and not args.out_filename:
        for index, label, prob in result.topk(5):
            print(f"{prob:8.4f}  {index:>5}  {label}{'  <- explained' if index == result.target_class else ''}")
        progress("nothing written: add --file-url OUT.txt for the heatmaps (txt, json sidecar) and/or "
                 "--out-filename OUT.mp4 for the overlay video")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)

    def progress(message: str) -> None:
        print(f"[vis_cam] {message}", file=sys.stderr, flush=True)

    return run_command(lambda: run(args, progress))


if __name__ == "__main__":
    sys.exit(main())
