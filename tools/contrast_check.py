"""``python -m tools.contrast_check``: do contrastive maps point at what makes the model say B rather than A?

On the demo model and fresh synthetic clips (seeds below training's), each clip's mistake or near-mistake is
the pair (A = the true class, B = the class the model scores highest among the others; B is the prediction on a
mistake). The map of ``Contrast(B, A)`` ranks the input's positions; removing its top 5 % (core.evaluate's
``static`` baseline: each pixel's mean over the clip, motion removed) should lower score(B) − score(A) (the
logit difference the map explains) more than removing a random 5 % (mean of ``--random`` rankings). The clips
with the smallest margin score(A) − score(B) are kept (``--keep``); every mistake is among them.

    python -m tools.contrast_check [--clips 60] [--keep 15] [--fraction 0.05] [--random 5]
"""

from __future__ import annotations

import argparse
import json
import sys

import numpy as np
import torch

import core
from core.demo import demo_paths
from core.evaluate.perturb import baseline_of, ranks_of, to_model, view_inputs
from core.model import class_scores
from core.synthetic import make_clip
from core.target import ClassIndex, Contrast


def _difference(handle: core.ModelHandle, batch: torch.Tensor, b: int, a: int) -> torch.Tensor:
    """score(B) − score(A) of each view of ``batch`` ``[N, C, T, H, W]``."""
    with torch.inference_mode():
        scores = class_scores(handle, {"inputs": to_model(handle, batch)}).float()
    return scores[:, b] - scores[:, a]


def _removed(x: torch.Tensor, base: torch.Tensor, ranks: torch.Tensor, count: int) -> torch.Tensor:
    """``x`` ``[C, T, H, W]`` with the ``count`` best-ranked positions (over T×H×W) replaced by ``base``."""
    mask = (ranks < count).reshape(1, *x.shape[1:])
    return torch.where(mask, base, x)


def check(clips: int = 60, keep: int = 15, fraction: float = 0.05, randoms: int = 5) -> dict:
    paths = demo_paths()
    handle = core.load_model(paths["config"], paths["checkpoint"], device="cpu")
    candidates = []
    for seed in range(clips):
        clip = make_clip(seed)
        plain = core.explain(handle, clip.frames)
        scores = plain.scores
        assert scores is not None
        a = clip.label
        others = [i for i in range(len(scores)) if i != a]
        b = max(others, key=lambda i: scores[i])
        candidates.append((float(scores[a] - scores[b]), seed, a, b, clip.frames))
    candidates.sort(key=lambda item: item[0])
    rows = []
    for margin, seed, a, b, frames in candidates[:keep]:
        row = {"seed": seed, "true": a, "other": b, "margin": round(margin, 4), "mistake": margin < 0}
        # why B rather than A (the question of a confusion cell), and the mirror: why A rather than B
        for name, (first, second) in {"b_over_a": (b, a), "a_over_b": (a, b)}.items():
            top_drop, random_drop = _drops(handle, frames, first, second, fraction, randoms, seed)
            row[f"{name}_top_drop"], row[f"{name}_random_drop"] = round(top_drop, 4), round(random_drop, 4)
        rows.append(row)
    out: dict = {"clips": clips, "kept": len(rows), "mistakes": sum(r["mistake"] for r in rows),
                 "fraction": fraction}
    for name in ("b_over_a", "a_over_b"):
        top = np.array([r[f"{name}_top_drop"] for r in rows])
        rand = np.array([r[f"{name}_random_drop"] for r in rows])
        out[name] = {"mean_top_drop": float(top.mean()), "mean_random_drop": float(rand.mean()),
                     "top_beats_random": int((top > rand).sum())}
    return {**out, "rows": rows}


def _drops(handle: core.ModelHandle, frames: np.ndarray, first: int, second: int, fraction: float, randoms: int,
           seed: int) -> tuple[float, float]:
    """How much removing the top ``fraction`` of Contrast(first, second)'s map, and a random ``fraction`` (mean
    of ``randoms`` rankings), lowers score(first) − score(second)."""
    result = core.explain(handle, frames, target=Contrast(ClassIndex(first), ClassIndex(second)))
    assert result.inputs is not None
    x = view_inputs(handle, result.inputs)[0]  # [C, T, H, W]
    base = baseline_of(x, "static")
    heatmap = torch.from_numpy(result.heatmaps[0])
    count = max(1, round(fraction * heatmap.numel()))
    generator = torch.Generator().manual_seed(seed)
    batch = [x, _removed(x, base, ranks_of(heatmap), count)]
    batch += [_removed(x, base, torch.randperm(heatmap.numel(), generator=generator), count)
              for _ in range(randoms)]
    diffs = _difference(handle, torch.stack(batch), first, second)
    return float(diffs[0] - diffs[1]), float((diffs[0] - diffs[2:]).mean())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.contrast_check", description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=60)
    parser.add_argument("--keep", type=int, default=15)
    parser.add_argument("--fraction", type=float, default=0.05)
    parser.add_argument("--random", type=int, default=5)
    args = parser.parse_args(argv)
    report = check(args.clips, args.keep, args.fraction, args.random)
    print(json.dumps(report, indent=1))
    for name, question in (("b_over_a", "Contrast(B, A), score(B) - score(A)"),
                           ("a_over_b", "Contrast(A, B), score(A) - score(B)")):
        part = report[name]
        print(f"{question}: removing the top {args.fraction:.0%} lowers it by {part['mean_top_drop']:.3f} on "
              f"average, a random {args.fraction:.0%} by {part['mean_random_drop']:.3f}; top beats random on "
              f"{part['top_beats_random']} of {report['kept']} clips ({report['mistakes']} mistakes)",
              file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
