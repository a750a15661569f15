"""``python -m core.gaze HEATMAPS FIXATIONS [--density D] [--region crop|frame] [--json] [--out CSV]``."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from core.errors import CamError, run_command
from core.gaze.scores import REGIONS, GazeScores, csv_rows, score_path, write_csv
from core.saliency import METRICS


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m core.gaze",
                                     description="Score Grad-CAM heatmaps against human gaze (MIT saliency metrics).")
    parser.add_argument("heatmaps", help="heatmap txt (with its .json sidecar) or a batch output folder")
    parser.add_argument("fixations", help="fixation image, folder of per-frame images or video; for a batch "
                                          "folder, a folder with one such entry per video (named by the video)")
    parser.add_argument("--density", default=None, help="fixation density: image, folder or video (batch: folder)")
    parser.add_argument("--region", default="crop", choices=REGIONS,
                        help="score where the model looked (crop, default) or over the whole frame")
    parser.add_argument("--start-index", type=int, default=None,
                        help="frame number of the first video frame in per-frame gaze folders (default 1, or 0 "
                             "when a frame numbered 0 exists)")
    parser.add_argument("--metrics", nargs="+", default=None, choices=METRICS, help="metrics to compute (default all)")
    parser.add_argument("--json", action="store_true", help='print {"clip": {...}, "frames": [...]} as JSON')
    parser.add_argument("--out", default=None, help="CSV to write: one row per clip, and per frame")
    return parser


def _table(results: list[GazeScores]) -> str:
    metrics = list(results[0].clip)
    lines = ["\t".join(["video", *metrics])]
    lines += ["\t".join([r.name, *(f"{r.clip[m]:.4f}" for m in metrics)]) for r in results]
    return "\n".join(lines)


def run(args: argparse.Namespace, note=print) -> str:
    """Score and write the outputs; returns what to print on stdout. Raises CamError on bad input."""
    if args.out is not None:
        out = Path(args.out)
        if out.suffix.lower() != ".csv" or not out.parent.is_dir():
            raise CamError(f"--out {out} must be a .csv file in an existing folder.")
    heatmaps = Path(args.heatmaps)
    results, notes = score_path(heatmaps, args.fixations, args.density, region=args.region,
                                start_index=args.start_index, metrics=args.metrics)
    for line in notes:
        note(line)
    if args.out is not None:
        write_csv(args.out, csv_rows(results))
    if args.json:
        if heatmaps.is_file():
            return json.dumps(results[0].to_json(), indent=2)
        return json.dumps({"videos": [{"video": r.name, "txt": r.txt, **r.to_json()} for r in results]}, indent=2)
    return _table(results)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)

    def action() -> int:
        print(run(args, note=lambda line: print(f"note: {line}", file=sys.stderr)))
        return 0

    return run_command(action)
