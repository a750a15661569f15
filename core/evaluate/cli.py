"""``python -m core.evaluate CONFIG CHECKPOINT VIDEO``: can the map be trusted? Faithfulness (deletion and insertion
against a random ranking, Average Drop), frame importance and, with ``--sanity``, the model-randomisation check.

Takes ``core.vis_cam``'s explain options (``--target-layer-name``, ``--target-class``, ``--method``, ``--all-views``,
``--device``, ...). Prints a short report, or with ``--json`` one JSON object; ``--out report.json`` also writes it.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import core
from core.errors import run_command
from core.evaluate import faithfulness, frame_importance, sanity_check
from core.evaluate.faithfulness import FAITHFULNESS_METRICS, plain
from core.evaluate.perturb import DEFAULT_BATCH_SIZE, DEFAULT_BLUR_SIGMA, Baseline, check_options, parse_baseline
from core.outputs import check_output_file, write_json
from core.vis_cam import add_explain_options, explain_choices_of_args, parse_cfg_options, target_of_args


def add_faithfulness_options(parser: argparse.ArgumentParser) -> None:
    """``--steps``, ``--baseline`` and ``--blur-sigma`` of deletion and insertion (this CLI's and
    ``python -m core.batch --evaluate``'s); checked by :func:`~core.evaluate.perturb.check_options`."""
    parser.add_argument("--steps", type=int, default=20,
                        help="intervals of the deletion and insertion curves (default 20)")
    parser.add_argument("--baseline", default=Baseline.ZEROS,
                        help="what replaces removed pixels: zeros (the mean colour), blur or static (default zeros)")
    parser.add_argument("--blur-sigma", type=float, default=DEFAULT_BLUR_SIGMA,
                        help=f"Gaussian sigma in pixels of the blur baseline (default {DEFAULT_BLUR_SIGMA:g})")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m core.evaluate", description=__doc__.splitlines()[0])
    parser.add_argument("config", help="test config file path")
    parser.add_argument("checkpoint", help="checkpoint file (.pth)")
    parser.add_argument("video", help="video file or rawframes directory")
    add_explain_options(parser)
    add_faithfulness_options(parser)
    parser.add_argument("--batch-size", type=int, default=DEFAULT_BATCH_SIZE,
                        help=f"perturbed inputs per forward pass (default {DEFAULT_BATCH_SIZE})")
    parser.add_argument("--seed", type=int, default=0, help="seed of the random ranking and of the sanity check")
    parser.add_argument("--sanity", action="store_true",
                        help="also run the sanity checks (cascading randomisation of the weights, random logit)")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of the text report")
    parser.add_argument("--out", default=None, help="also write the JSON report to this .json file")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    return parser


@contextmanager
def _bar(description: str, quiet: bool) -> Iterator[Callable[[int, int], None] | None]:
    """A tqdm bar on stderr fed by a ``progress(done, total)`` callback."""
    if quiet:
        yield None
        return
    from tqdm import tqdm

    bar = tqdm(desc=description, unit="pass", file=sys.stderr, leave=False)
    try:
        def progress(done: int, total: int) -> None:
            bar.total = total
            bar.update(done - bar.n)

        yield progress
    finally:
        bar.close()


def report(args: argparse.Namespace, log: Callable[[str], None]) -> dict[str, Any]:
    """Explain the video and evaluate the map; the JSON-ready report."""
    check_options(steps=args.steps, baseline=args.baseline, blur_sigma=args.blur_sigma, batch_size=args.batch_size)
    baseline, (method, views) = parse_baseline(args.baseline), explain_choices_of_args(args)
    check_output_file(args.out, (".json",), "--out")
    log("loading model")
    handle = core.load_model(args.config, args.checkpoint, args.device, label_map=args.label_map,
                             cfg_options=parse_cfg_options(args.cfg_options), trust_checkpoint=args.trust_checkpoint)
    log(f"explaining {args.video} on {handle.device}")
    result = core.explain(handle, args.video, target_layer=args.target_layer_name, target=target_of_args(args),
                          views=views, method=method)
    options = dict(baseline=baseline, blur_sigma=args.blur_sigma, batch_size=args.batch_size)
    with _bar("deletion/insertion", args.quiet) as progress:
        faith = faithfulness(handle, result, steps=args.steps, seed=args.seed, progress=progress, **options)
    with _bar("frame importance", args.quiet) as progress:
        frames = frame_importance(handle, result, progress=progress, **options)
    verdict = faith.verdict()
    out: dict[str, Any] = dict(
        video=str(args.video), config=str(args.config), checkpoint=str(args.checkpoint), method=result.method,
        layer=result.layer, views=views, target_class=result.target_class, target_label=result.target_label,
        faithfulness=dict(faith.to_dict(), verdict=verdict.text, supported=verdict.supported),
        frame_importance=dict(frames.to_dict(), agreement=frames.agreement()))
    if args.sanity:
        with _bar("sanity check", args.quiet) as progress:
            sanity = sanity_check(handle, result.inputs or args.video, target_layer=result.layer,
                                  target=result.target_class, method=result.method, seed=args.seed, views=views,
                                  progress=progress)
        check = sanity.verdict()
        out["sanity"] = dict(sanity.to_dict(), verdict=check.text, supported=check.supported)
    return plain(out)


def text(data: dict[str, Any]) -> str:
    """The report as a few readable lines."""
    faith, frames = data["faithfulness"], data["frame_importance"]
    lines = [f"{data['method']} of {data['layer']} for class {data['target_class']} ({data['target_label']}), "
             f"{faith['views']} view(s), baseline {faith['baseline']}, {faith['steps']} steps",
             f"  score of the input    {faith['score']:.4f}",
             *(f"  {FAITHFULNESS_METRICS[name].title:<21} {faith[name]:.4f}   random ranking "
               f"{_num(faith[f'random_{name}'])}   ({FAITHFULNESS_METRICS[name].better} is better)"
               for name in ("deletion_auc", "insertion_auc")),
             f"  {FAITHFULNESS_METRICS['average_drop'].title:<21} {faith['average_drop']:.4f}   increase in confidence "
             f"{faith['increase_in_confidence']:.2f}",
             f"  verdict: {faith['verdict']}",
             "frame importance (score drop without the frame | map mass), view 1:"]
    for index, drop, mass in zip(frames["frame_indices"][0], frames["drop"][0], frames["mass"][0], strict=True):
        lines.append(f"  source frame {index:>5}   {drop:+.4f}   {mass:.4f}")
    lines.append(f"  agreement (Spearman's rho of drop and mass): {_num(frames['agreement'])}")
    if "sanity" in data:
        sanity = data["sanity"]
        lines.append("sanity check (Spearman's rho with the original map after each cumulative re-initialisation):")
        for name, rho in zip(sanity["steps"], sanity["rho"], strict=True):
            lines.append(f"  {name:<40} {_num(rho)}")
        if sanity["random_class"] is not None:
            lines.append(f"  {'random logit (class ' + str(sanity['random_class']) + ')':<40} "
                         f"{_num(sanity['random_logit_rho'])}")
        lines.append(f"  verdict: {sanity['verdict']}")
    return "\n".join(lines)


def _num(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.4f}"


def run(args: argparse.Namespace, log: Callable[[str], None]) -> int:
    data = report(args, log)
    if args.out:
        write_json(args.out, data)
        log(f"wrote {args.out}")
    print(json.dumps(data) if args.json else text(data), flush=True)
    return 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)

    def log(message: str) -> None:
        if not args.quiet:
            print(f"[evaluate] {message}", file=sys.stderr, flush=True)

    return run_command(lambda: run(args, log))
