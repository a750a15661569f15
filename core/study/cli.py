"""``python -m core.study --run NAME=BATCH_DIR [--run …] --gaze GAZE_DIR [--density DENSITY_DIR]
[--region crop|frame] [--baselines center,others] [--out DIR] [--json]``, or ``python -m core.study --demo`` for
the demo study (:meth:`core.study.StudySpec.demo`)."""

from __future__ import annotations

import argparse
import json
import math
import sys
from dataclasses import replace
from pathlib import Path

from core.errors import CamError, CommandParser, run_command
from core.gaze.inputs import fixations_output
from core.gaze.scores import PROTOCOL_TEXT, REGIONS
from core.saliency import BETTER, Protocol
from core.study.inputs import ALL_BASELINES, BASELINES, parse_run
from core.study.report import check_out, write_outputs
from core.study.result import StudyResult, compute
from core.study.scoring import StudySpec


def build_parser() -> argparse.ArgumentParser:
    parser = CommandParser(prog="python -m core.study",
                     description="Compare runs (batch output folders) with human gaze: every saliency metric, "
                                 "baselines, bootstrap CIs, Holm-corrected Wilcoxon tests, report and figures.")
    parser.add_argument("--run", action="append", metavar="NAME=BATCH_DIR",
                        help="a run to compare: its name and the --out folder of python -m core.batch (repeat)")
    parser.add_argument("--gaze", help="folder with one fixation entry per video, named like it (or the --out "
                                       "folder of python -m core.gaze.fixations)")
    parser.add_argument("--demo", action="store_true",
                        help="the demo study instead of --run and --gaze: the two demo models against the demo's "
                             "synthetic observers (made in $MMCAM_CACHE at first use)")
    parser.add_argument("--density", default=None, help="folder with one density entry per video (optional)")
    parser.add_argument("--region", default="crop", choices=REGIONS,
                        help="score in the window each model saw (crop, default) or over the whole frame")
    parser.add_argument("--baselines", default=",".join(BASELINES),
                        help="comma-separated baselines to score like runs: " + ", ".join(ALL_BASELINES)
                             + " (default " + ",".join(BASELINES) + "; 'none' for none; human needs --subjects)")
    parser.add_argument("--protocol", default=Protocol.EXACT, type=Protocol, choices=list(Protocol),
                        help="exact (default): deterministic definitions; mit: the MIT saliency benchmark's MATLAB "
                             "code as DHF1K's evaluation runs it, seeded, with IG over the fitted centre bias "
                             "(docs/study.md)")
    parser.add_argument("--subjects", default=None,
                        help="folder of <video>.npz per-observer fixations (the subjects/ folder python -m "
                             "core.gaze.fixations writes from samples with a subject column): the human baseline")
    parser.add_argument("--emd", action="store_true", help="also score EMD (exact optimal transport on maps shrunk "
                                                           "32×, as the MIT benchmark does; slow)")
    parser.add_argument("--start-index", type=int, default=None,
                        help="frame number of the first video frame in per-frame gaze folders (default: 0 when "
                             "a frame numbered 0 exists, else 1)")
    parser.add_argument("--out", default=None, help="folder for scores.csv, summary.csv, tests.csv, report.md, "
                                                    "figures")
    parser.add_argument("--keep-constant", action="store_true",
                        help="also score heatmaps that are constant in every frame (all zero or flat: Grad-CAM found "
                             "no positive evidence); by default they are left out, listed per run and counted")
    parser.add_argument("--json", action="store_true", help="print the summary and the tests as JSON")
    parser.add_argument("--latex", action="store_true", help="also write table.tex into --out: booktabs run × metric "
                                                             "table (mean ± std, best bold, significance marks)")
    parser.add_argument("--figures", nargs="*", default=None, metavar="VIDEO[:FRAME]",
                        help="also write panels.pdf and panels.png (300 dpi) into --out: per video (default: the "
                             "first three) the source frame with its gaze, then each run's heatmap, one colour scale")
    return parser


def spec_from(args: argparse.Namespace) -> StudySpec:
    """The study the arguments describe; ``--gaze`` may be the ``--out`` folder of ``core.gaze.fixations``."""
    baselines = tuple(b.strip() for b in args.baselines.split(",") if b.strip() and b.strip() != "none")
    if args.demo:
        if args.run or args.gaze or args.density:
            raise CamError("--demo is a study of its own; give it without --run, --gaze and --density.")
        return replace(StudySpec.demo(args.region), baselines=baselines, start_index=args.start_index,
                       protocol=args.protocol, emd=args.emd, keep_constant=args.keep_constant)
    if not args.run or not args.gaze:
        raise CamError("Give at least one --run NAME=BATCH_DIR and --gaze GAZE_DIR (or --demo for the demo study).")
    gaze, density, _ = fixations_output(args.gaze, args.density)
    return StudySpec(tuple(parse_run(r) for r in args.run), Path(gaze),
                     None if density is None else Path(density), args.region, baselines,
                     args.start_index, args.protocol, None if args.subjects is None else Path(args.subjects),
                     args.emd, keep_constant=args.keep_constant)


def table(result: StudyResult) -> str:
    """Mean ± std per run and metric, the best in brackets, marks against it."""
    metrics = result.metrics
    lines = ["\t".join(["run", "n", *(f"{m} ({BETTER[m]} better)" for m in metrics)])]
    for run in result.runs:
        cells = [run, str(result.stat(run, metrics[0])["n"]) if metrics else "0"]
        for metric in metrics:
            stat = result.stat(run, metric)
            text = "–" if not math.isfinite(stat["mean"]) else f"{stat['mean']:.4f}±{stat['std']:.4f}"
            text = f"[{text}]" if result.best(metric) == run else text
            cells.append(text + result.mark(run, metric))
        lines.append("\t".join(cells))
    lines.append("[best]; * ** ***: differs from the best at Holm-corrected p < .05 .01 .001 (Wilcoxon)")
    lines.append(f"protocol {result.protocol}: {PROTOCOL_TEXT[result.protocol]}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    def action() -> int:
        args = build_parser().parse_args(argv)
        spec = spec_from(args)
        if args.out is not None:
            check_out(args.out)
        elif args.latex or args.figures is not None:
            raise CamError("--latex and --figures write into the --out folder; give --out.")
        from tqdm import tqdm

        bars: list = []  # made at the first step, so bad input prints its one error line alone

        def progress(done: int, total: int, message: str) -> None:
            if not bars:
                bars.append(tqdm(total=total, unit="step", file=sys.stderr, leave=False))
            bars[0].set_description(message[:40])
            bars[0].update(done - bars[0].n)

        try:
            result = compute(spec, progress)
        finally:
            for bar in bars:
                bar.close()
        for note in result.scores.notes:
            print(f"note: {note}", file=sys.stderr)
        if args.out is not None:
            written = write_outputs(result, args.out, latex=args.latex, panels=args.figures)
            print(f"wrote {len(written)} files to {args.out}", file=sys.stderr)
        print(json.dumps(result.to_json(), indent=2, allow_nan=False, default=str) if args.json
              else table(result))
        return 0

    return run_command(action)
