"""``python -m core.gaze HEATMAPS FIXATIONS [--density D | --blur [SIGMA]] [--region crop|frame] [--json]
[--out CSV]``."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path

from core.errors import CamError, run_command
from core.gaze.scores import (
    FIXATIONS_ONLY,
    REGIONS,
    GazeScores,
    class_summary,
    csv_rows,
    directions,
    header_notes,
    metric_title,
    protocol_line,
    score_path,
    summary_cells,
    write_csv,
)
from core.saliency import BETTER, METRICS, REGISTRY, Protocol

CHOICES = tuple(name for name, metric in REGISTRY.items() if not metric.needs_negatives)
"""Metrics one file can be scored on (sAUC needs other videos' fixations: python -m core.study)."""


def _blur(text: str) -> float | str:
    if text == "auto":
        return text
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a σ in pixels or auto, not {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be above 0, not {text}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m core.gaze", formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Score Grad-CAM heatmaps against human gaze (MIT saliency metrics).",
        epilog=f"metrics: {directions(METRICS)}.\n"
               "CC, SIM and KL compare the heatmap with a fixation density; without --density or --blur they are\n"
               "computed against the fixation points themselves and come out near 0 (CC, SIM) or large (KL)\n"
               "whatever the heatmap.\n"
               "--out CSV: lines starting with # above the header say which way each metric improves\n"
               "(pandas.read_csv(path, comment='#'); R: read.csv(path, comment.char='#')).")
    parser.add_argument("heatmaps", help="heatmap txt (with its .json sidecar) or a batch output folder")
    parser.add_argument("fixations", help="fixation image, folder of per-frame images or video; for a batch "
                                          "folder, a folder with one such entry per video (named by the video)")
    parser.add_argument("--density", default=None, help="fixation density: image, folder or video (batch: folder); "
                                                        "CC, SIM and KL are computed against it")
    parser.add_argument("--blur", nargs="?", const="auto", default=None, type=_blur, metavar="SIGMA",
                        help="without --density: make the density by blurring the fixations with a Gaussian of "
                             "SIGMA gaze-map pixels (default when given alone: width / 30, as python -m "
                             "core.gaze.fixations does)")
    parser.add_argument("--region", default="crop", choices=REGIONS,
                        help="score where the model looked (crop, default) or over the whole frame")
    parser.add_argument("--start-index", type=int, default=None,
                        help="frame number of the first video frame in per-frame gaze folders (default 1, or 0 "
                             "when a frame numbered 0 exists)")
    parser.add_argument("--metrics", nargs="+", default=None, choices=CHOICES, metavar="METRIC",
                        help="metrics to compute (default: " + ", ".join(METRICS) + ", and IG under --protocol "
                             "mit): " + ", ".join(f"{m} ({BETTER[m]} is better)" for m in CHOICES))
    parser.add_argument("--protocol", default=Protocol.EXACT, type=Protocol, choices=list(Protocol),
                        help="exact (default): deterministic definitions; mit: the MIT saliency benchmark's MATLAB "
                             "code as DHF1K's evaluation runs it (seeded random draws; IG over a centre bias). "
                             "See docs/gaze.md")
    parser.add_argument("--json", action="store_true", help='print {"clip": {...}, "frames": [...]} as JSON')
    parser.add_argument("--out", default=None, help="CSV to write: one row per clip, and per frame")
    return parser


def _rows(header: list[str], rows: list[list[str]]) -> list[str]:
    """Columns padded to their widest cell, two spaces apart (a table to read; --json and --out are the ones
    to parse)."""
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    return ["  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
            for row in [header, *rows]]


def table(results: list[GazeScores]) -> str:
    """Each video's clip scores, per class mean ± std (a batch), and what the metrics mean."""
    metrics = list(results[0].clip)
    lines = _rows(["video", "frames scored", *map(metric_title, metrics)],
                  [[r.name, str(r.frames_scored), *(f"{r.clip[m]:.4f}" for m in metrics)] for r in results])
    if len(results) > 1:
        summary = [summary_cells(row, digits=4) for row in class_summary(results)]
        lines += ["", "Per class (mean ± std over its videos; classes in label order):"]
        lines += _rows(list(summary[0]), [list(cells.values()) for cells in summary])
    lines += ["", f"{directions(metrics)}.", f"Scored under {protocol_line(results)}."]
    if any(r.against_fixations for r in results):
        lines.append(FIXATIONS_ONLY)
    return "\n".join(lines)


def run(args: argparse.Namespace, note: Callable[[str], object] = print) -> str:
    """Score and write the outputs; returns what to print on stdout. Raises CamError on bad input."""
    if args.out is not None:
        out = Path(args.out)
        if out.suffix.lower() != ".csv" or not out.parent.is_dir():
            raise CamError(f"--out {out} must be a .csv file in an existing folder.")
    if args.blur is not None and args.density is not None:
        raise CamError("Give --density or --blur, not both: --blur makes the density from the fixations.")
    heatmaps = Path(args.heatmaps)
    results, notes = score_path(heatmaps, args.fixations, args.density, region=args.region,
                                start_index=args.start_index, metrics=args.metrics, blur=args.blur,
                                protocol=args.protocol)
    for line in notes:
        note(line)
    if args.out is not None:
        write_csv(args.out, csv_rows(results), header_notes(results))
    if args.json:
        if heatmaps.is_file():
            return json.dumps(results[0].to_json(), indent=2)
        return json.dumps({"videos": [{"video": r.name, "txt": r.txt, **r.to_json()} for r in results]}, indent=2)
    return table(results)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)

    def action() -> int:
        print(run(args, note=lambda line: print(f"note: {line}", file=sys.stderr)))
        return 0

    return run_command(action)
