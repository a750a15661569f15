"""What a batch explains and what an executor hands back for each video.

:class:`BatchOptions` is what the user asked for (before any model is loaded), :class:`BatchSpec` the
same resolved against a loaded model (the layer's canonical name, the method, a :data:`~core.target.Target`
whose ``key`` goes into batch keys and sidecars). Executors, local or on Ray, explain a video with
:func:`decode` and :func:`explain_clip` and report an :data:`Outcome`: :class:`Explained` or :class:`Failed`.
With ``evaluate``, :func:`explain_clip` also measures the map's faithfulness (:class:`Evaluation`) on the
model input it explained, while that input is at hand, and records it in the result's sidecar.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from core.batch.tasks import BatchTask
from core.cam import ExplainResult, explain_inputs, resolve_layer
from core.errors import CamError, first_line
from core.evaluate.faithfulness import plain, summary_columns
from core.evaluate.perturb import DEFAULT_BLUR_SIGMA, Baseline, check_options, parse_baseline
from core.geometry import Views, parse_views
from core.methods import Method, parse_method
from core.model import ModelHandle, load_model
from core.overlay import colormap_lut
from core.target import PREDICTED, Contrast, GroundTruth, Target, TargetChoice, parse_target
from core.video import ClipInputs, build_inputs
from core.whole_video import sampling_of

if TYPE_CHECKING:
    from mmengine.config import Config


@dataclass
class BatchOptions:
    """How to explain each video and what to write."""

    target_layer: str | None = None
    target: TargetChoice = PREDICTED  # a class by index or name, the predicted class, or the ground truth
    method: Method = Method.GRADCAM
    views: Views = Views.CENTER
    overlay: bool = False  # also write the H.264 overlay mp4
    alpha: float = 0.5
    colormap: str = "viridis"
    fps: float = 5.0
    force: bool = False  # recompute finished videos too
    evaluate: bool = False  # also measure each map's faithfulness: core.evaluate's columns in summary.csv
    steps: int = 20  # of the deletion and insertion curves (with evaluate)
    baseline: Baseline = Baseline.ZEROS  # what deletion/insertion put in place of removed pixels
    blur_sigma: float = DEFAULT_BLUR_SIGMA  # pixels, of the blur baseline
    whole_video: bool = False  # explain every frame of each video (core.whole_video), not one clip
    window_stride: int | None = None  # with whole_video: frames between windows (default: one window's span)
    frame_interval: int | None = None  # with whole_video: the sampling interval (default: the config's)
    window_batch: int = 4  # with whole_video: windows explained together

    def __post_init__(self) -> None:
        # names as text (a .batch.json read back, a caller's string) become their members; an unknown name is a
        # CamError here, anything but text is left for check() to refuse
        for name, parse in (("method", parse_method), ("views", parse_views), ("baseline", parse_baseline)):
            if isinstance(getattr(self, name), str):
                setattr(self, name, parse(getattr(self, name)))

    def check(self) -> None:
        """Fail on a bad option before any model is loaded (the command line's ranges; a ``.batch.json`` read back
        is held to them too, with the types the command line's parser gives)."""
        self._check_types()
        check_options(steps=self.steps, baseline=self.baseline, blur_sigma=self.blur_sigma)
        colormap_lut(self.colormap)
        if not 0 <= self.alpha <= 1:
            raise CamError(f"--alpha must be between 0 and 1, not {self.alpha}.")
        if not self.fps > 0:
            raise CamError(f"--fps must be above 0, not {self.fps}.")
        self._check_whole_video()

    def _check_types(self) -> None:
        for name in ("overlay", "force", "evaluate", "whole_video"):
            if type(getattr(self, name)) is not bool:
                raise CamError(f"{name} must be true or false, not {getattr(self, name)!r}.")
        for name in ("alpha", "fps", "blur_sigma"):
            if type(getattr(self, name)) not in (int, float):
                raise CamError(f"{name} must be a number, not {getattr(self, name)!r}.")
        for name, kind in (("method", Method), ("colormap", str), ("baseline", Baseline), ("views", Views)):
            if not isinstance(getattr(self, name), kind):
                raise CamError(f"{name} must be a name, not {getattr(self, name)!r}.")
        if self.target_layer is not None and type(self.target_layer) is not str:
            raise CamError(f"target_layer must be a layer name, not {self.target_layer!r}.")
        for name in ("window_stride", "frame_interval", "window_batch"):
            value = getattr(self, name)
            if value is not None and type(value) is not int:
                raise CamError(f"{name} must be a whole number, not {value!r}.")

    def _check_whole_video(self) -> None:
        if self.whole_video and (self.views is not Views.CENTER or self.evaluate):
            raise CamError("--whole-video explains the center view of every window and is not evaluated; drop "
                           "--all-views and --evaluate.")
        if self.whole_video and self.window_batch < 1:
            raise CamError(f"--window-batch must be at least 1, not {self.window_batch}.")
        for name in ("window_stride", "frame_interval"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise CamError(f"--{name.replace('_', '-')} must be at least 1, not {value}.")


@dataclass(frozen=True)
class ModelFiles:
    """Where the model comes from: what a local executor or each Ray actor loads."""

    config: str
    checkpoint: str | None = None
    device: str = "auto"
    label_map: str | None = None
    cfg_options: dict | None = None
    trust_checkpoint: bool = False  # allow full unpickling: the operator's choice, never a file's

    def load(self) -> ModelHandle:
        return load_model(self.config, self.checkpoint, self.device, label_map=self.label_map,
                          cfg_options=self.cfg_options, trust_checkpoint=self.trust_checkpoint)


@dataclass(frozen=True)
class Evaluation:
    """How ``--evaluate`` measures each map (:func:`core.evaluate.faithfulness`: deletion and insertion
    against a random ranking drawn with ``seed``, Average Drop), as each sidecar's ``evaluation`` records it."""

    steps: int = 20
    baseline: Baseline = Baseline.ZEROS
    blur_sigma: float | None = None  # of the blur baseline; None for the others
    seed: int = 0

    def settings(self) -> dict[str, Any]:
        return asdict(self)

    def matches(self, recorded: Any) -> bool:
        """``recorded`` (a sidecar's ``evaluation``) was measured with these settings."""
        return isinstance(recorded, dict) and {k: recorded.get(k) for k in self.settings()} == self.settings()

    def measure(self, handle: ModelHandle, result: ExplainResult) -> dict[str, Any]:
        """The sidecar's ``evaluation`` of ``result`` (explained here, its ``inputs`` at hand): the settings,
        :data:`~core.evaluate.faithfulness.SUMMARY_COLUMNS` and the seconds; a map that cannot be measured (a
        constant map) gives the settings and the ``error`` instead, and the video stays explained."""
        start = time.perf_counter()
        try:
            values = summary_columns(handle, result, steps=self.steps, baseline=self.baseline,
                                     blur_sigma=self.blur_sigma or DEFAULT_BLUR_SIGMA, seed=self.seed)
        except CamError as err:
            return {**self.settings(), "error": first_line(err)}
        return plain({**self.settings(), **values, "seconds": round(time.perf_counter() - start, 3)})


def evaluation_of(options: BatchOptions) -> Evaluation | None:
    """The :class:`Evaluation` that ``options`` ask for (None without ``evaluate``)."""
    if not options.evaluate:
        return None
    return Evaluation(options.steps, options.baseline,
                      options.blur_sigma if options.baseline is Baseline.BLUR else None)


@dataclass(frozen=True)
class BatchSpec:
    """The resolved explanation settings (the same on every worker)."""

    layer: str
    method: Method
    target: Target  # its ``key`` ("predicted", "gt" or the index) is what batch keys record
    views: Views
    classes: list[str] = field(default_factory=list)
    evaluation: Evaluation | None = None  # measure each map's faithfulness too (--evaluate)
    whole_video: dict | None = None  # every frame explained: the windows' sampling (Sampling.to_dict())


def resolve_spec(handle: ModelHandle, options: BatchOptions) -> BatchSpec:
    """Resolve the layer, method and target against the loaded model (CamError when one is wrong)."""
    layer = resolve_layer(handle, options.target_layer)
    target = parse_target(options.target, handle.classes, ground_truth=True)
    whole = None
    if options.whole_video:
        whole = sampling_of(handle.cfg, handle.is_2d, stride=options.window_stride,
                            frame_interval=options.frame_interval).to_dict()
    return BatchSpec(layer, options.method, target, options.views, list(handle.classes), evaluation_of(options), whole)


def uses_ground_truth(target: Target) -> bool:
    """Whether explaining ``target`` needs each video's label (the ground truth, or a contrast with it)."""
    if isinstance(target, Contrast):
        return isinstance(target.target, GroundTruth) or isinstance(target.versus, GroundTruth)
    return isinstance(target, GroundTruth)


def check_targets(tasks: list[BatchTask], spec: BatchSpec) -> None:
    """Ground-truth labels must exist for ``--target gt`` and fit the model's classes."""
    for task in tasks:
        if uses_ground_truth(spec.target) and task.gt_class is None:
            raise CamError(f"--target gt needs ground-truth labels, but {task.video} has none; "
                           "pass an annotation file (path label).")
        if task.gt_class is not None and not 0 <= task.gt_class < len(spec.classes):
            raise CamError(f"The label {task.gt_class} of {task.video} is out of range; the model has "
                           f"{len(spec.classes)} classes.")


@dataclass(frozen=True)
class Explained:
    """A video explained: its result and how long decoding and explaining took."""

    task: BatchTask
    result: ExplainResult
    seconds: float
    decode_seconds: float


@dataclass(frozen=True)
class Failed:
    """A video that could not be explained, and why (one line for the summary)."""

    task: BatchTask
    reason: str
    seconds: float | None = None


@dataclass(frozen=True)
class Written:
    """A video the executor explained and wrote itself (a whole-video run writes as it goes): its sidecar."""

    task: BatchTask
    payload: dict
    seconds: float
    decode_seconds: float


Outcome = Explained | Failed | Written


def decode(cfg: Config, task: BatchTask, views: Views) -> tuple[ClipInputs, float]:
    """Model inputs of a task and the seconds they took."""
    start = time.perf_counter()
    if task.origin is not None and not Path(task.video).exists():
        raise CamError(f"{task.video} does not exist ({task.origin}); check the list or --video-root.")
    return build_inputs(cfg, task.video, views=views), time.perf_counter() - start


def explain_clip(handle: ModelHandle, clip: ClipInputs, task: BatchTask, spec: BatchSpec) -> ExplainResult:
    """The explanation of one decoded video under ``spec`` (with ``spec.evaluation``, its faithfulness measured on
    ``clip`` and kept in ``extra["evaluation"]``, which the sidecar records)."""
    out = explain_inputs(handle, clip, target_layer=spec.layer, target=spec.target, method=spec.method,
                         gt=task.gt_class, video=task.video, views=spec.views)
    extra = out.extra if spec.evaluation is None else {**out.extra, "evaluation": spec.evaluation.measure(handle, out)}
    # without its inputs: batch results are written (and sent back by Ray workers), never explained again
    return replace(out, extra=extra, inputs=None)
