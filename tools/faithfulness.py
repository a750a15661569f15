"""``python -m tools.faithfulness``: the figures of docs/evaluate.md ("What the demo shows").

Deletion and insertion AUCs (against the random ranking), Average Drop and the frame-importance agreement of CAM
methods on the demo model, for each baseline, averaged over fresh synthetic clips (seeds below 1_000_000, which
training never saw, drawn as ``python -m tools.demo evaluate`` draws them, written as mp4), then the sanity checks
on the demo video::

    python -m tools.faithfulness [--clips 6] [--steps 20] [--methods gradcam eigencam] [--config C --checkpoint P]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np

import core
from core.demo import CHECKPOINT, CONFIG, demo_video, write_clip
from core.errors import run_command
from core.evaluate import BASELINES
from core.synthetic import make_clip
from core.video import build_inputs


def measure(handle, *, clips: int = 6, first_seed: int = 0, steps: int = 20, methods: Sequence[str] = ("gradcam",),
            log=print) -> list[dict]:
    """One row per (baseline, method): mean AUCs over ``clips`` fresh clips and how often the map beat chance."""
    rows = []
    with tempfile.TemporaryDirectory(prefix="mmcam-faith-") as tmp:
        videos = [write_clip(make_clip(seed), Path(tmp) / f"clip_{seed}.mp4")
                  for seed in range(first_seed, first_seed + clips)]
        for method in methods:
            results = [core.explain(handle, video, method=method) for video in videos]
            for baseline in BASELINES:
                scores = [core.faithfulness(handle, result, steps=steps, baseline=baseline) for result in results]
                agreement = [core.frame_importance(handle, result, baseline=baseline).agreement()
                             for result in results]
                row = dict(baseline=baseline, method=method, clips=clips, **{
                    name: float(np.mean([getattr(s, name) for s in scores]))
                    for name in ("deletion_auc", "random_deletion_auc", "insertion_auc", "random_insertion_auc",
                                 "average_drop", "score")},
                    deletion_beats_random=float(np.mean([s.deletion_auc < s.random_deletion_auc for s in scores])),
                    insertion_beats_random=float(np.mean([s.insertion_auc > s.random_insertion_auc for s in scores])),
                    frame_agreement=float(np.nanmean(agreement)))
                rows.append(row)
                log(row)
    return rows


def table(rows: list[dict]) -> str:
    """The rows as a Markdown table."""
    lines = ["| baseline | method | deletion AUC (random) | insertion AUC (random) | deletion beats random | "
             "insertion beats random | average drop | frame agreement ρ |", "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['baseline']} | {r['method']} | {r['deletion_auc']:.3f} ({r['random_deletion_auc']:.3f}) | "
                     f"{r['insertion_auc']:.3f} ({r['random_insertion_auc']:.3f}) | "
                     f"{r['deletion_beats_random']:.0%} | {r['insertion_beats_random']:.0%} | "
                     f"{r['average_drop']:.3f} | {r['frame_agreement']:.2f} |")
    return "\n".join(lines)


def sanity_lines(handle, methods: Sequence[str]) -> list[str]:
    """Sanity checks on the demo video: rho per randomisation step and the verdict, per method."""
    clip = build_inputs(handle.cfg, demo_video())  # decoded once for every method
    lines = []
    for method in methods:
        check = core.sanity_check(handle, clip, method=method)
        steps = ", ".join(f"{name} {rho:+.2f}" for name, rho in zip(check.steps, check.rho, strict=True))
        lines.append(f"- {method}: {steps}; random logit (class {check.random_class}) {check.random_logit_rho:+.2f}. "
                     f"{check.verdict().text}")
    return lines


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.faithfulness", description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=6)
    parser.add_argument("--first-seed", type=int, default=0)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--methods", nargs="+", default=["gradcam", "eigencam"])
    parser.add_argument("--config", default=str(CONFIG))
    parser.add_argument("--checkpoint", default=str(CHECKPOINT))
    args = parser.parse_args(argv)

    def action() -> int:
        handle = core.load_model(args.config, args.checkpoint, "auto")  # once, for both parts
        rows = measure(handle, clips=args.clips, first_seed=args.first_seed, steps=args.steps, methods=args.methods,
                       log=lambda row: print(row, file=sys.stderr, flush=True))
        print(table(rows))
        print("\n".join(sanity_lines(handle, args.methods)), flush=True)
        return 0

    return run_command(action)


if __name__ == "__main__":
    sys.exit(main())
