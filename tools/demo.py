"""The demo model's training and evaluation: ``python -m tools.demo train|evaluate``.

    python -m tools.demo train [--out DIR] [--seed N] [--steps N] [--localization W]
    python -m tools.demo evaluate [--method M ...] [--clips N] [--first-seed S]

Training clips use seeds ``1_000_000 * (seed + 1) + k``; evaluation uses seeds below 1_000_000,
so it always scores clips the training never saw. The assets it writes live in ``core/demo_assets``
(see :mod:`core.demo`).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from core.cam import explain_inputs, resolve_layer
from core.demo import ASSETS, CHECKPOINT, CONFIG, write_clip
from core.errors import CamError, run_command
from core.model import load_model
from core.outputs import atomic_path
from core.reshape import to_feature_map
from core.synthetic import DEMO_CLASSES, SyntheticClip, make_clip
from core.video import build_inputs

TRAIN_SEED_STRIDE = 1_000_000


# --- training ---------------------------------------------------------------------------------------


def clip_inputs(cfg, clip: SyntheticClip):
    """The clip's frames through the config's test pipeline in memory (as :func:`core.explain` runs it
    on arrays: decoding swapped for ``ArrayDecode``), with the ground-truth label attached."""
    inputs = build_inputs(cfg, clip.frames)
    inputs.data["data_samples"][0].set_gt_label(clip.label)
    return inputs


def object_target(inputs, clip: SyntheticClip, shape: tuple[int, int, int]) -> np.ndarray:
    """Where the object is on a feature map of ``shape`` (T, H, W): per frame, a Gaussian over the
    cells centred on the object at the source frame behind it, spread like the object, summing to 1."""
    time, height, width = shape
    x0, y0, x1, y1 = inputs.crop_box
    scale = np.array([width / (x1 - x0), height / (y1 - y0)])
    indices = inputs.frame_indices[0]
    indices = indices[np.linspace(0, len(indices) - 1, time).round().astype(int)]  # temporal stride, if any
    centres = (clip.centers[indices] - (x0, y0) + 0.5) * scale - 0.5  # [T, 2] in cell units
    sigma = 0.5 + 0.5 * clip.radius * scale  # (x, y)
    cols, rows = np.arange(width), np.arange(height)
    gauss_x = np.exp(-0.5 * ((cols[None] - centres[:, :1]) / sigma[0]) ** 2)
    gauss_y = np.exp(-0.5 * ((rows[None] - centres[:, 1:]) / sigma[1]) ** 2)
    target = gauss_y[:, :, None] * gauss_x[:, None, :]
    return (target / target.sum(axis=(1, 2), keepdims=True)).astype(np.float32)


def class_activation(model, features, labels):
    """The class activation map of ``labels`` on the backbone's output: the head's linear weights
    applied per cell. Behind a spatio-temporal average pool and one linear layer (I3DHead), this is
    what Grad-CAM computes at that layer before its ReLU, up to a positive factor."""
    weight = model.cls_head.fc_cls.weight[labels]  # [N, C]
    return (features * weight[:, :, None, None, None]).sum(dim=1)  # [N, T, H, W]


def _clutter(step: int, steps: int) -> float:
    """Curriculum: plain backgrounds for the first quarter, clutter ramping up to 1 by 60 %."""
    return float(np.clip((step / steps - 0.25) / 0.35, 0.0, 1.0))


def _learning_rate(step: int, steps: int, lr: float) -> float:
    """Constant, then a cosine decay over the last 40 % of the steps."""
    progress = max(0.0, (step / steps - 0.6) / 0.4)
    return lr * (0.05 + 0.95 * 0.5 * (1 + np.cos(np.pi * progress)))


VAL_SEEDS = range(900_000, 900_016)  # held-out clips scored during training (below TRAIN_SEED_STRIDE)
LOG_EVERY, VAL_EVERY = 25, 200


def _val_accuracy(model, val_set: Sequence[tuple]) -> float:
    """Top-1 accuracy of ``model`` (in eval mode for the forward, back in train mode after) on
    ``(inputs, clip)`` pairs of clips training never sees."""
    import torch

    model.eval()
    with torch.no_grad():
        correct = [int(model.test_step(inputs.data)[0].pred_label) == clip.label for inputs, clip in val_set]
    model.train()
    return float(np.mean(correct))


def _losses(model, cfg, clips: list[SyntheticClip], localization: float) -> tuple:
    """One training batch of ``clips``: the head's cross-entropy, plus ``localization`` times the "where" term
    (see :func:`train`), parsed by the model into the loss and its logged parts."""
    import torch

    batch = [clip_inputs(cfg, clip) for clip in clips]
    data = model.data_preprocessor({key: [item for b in batch for item in b.data[key]]
                                    for key in batch[0].data}, training=True)
    features, kwargs = model.extract_feat(data["inputs"], stage="backbone")
    losses = model.cls_head.loss(features, data["data_samples"], **kwargs)
    if localization:
        cam = class_activation(model, features, torch.tensor([clip.label for clip in clips]))
        target = np.stack([object_target(inputs, clip, tuple(cam.shape[1:]))
                           for inputs, clip in zip(batch, clips, strict=True)])
        where = -(torch.from_numpy(target).flatten(2) * cam.flatten(2).log_softmax(-1)).sum(-1).mean()
        losses["loss_where"] = localization * where
    return model.parse_losses(losses)


def _train_row(step: int, lr: float, clutter: float, history: list[float], where_history: list[float],
               accuracy: list[float], localization: float) -> dict:
    """The scalars row of the last :data:`LOG_EVERY` steps, as MMEngine logs a training iteration."""
    row = {"lr": lr, "loss": float(np.mean(history[-LOG_EVERY:])),
           "loss_cls": float(np.mean(history[-LOG_EVERY:]) - np.mean(where_history[-LOG_EVERY:])),
           "top1_acc": float(np.mean(accuracy[-LOG_EVERY:])), "clutter": clutter,
           "iter": step + 1, "step": step + 1}
    if localization:
        row["loss_where"] = float(np.mean(where_history[-LOG_EVERY:]))
    return row


def train(out: str | Path = ASSETS, *, seed: int = 0, steps: int = 800, batch_size: int = 8,
          lr: float = 1e-3, localization: float = 0.25, threads: int = 2, config: str | Path = CONFIG,
          name: str = CHECKPOINT.stem, log=None) -> dict:
    """Train the demo recognizer from scratch on fresh synthetic clips; write config + checkpoint to ``out``.

    The loss is the head's cross-entropy plus ``localization`` times a "where" term: per frame, the
    cross-entropy between the softmax over cells of the true class's activation map (what Grad-CAM
    shows at the last stage, see :func:`class_activation`) and the object's position
    (:func:`object_target`). Trained on labels alone, this small model classifies as well but its
    maps peak beside the object, on its trail or at the frame's border (pointing game ~0.5). The
    motion cue is learned on plain backgrounds first, then clutter ramps up to the task's level (see
    :func:`_clutter`). Deterministic for a given ``seed`` (and torch build). Writes ``<name>.pth`` and
    ``<name>.scalars.json``: the curves as MMEngine's ``LocalVisBackend`` logs an iteration-based run (a
    train row every 25 steps, the accuracy on 16 held-out clips every 200; :func:`core.runs.read_training_log`
    reads it), which the demo's training run shows. Returns the paths, wall and CPU seconds, and the last
    loss and training accuracy.
    """
    import torch

    torch.set_num_threads(threads)
    torch.manual_seed(seed)
    config = Path(config)
    handle = load_model(config, None, "cpu", seed=seed)  # fresh weights: MMAction2's own init
    cfg, model = handle.cfg, handle.model.train()
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    start, cpu_start, history, where_history, accuracy = time.perf_counter(), time.process_time(), [], [], []
    scalars: list[dict] = []
    val_set = [(clip_inputs(cfg, clip), clip) for clip in map(make_clip, VAL_SEEDS)]
    for step in range(steps):
        clutter = _clutter(step, steps)
        for group in optimizer.param_groups:
            group["lr"] = _learning_rate(step, steps, lr)
        clips = [make_clip(TRAIN_SEED_STRIDE * (seed + 1) + step * batch_size + k, clutter=clutter)
                 for k in range(batch_size)]
        loss, parts = _losses(model, cfg, clips, localization)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        history.append(float(parts["loss"]))
        where_history.append(float(parts.get("loss_where", 0.0)))
        accuracy.append(float(parts["top1_acc"]))
        if (step + 1) % LOG_EVERY == 0:
            scalars.append(_train_row(step, optimizer.param_groups[0]["lr"], clutter, history, where_history,
                                      accuracy, localization))
        if (step + 1) % VAL_EVERY == 0 or step + 1 == steps:
            scalars.append({"acc/top1": _val_accuracy(model, val_set), "step": step + 1})
        if log is not None and (step + 1) % LOG_EVERY == 0:
            log(f"step {step + 1}/{steps}  clutter {clutter:.2f}  loss {np.mean(history[-25:]):.4f}  "
                f"where {np.mean(where_history[-25:]):.3f}  "
                f"train accuracy {np.mean(accuracy[-25:]):.3f}  {time.perf_counter() - start:.0f}s")
    seconds, cpu_seconds = time.perf_counter() - start, time.process_time() - cpu_start
    model.eval()
    state = {key: value.detach().cpu().clone() for key, value in model.state_dict().items()}
    checkpoint = {"meta": {"dataset_meta": {"classes": list(DEMO_CLASSES)}, "seed": int(seed), "epoch": 1,
                           "iter": int(steps), "batch_size": int(batch_size),
                           "localization": float(localization)},
                  "state_dict": state}
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    config_out, checkpoint_out, scalars_out = out / CONFIG.name, out / f"{name}.pth", out / f"{name}.scalars.json"
    if config_out.resolve() != config.resolve():
        with atomic_path(config_out) as tmp:
            shutil.copyfile(config, tmp)
    with atomic_path(checkpoint_out) as tmp:
        torch.save(checkpoint, tmp)
    with atomic_path(scalars_out) as tmp:
        Path(tmp).write_text("".join(json.dumps(row) + "\n" for row in scalars), encoding="utf-8")
    return {"config": str(config_out), "checkpoint": str(checkpoint_out), "scalars": str(scalars_out),
            "seconds": seconds,
            "cpu_seconds": cpu_seconds, "final_loss": float(np.mean(history[-25:])),
            "final_train_accuracy": float(np.mean(accuracy[-25:]))}


# --- evaluation -----------------------------------------------------------------------------------------


def pointing_hits(result, clip: SyntheticClip, stride: float) -> np.ndarray:
    """Per heatmap frame (first view): does the argmax, mapped to source pixels, fall on the moving
    object (within its radius plus one feature-map cell of ``stride`` input pixels) at that frame?"""
    heatmaps = result.heatmaps[0]
    height, width = heatmaps.shape[1:]
    x0, y0, x1, y1 = result.crop_box
    scale_x, scale_y = (x1 - x0) / width, (y1 - y0) / height
    hits = []
    for heatmap, index in zip(heatmaps, result.frame_indices[0], strict=True):
        row, col = np.unravel_index(int(np.argmax(heatmap)), heatmap.shape)
        x, y = x0 + (col + 0.5) * scale_x - 0.5, y0 + (row + 0.5) * scale_y - 0.5
        cx, cy = clip.centers[index]
        reach_x, reach_y = clip.radius + stride * scale_x, clip.radius + stride * scale_y
        hits.append(((x - cx) / reach_x) ** 2 + ((y - cy) / reach_y) ** 2 <= 1.0)
    return np.asarray(hits)


def layer_stride(handle, layer: str | None = None) -> float:
    """Input pixels per cell of ``layer``'s feature map or token grid (the default target layer when None)."""
    import torch

    probe = handle.probe()
    shape = dict(probe.shapes)[resolve_layer(handle, layer)]
    grid = to_feature_map(torch.empty(shape, device="meta"), probe.backbone_input)
    size = next(op["scale"] for op in handle.cfg.test_pipeline if op["type"] == "Resize")
    return size[0] / grid.shape[-1]


def evaluate(seeds: Sequence[int] = range(100), *, config: str | Path = CONFIG,
             checkpoint: str | Path = CHECKPOINT, device: str = "cpu",
             methods: Sequence[str] = ("gradcam",)) -> dict:
    """Accuracy and pointing game of the demo model on fresh clips written as mp4 and explained with
    :func:`core.explain_inputs` (the predicted class at the default layer), for each of ``methods`` on the same
    decoded clips. ``pointing_game`` is the first method's; ``pointing_games`` has every method's."""
    if any(seed >= TRAIN_SEED_STRIDE for seed in seeds):
        raise CamError(f"Evaluation seeds must be below {TRAIN_SEED_STRIDE}; larger ones are training clips.")
    handle = load_model(config, checkpoint, device)
    correct, hits, start = [], {method: list[float]() for method in methods}, time.perf_counter()
    strides: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as folder:
        for seed in seeds:
            clip = make_clip(seed)
            inputs = build_inputs(handle.cfg, write_clip(clip, Path(folder) / f"clip_{seed}.mp4"))
            for method in methods:
                result = explain_inputs(handle, inputs, method=method)
                stride = strides.setdefault(method, layer_stride(handle, result.layer))
                hits[method].append(pointing_hits(result, clip, stride).mean())
            correct.append(result.target_class == clip.label)
    games = {method: float(np.mean(values)) for method, values in hits.items()}
    return {"clips": len(correct), "accuracy": float(np.mean(correct)), "pointing_game": games[methods[0]],
            "pointing_games": games, "stride": strides[methods[0]], "seconds": time.perf_counter() - start}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.demo", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    train_cmd = commands.add_parser("train", help="train the demo model from scratch (CPU, a few minutes)")
    train_cmd.add_argument("--out", default=str(ASSETS), help="folder for the config and checkpoint")
    train_cmd.add_argument("--seed", type=int, default=0)
    train_cmd.add_argument("--steps", type=int, default=800)
    train_cmd.add_argument("--localization", type=float, default=0.25,
                           help="weight of the term that makes the class map peak on the object (0: labels only)")
    train_cmd.add_argument("--threads", type=int, default=2,
                           help="torch threads (1 is faster on a machine busy with other work)")
    train_cmd.add_argument("--name", default=CHECKPOINT.stem,
                           help="file name of the checkpoint (and of its .scalars.json curves), without .pth")
    evaluate_cmd = commands.add_parser("evaluate", help="accuracy and pointing game on fresh clips")
    evaluate_cmd.add_argument("--method", nargs="+", default=["gradcam"], help="CAM methods, on the same clips")
    evaluate_cmd.add_argument("--clips", type=int, default=100)
    evaluate_cmd.add_argument("--first-seed", type=int, default=0)
    evaluate_cmd.add_argument("--config", default=str(CONFIG))
    evaluate_cmd.add_argument("--checkpoint", default=str(CHECKPOINT))
    args = parser.parse_args(argv)

    def log(line: str) -> None:
        print(line, file=sys.stderr, flush=True)

    def action() -> int:
        if args.command == "train":
            print(json.dumps(train(args.out, seed=args.seed, steps=args.steps,
                                   localization=args.localization, threads=args.threads,
                                   name=args.name, log=log)))
        else:
            seeds = range(args.first_seed, args.first_seed + args.clips)
            print(json.dumps(evaluate(seeds, config=args.config, checkpoint=args.checkpoint, methods=args.method)))
        return 0

    return run_command(action)


if __name__ == "__main__":
    sys.exit(main())
