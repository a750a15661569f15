"""``python -m core.dumps``: print a test dump's report (or its JSON)."""

from __future__ import annotations

import argparse
import json

from core.dumps.report import DumpReport, open_dump, report_dict
from core.errors import run_command


def format_report(report: DumpReport, pairs: int = 10, wrong: int = 20) -> str:
    """The readable report the CLI prints."""
    kind = "probabilities" if report.holds_probabilities else "raw scores (softmax taken for `score`)"
    lines = [f"{len(report.gt)} samples, {len(report.classes)} classes, "
             f"{'0.x' if report.legacy else '1.x'} dump holding {kind}",
             f"acc/top1  {report.top1:.4f}",
             f"acc/top5  {report.top5:.4f}",
             f"acc/mean1 {report.mean_class_accuracy:.4f}  (MMAction2: over classes in ground truth or "
             "predictions, only-predicted classes count 0)",
             f"mean class accuracy over ground-truth classes {report.mean_class_accuracy_gt:.4f}",
             "", "per class (classes present in ground truth or predictions):"]
    predicted = set(report.pred.tolist())
    for c in report.per_class():
        if c.count or c.index in predicted:
            acc = f"{c.accuracy:.4f}" if c.accuracy is not None else "  -   "
            lines.append(f"  {c.index:>4} {acc}  {c.correct:>5}/{c.count:<5} {c.name}")
    confused = report.confused_pairs(pairs)
    if confused:
        lines += ["", "most confused (ground truth -> prediction):"]
        lines += [f"  {p.count:>5}  {p.gt_name} -> {p.pred_name}" for p in confused]
    misses = [s for s in report.samples() if not s.correct]
    if misses:
        lines += ["", f"misclassified samples ({len(misses)}, first {min(wrong, len(misses))}):"]
        lines += [f"  #{s.index:<5} {report.classes[s.gt_label]} -> {report.classes[s.pred_label]} "
                  f"({s.score:.3f}){'  ' + s.video if s.video else ''}" for s in misses[:wrong]]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m core.dumps", description=(
        "Score a results pickle from MMAction2's tools/test.py --dump (or 0.x --out), read safely."))
    parser.add_argument("results", help="results pickle (RESULTS.pkl)")
    parser.add_argument("--ann-file", help="test annotation file: sample i is its line i")
    parser.add_argument("--video-root", help="folder the annotation paths are relative to")
    parser.add_argument("--label-map", help="class names, one per line (wins over the config's)")
    parser.add_argument("--config", help="config whose test_dataloader gives ann_file and data_prefix")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead")
    args = parser.parse_args(argv)

    def action() -> int:
        report = open_dump(args.results, config=args.config, ann_file=args.ann_file, video_root=args.video_root,
                           label_map=args.label_map)
        print(json.dumps(report_dict(report)) if args.json else format_report(report))
        return 0

    return run_command(action)

