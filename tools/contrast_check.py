"""``python -m tools.contrast_check``: do contrastive maps point at what makes the model say B rather than A?

On a demo model and fresh synthetic clips (seeds never trained on), each clip's mistake or near-mistake is the
pair (A = the true class, B = the class the model scores highest among the others; B is the prediction on a
mistake). The map of ``Contrast(B, A)`` ranks the input's positions; removing its top 5 % (core.evaluate's
``static`` baseline: each pixel's mean over the clip, motion removed) should lower score(B) − score(A) (the
logit difference the map explains) more than removing a random 5 % (mean of ``--random`` rankings). The clips
with the smallest margin score(A) − score(B) are kept (``--keep``; ``--mistakes``: only the clips the model gets
wrong). The mirror, ``Contrast(A, B)`` lowering score(A) − score(B), is measured beside it.

``--model labels_only`` checks the demo's labels-only model, ``--frames 4`` glimpses (4-frame clips, too short
to see the motion well: the demo's real mistakes), ``--per-frame`` removes the top 5 % of every frame instead
of the clip's. Each row also says how much of the contrast map the Grad-CAM ReLU left positive (``*_positive``:
the share of the input's positions above zero after resizing) and whether the map is constant (no positive
evidence at all: its ranking is then the positions' order).

    python -m tools.contrast_check [--clips 60] [--keep 15] [--fraction 0.05] [--random 5] [--model NAME]
        [--frames N] [--mistakes] [--per-frame] [--first-seed S]
"""

from __future__ import annotations

import argparse
import json
import sys

import numpy as np
import torch

import core
from core.demo import demo_paths
from core.demo_data import MODELS
from core.evaluate.perturb import baseline_of, ranks_of, to_model, view_inputs
from core.model import class_scores
from core.result import constant_maps
from core.synthetic import make_clip
from core.target import ClassIndex, Contrast

CHECKPOINTS = {model.name: model.checkpoint for model in MODELS}


def _difference(handle: core.ModelHandle, batch: torch.Tensor, b: int, a: int) -> torch.Tensor:
    """score(B) − score(A) of each view of ``batch`` ``[N, C, T, H, W]``."""
    with torch.inference_mode():
        scores = class_scores(handle, {"inputs": to_model(handle, batch)}).float()
    return scores[:, b] - scores[:, a]


def _removed(x: torch.Tensor, base: torch.Tensor, ranks: torch.Tensor, count: int) -> torch.Tensor:
    """``x`` ``[C, T, H, W]`` with the positions ranked below ``count`` (ranks over T×H×W) replaced by ``base``."""
    mask = (ranks < count).reshape(1, *x.shape[1:])
    return torch.where(mask, base, x)


def _frame_ranks(heatmap: torch.Tensor) -> torch.Tensor:
    """Ranks of ``heatmap`` ``[T, H, W]`` within each frame (0 the frame's highest), flattened over T×H×W."""
    return torch.stack([ranks_of(frame) for frame in heatmap]).flatten()


def check(clips: int = 60, keep: int = 15, fraction: float = 0.05, randoms: int = 5, *,
          model: str = "localization", frames: int | None = None, mistakes: bool = False, per_frame: bool = False,
          first_seed: int = 0) -> dict:
    paths = demo_paths()
    handle = core.load_model(paths["config"], CHECKPOINTS[model], device="cpu")
    candidates = []
    for seed in range(first_seed, first_seed + clips):
        clip = make_clip(seed, frames=frames)
        plain = core.explain(handle, clip.frames)
        scores = plain.scores
        assert scores is not None
        a = clip.label
        others = [i for i in range(len(scores)) if i != a]
        b = max(others, key=lambda i: scores[i])
        candidates.append((float(scores[a] - scores[b]), seed, a, b, clip.frames))
    candidates.sort(key=lambda item: item[0])
    wrong = sum(margin < 0 for margin, *_ in candidates)
    chosen = candidates[:wrong] if mistakes else candidates[:keep]
    rows = []
    for margin, seed, a, b, video in chosen:
        row = {"seed": seed, "true": a, "other": b, "margin": round(margin, 4), "mistake": margin < 0}
        # why B rather than A (the question of a confusion cell), and the mirror: why A rather than B
        for name, (first, second) in {"b_over_a": (b, a), "a_over_b": (a, b)}.items():
            row.update({f"{name}_{key}": value for key, value in
                        _drops(handle, video, first, second, fraction, randoms, seed, per_frame).items()})
        rows.append(row)
    out: dict = {"model": model, "frames": frames, "clips": clips, "first_seed": first_seed,
                 "accuracy": round(1 - wrong / clips, 4), "kept": len(rows),
                 "mistakes": sum(r["mistake"] for r in rows), "fraction": fraction, "per_frame": per_frame}
    for name in ("b_over_a", "a_over_b"):
        top = np.array([r[f"{name}_top_drop"] for r in rows])
        rand = np.array([r[f"{name}_random_drop"] for r in rows])
        out[name] = {"mean_top_drop": float(top.mean()) if rows else float("nan"),
                     "mean_random_drop": float(rand.mean()) if rows else float("nan"),
                     "top_beats_random": int((top > rand).sum()),
                     "constant_maps": int(sum(r[f"{name}_constant"] for r in rows)),
                     "mean_positive": float(np.mean([r[f"{name}_positive"] for r in rows])) if rows else float("nan")}
    return {**out, "rows": rows}


def _drops(handle: core.ModelHandle, frames: np.ndarray, first: int, second: int, fraction: float, randoms: int,
           seed: int, per_frame: bool) -> dict:
    """How much removing the top ``fraction`` of Contrast(first, second)'s map, and a random ``fraction`` (mean
    of ``randoms`` rankings), lowers score(first) − score(second); with the map's positive share and constancy."""
    result = core.explain(handle, frames, target=Contrast(ClassIndex(first), ClassIndex(second)))
    assert result.inputs is not None
    x = view_inputs(handle, result.inputs)[0]  # [C, T, H, W]
    base = baseline_of(x, "static")
    heatmap = torch.from_numpy(result.heatmaps[0])
    per = heatmap[0].numel() if per_frame else heatmap.numel()
    count = max(1, round(fraction * per))
    generator = torch.Generator().manual_seed(seed)
    ranks = _frame_ranks(heatmap) if per_frame else ranks_of(heatmap)
    batch = [x, _removed(x, base, ranks, count)]
    for _ in range(randoms):  # a random permutation is a random ranking (of each frame's positions, per frame)
        random_ranks = (torch.stack([torch.randperm(per, generator=generator) for _ in heatmap]).flatten()
                        if per_frame else torch.randperm(per, generator=generator))
        batch.append(_removed(x, base, random_ranks, count))
    diffs = _difference(handle, torch.stack(batch), first, second)
    return {"top_drop": round(float(diffs[0] - diffs[1]), 4),
            "random_drop": round(float((diffs[0] - diffs[2:]).mean()), 4),
            "positive": round(float((heatmap > 0).float().mean()), 4),
            "constant": bool(constant_maps(result.heatmaps[0]).all())}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.contrast_check", description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=60)
    parser.add_argument("--keep", type=int, default=15)
    parser.add_argument("--fraction", type=float, default=0.05)
    parser.add_argument("--random", type=int, default=5)
    parser.add_argument("--model", choices=list(CHECKPOINTS), default="localization")
    parser.add_argument("--frames", type=int, default=None, help="frames per clip (default: random, 16 to 64)")
    parser.add_argument("--mistakes", action="store_true", help="keep only the clips the model gets wrong")
    parser.add_argument("--per-frame", action="store_true", help="remove the top fraction of every frame")
    parser.add_argument("--first-seed", type=int, default=0)
    args = parser.parse_args(argv)
    report = check(args.clips, args.keep, args.fraction, args.random, model=args.model, frames=args.frames,
                   mistakes=args.mistakes, per_frame=args.per_frame, first_seed=args.first_seed)
    print(json.dumps(report, indent=1))
    for name, question in (("b_over_a", "Contrast(B, A), score(B) - score(A)"),
                           ("a_over_b", "Contrast(A, B), score(A) - score(B)")):
        part = report[name]
        print(f"{question}: removing the top {args.fraction:.0%} lowers it by {part['mean_top_drop']:.3f} on "
              f"average, a random {args.fraction:.0%} by {part['mean_random_drop']:.3f}; top beats random on "
              f"{part['top_beats_random']} of {report['kept']} clips ({report['mistakes']} mistakes; "
              f"{part['constant_maps']} constant maps, {part['mean_positive']:.1%} of positions positive)",
              file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
