"""``python -m core.batch CONFIG CHECKPOINT INPUT... --out DIR``: explain many videos with one model load.

Writes ``<name>.txt``, ``<name>.json`` and ``<name>.npz`` (and ``<name>.mp4`` with ``--overlay``) under
DIR, mirroring the inputs' relative paths, plus ``DIR/summary.csv``. Rerunning the same command skips
finished videos. Exit status: 0 when all videos are explained, 3 when some failed (see summary.csv),
2 for bad arguments or inputs, 130 when interrupted.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from core.batch.job import BatchRequest, execute
from core.batch.spec import BatchOptions
from core.batch.store import SUMMARY_NAME
from core.batch.writer import Event
from core.errors import run_command
from core.evaluate.cli import add_faithfulness_options
from core.evaluate.perturb import parse_baseline
from core.target import read_target
from core.vis_cam import (
    add_explain_options,
    add_whole_video_options,
    explain_choices_of_args,
    parse_cfg_options,
    target_of_args,
)

if TYPE_CHECKING:
    from core.batch.job import BatchRequest
    from core.batch.tasks import BatchTask
    from core.batch.writer import BatchReport


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m core.batch", description=__doc__.split("\n\n")[0],
                                     epilog="Exit status: 0 all ok, 3 some videos failed, 2 bad arguments.")
    parser.add_argument("config", help="test config file path")
    parser.add_argument("checkpoint", help="checkpoint file (.pth), or none for random weights")
    parser.add_argument("inputs", nargs="+", metavar="INPUT",
                        help="video files, folders (scanned recursively), or .txt lists: one path per line, "
                             "or an MMAction2 annotation file (path label / path total_frames label)")
    parser.add_argument("--out", required=True, metavar="DIR", help="output folder")
    parser.add_argument("--use-frames", action="store_true",
                        help="also take folders of img_*.jpg found in input folders as rawframes clips")
    parser.add_argument("--video-root", default=None, metavar="DIR",
                        help="folder that relative paths of list files start from (default: the list's folder)")
    add_explain_options(parser, ground_truth=True)
    add_whole_video_options(parser)
    parser.add_argument("--overlay", action="store_true", help="also write each video's H.264 overlay <name>.mp4")
    parser.add_argument("--fps", type=float, default=5.0,
                        help="frame rate of the overlay videos (--whole-video: the source's)")
    parser.add_argument("--force", action="store_true", help="recompute videos that are already done")
    parser.add_argument("--evaluate", action="store_true",
                        help="also measure each map's faithfulness (python -m core.evaluate): deletion_auc, "
                             "insertion_auc, random_deletion_auc, random_insertion_auc and average_drop "
                             "columns in summary.csv")
    add_faithfulness_options(parser)
    parser.add_argument("--workers", type=int, default=None, metavar="N",
                        help="Ray: CPU actors when the cluster has no GPUs (default: one per CPU); "
                             "local: decoding threads (default 1; 2 on a GPU)")
    parser.add_argument("--ray", nargs="?", const="local", default=None, metavar="ADDRESS",
                        help="run on Ray: no ADDRESS starts a local instance; auto, HOST:PORT (on a cluster node) or "
                             "ray://HOST:PORT (Ray Client, needs ray[client]) joins a cluster")
    parser.add_argument("--quiet", action="store_true",
                        help="no progress bar or messages (not even the decoders'), only errors")
    return parser


def _absolute(path: str) -> str:
    return str(Path(path).expanduser().absolute())


def _optional(path: str | None) -> str | None:
    return None if path is None else _absolute(path)


def request_of(args: argparse.Namespace) -> BatchRequest:
    """The :class:`~core.batch.job.BatchRequest` the arguments describe (paths made absolute, so the
    ``.batch.json`` it leaves can be resumed from anywhere, e.g. the explorer's Batch page)."""
    target = read_target(target_of_args(args, ground_truth=True), ground_truth=True)
    method, views = explain_choices_of_args(args)
    options = BatchOptions(target_layer=args.target_layer_name, target=target, method=method,
                           views=views, overlay=args.overlay, alpha=args.alpha,
                           colormap=args.colormap, fps=args.fps, force=args.force, evaluate=args.evaluate,
                           steps=args.steps, baseline=parse_baseline(args.baseline), blur_sigma=args.blur_sigma,
                           whole_video=args.whole_video, window_stride=args.window_stride,
                           frame_interval=args.frame_interval, window_batch=args.window_batch)
    checkpoint = None if args.checkpoint.lower() == "none" else _absolute(args.checkpoint)
    return BatchRequest(config=_absolute(args.config), checkpoint=checkpoint,
                        inputs=[_absolute(i) for i in args.inputs], out=_absolute(args.out), options=options,
                        device=args.device, label_map=_optional(args.label_map),
                        cfg_options=parse_cfg_options(args.cfg_options), trust_checkpoint=args.trust_checkpoint,
                        use_frames=args.use_frames, video_root=_optional(args.video_root), workers=args.workers,
                        ray=args.ray)


class _Progress:
    """A tqdm bar on stderr that starts counting time at the first video actually explained."""

    def __init__(self, quiet: bool) -> None:
        self.total, self.quiet, self.skipped, self.failed = 0, quiet, 0, 0
        self.bar: Any = None  # a tqdm bar once the first video starts

    def set_total(self, tasks: list[BatchTask]) -> None:
        self.total = len(tasks)

    def __call__(self, event: Event, task: BatchTask, row: dict | None) -> None:
        if event is Event.SKIPPED:
            self.skipped += 1
            return
        if self.bar is None:
            from tqdm import tqdm

            self.bar = tqdm(total=self.total, initial=self.skipped, unit="video", file=sys.stderr,
                            disable=self.quiet, dynamic_ncols=True, desc="explaining")
        if event is Event.STARTED:
            self.bar.set_postfix_str(task.name[-40:], refresh=False)
            return
        if event is Event.FAILED:
            self.failed += 1
            if not self.quiet:
                self.bar.write(f"failed: {task.video}: {(row or {}).get('error', '')}", file=sys.stderr)
        self.bar.update(1)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def run(args: argparse.Namespace) -> BatchReport:
    """Run the batch the arguments describe; raises CamError on bad input."""
    progress = _Progress(args.quiet)
    try:
        return execute(request_of(args), progress, on_tasks=progress.set_total, quiet=args.quiet)
    finally:
        progress.close()


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)

    def action() -> int:
        report = run(args)
        if not args.quiet:
            print(f"{report.ok} explained, {report.failed} failed, {report.skipped} already done "
                  f"in {report.seconds:.1f} s; summary: {Path(args.out) / SUMMARY_NAME}", file=sys.stderr)
        return report.exit_code

    return run_command(action, interrupted="interrupted; rerun the same command to finish")
