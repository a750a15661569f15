"""What to explain: which class score a CAM method differentiates, as a small typed value.

As pytorch-grad-cam's target objects (``ClassifierOutputTarget(category)``) separate *what* to explain
from *how*, a :data:`Target` names the class without knowing the CAM method:

- :class:`Predicted`: the model's top class on this input (the default);
- :class:`GroundTruth`: the sample's annotated label (batch inputs from an annotation file, test dumps);
- :class:`ClassIndex`: one fixed class;
- :class:`Contrast`: why one of those rather than another class (:class:`Contrast` (A, B): the logit difference
  score(A) − score(B)) or than the classes most like it (:class:`Similar`: FinerCAM's weighted target).

User input (``--target-class 3``, ``"arm wrestling"``, ``gt``) is read by one rule, in this order:

1. empty, or a word of :data:`PREDICTED_WORDS` (``predicted``): the predicted class;
2. where inputs have labels (a batch, a test dump: ``ground_truth=True``), a word of
   :data:`GROUND_TRUTH_WORDS` (``gt``): the ground truth;
3. an integer (``3``, ``"3"``): that class index;
4. any other text: the class of that name (case-insensitive).

So a keyword wins over a class that happens to be called so; such a class is reached by its index.
:func:`read_target` applies the rule before the model's classes are known (a batch's options keep a name
as a :class:`ClassName`); :func:`parse_target` applies the same rule and resolves the name and checks the
index against the classes. :meth:`Target.resolve` turns a Target into a class index for one input.

``key`` is the form written into sidecars and batch keys (``"predicted"``, ``"gt"`` or the index), so files
written before this type existed still match.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from core.errors import CamError

if TYPE_CHECKING:
    import numpy as np
    import torch

GROUND_TRUTH_WORDS = ("gt", "ground truth", "ground-truth", "ground_truth")
PREDICTED_WORDS = ("predicted", "prediction", "pred")


@dataclass(frozen=True)
class Predicted:
    """The class the model scores highest (argmax of the class scores)."""

    key = "predicted"

    def resolve(self, classes: Sequence[str], scores: torch.Tensor | np.ndarray | None = None,
                gt: int | None = None) -> int:
        if scores is None:
            raise CamError("The predicted class is known only after the model has scored the input.")
        return int(scores.argmax())

    def __str__(self) -> str:
        return "predicted class"


@dataclass(frozen=True)
class GroundTruth:
    """The sample's annotated label (from an annotation file or a test dump)."""

    key = "gt"

    def resolve(self, classes: Sequence[str], scores: torch.Tensor | np.ndarray | None = None,
                gt: int | None = None) -> int:
        if gt is None:
            raise CamError("The ground truth was asked for but this input has no label; pass an annotation file "
                           "(path label) or pick a class.")
        return _checked(int(gt), classes)

    def __str__(self) -> str:
        return "ground truth"


@dataclass(frozen=True)
class ClassIndex:
    """One fixed class, by index."""

    index: int

    @property
    def key(self) -> int:
        return self.index

    def resolve(self, classes: Sequence[str], scores: torch.Tensor | np.ndarray | None = None,
                gt: int | None = None) -> int:
        return _checked(self.index, classes)

    def __str__(self) -> str:
        return f"class {self.index}"


PREDICTED = Predicted()
GROUND_TRUTH = GroundTruth()


@dataclass(frozen=True)
class ClassName:
    """One fixed class, by the name a user gave, before the model's classes are known (a batch's options):
    :func:`parse_target` turns it into a :class:`ClassIndex` (case-insensitive)."""

    name: str

    def __str__(self) -> str:
        return f"class {self.name!r}"


# FinerCAM's default comparison strength (pytorch-grad-cam 1.5.7, ``FinerCAM.forward(alpha=1)``)
FINER_ALPHA = 1.0


@dataclass(frozen=True)
class Similar:
    """FinerCAM's comparison set: the ``k`` classes whose scores lie closest to the explained class's score
    on this input (Zhang et al., "Finer-CAM", 2025; pytorch-grad-cam's ``FinerCAM``)."""

    k: int

    @property
    def key(self) -> str:
        return f"similar:{self.k}"

    def __str__(self) -> str:
        return f"its {self.k} most similar classes"


Single = Predicted | GroundTruth | ClassIndex
Versus = Predicted | GroundTruth | ClassIndex | ClassName | Similar


@dataclass(frozen=True)
class Contrast:
    """Why class A rather than B: the gradient of score(A) − score(B), the difference of the two logits
    (pre-softmax scores averaged over views), so evidence shared by both classes cancels. With
    ``versus=Similar(k)`` it is FinerCAM's weighted target (pytorch-grad-cam's ``FinerWeightedTarget``):

        Σ_i p_i · (s_A − α · s_i) / (Σ_i p_i + 1e-9)

    over the k classes i whose scores lie closest to s_A, p_i their softmax probabilities (gradients flow
    through p_i too, as there), α = :data:`FINER_ALPHA`. ``target`` and ``versus`` are any single target
    (the predicted class, the ground truth, a fixed class): ``Contrast(PREDICTED, GROUND_TRUTH)`` asks of a
    mistake "why the prediction rather than the truth?". The map is a map of A (:meth:`resolve` is A).
    """

    target: Single | ClassName
    versus: Versus
    alpha: float = FINER_ALPHA

    @property
    def key(self) -> str:
        """``contrast:<A key>:<B key>`` (``contrast:3:similar:2``): what sidecars and batch keys record."""
        target_key = self.target.name if isinstance(self.target, ClassName) else self.target.key
        versus_key = self.versus.name if isinstance(self.versus, ClassName) else self.versus.key
        return f"contrast:{target_key}:{versus_key}" + (f":alpha={self.alpha:g}" if self.alpha != FINER_ALPHA else "")

    def resolve(self, classes: Sequence[str], scores: torch.Tensor | np.ndarray | None = None,
                gt: int | None = None) -> int:
        if isinstance(self.target, ClassName):
            raise CamError(f"Class {self.target.name!r} was not resolved against the model's classes.")
        return self.target.resolve(classes, scores, gt)

    def versus_classes(self, classes: Sequence[str], scores: torch.Tensor, gt: int | None = None) -> list[int]:
        """The classes A is contrasted with on this input (A's own index never among them)."""
        index = self.resolve(classes, scores, gt)
        if isinstance(self.versus, Similar):
            if self.versus.k < 1:
                raise CamError(f"similar:{self.versus.k} compares with no class; pass similar:1 or more.")
            if len(classes) < 2:
                raise CamError("A contrast needs a model with at least two classes.")
            gap = (scores.detach() - scores.detach()[index]).abs().double()
            gap[index] = -1.0  # A itself first, then by similarity (FinerCAM's argsort of |s - s_A|)
            order = [int(i) for i in gap.argsort(stable=True)]
            return order[1:1 + min(self.versus.k, len(classes) - 1)]
        if isinstance(self.versus, ClassName):
            raise CamError(f"Class {self.versus.name!r} was not resolved against the model's classes.")
        other = self.versus.resolve(classes, scores, gt)
        if other == index:
            raise CamError(f"{self.target} and {self.versus} are the same class here ({classes[index]!r}), so "
                           "their contrast is zero; contrast two different classes.")
        return [other]

    def __str__(self) -> str:
        return f"{self.target} rather than {self.versus}"


Target = Predicted | GroundTruth | ClassIndex | Contrast
TargetChoice = Target | ClassName  # what a user may ask for before a model is loaded


def target_score(target: Target, scores: torch.Tensor, index: int, classes: Sequence[str],
                 gt: int | None = None) -> tuple[torch.Tensor, list[int]]:
    """The scalar a gradient method differentiates for ``target`` (class ``index``, already resolved) on the
    class scores ``scores`` ``[C]`` (autograd-tracked), and the classes it is contrasted with (empty unless
    ``target`` is a :class:`Contrast`)."""
    if not isinstance(target, Contrast):
        return scores[index], []
    others = target.versus_classes(classes, scores, gt)
    if not isinstance(target.versus, Similar):
        return scores[index] - scores[others[0]], others
    weights = scores.softmax(-1)[others]  # FinerWeightedTarget: weights keep their gradient
    return (weights * (scores[index] - target.alpha * scores[others])).sum() / (weights.sum() + 1e-9), others


def read_target(value: TargetChoice | int | str | None, *, ground_truth: bool = False) -> TargetChoice:
    """What a user asked for, without the model's classes: None or ``"predicted"`` is :data:`PREDICTED`,
    ``"gt"`` (when ``ground_truth`` is allowed) :data:`GROUND_TRUTH`, an index or digit string a
    :class:`ClassIndex` (range checked later), any other text a :class:`ClassName`: the module's one rule,
    keywords first (a class called ``predicted`` is reached by its index); a contrast's key (``contrast:A:B``)
    a :class:`Contrast`."""
    if isinstance(value, Predicted | GroundTruth | ClassIndex | ClassName | Contrast):
        return value
    if value is None:
        return PREDICTED
    if isinstance(value, bool):
        raise CamError(f"{value!r} is not a class; pass a class index or name.")
    if isinstance(value, int):
        return ClassIndex(value)
    text = str(value).strip()
    if text.startswith("contrast:"):  # a contrast's key (choice_text), e.g. from a batch's record
        return _contrast_of_key(text, lambda part: read_target(part, ground_truth=True))
    if not text or text.lower() in PREDICTED_WORDS:
        return PREDICTED
    if ground_truth and text.lower() in GROUND_TRUTH_WORDS:
        return GROUND_TRUTH
    if text.lstrip("-").isdigit():
        return ClassIndex(int(text))
    return ClassName(text)


def choice_text(target: TargetChoice) -> str | None:
    """The word that :func:`read_target` reads back as ``target`` (None for the predicted class), e.g. for
    ``--target-class`` or a JSON file."""
    if isinstance(target, Predicted):
        return None
    if isinstance(target, ClassName):
        return target.name
    return str(target.key)


def _checked(index: int, classes: Sequence[str]) -> int:
    if not 0 <= index < len(classes):
        raise CamError(f"Class {index} is out of range; the model has {len(classes)} classes "
                       f"(0 to {len(classes) - 1}).")
    return index


def parse_target(value: TargetChoice | int | str | None, classes: Sequence[str], *,
                 ground_truth: bool = False) -> Target:
    """A :data:`Target` from what a user gave, once the model's classes are known: :func:`read_target`'s
    reading (the one precedence rule, see the module docstring), then an index checked against ``classes``
    and a name looked up in them (case-insensitive).

    Raises CamError for an unknown name, an index out of range, or the ground truth where inputs have no
    labels (``ground_truth=False``)."""
    if isinstance(value, Contrast) or (isinstance(value, str) and value.strip().startswith("contrast:")):
        return _parse_contrast(read_target(value, ground_truth=True), classes, ground_truth)
    if isinstance(value, GroundTruth) and not ground_truth:
        raise CamError("The ground truth can be explained only where inputs have labels (a batch of an "
                       "annotation file, a test dump); pick a class instead.")
    choice = read_target(value, ground_truth=ground_truth)
    if isinstance(choice, ClassIndex):
        _checked(choice.index, classes)
        return choice
    if not isinstance(choice, ClassName):
        return choice
    names = {c.lower(): i for i, c in enumerate(classes)}
    if choice.name.lower() in names:
        return ClassIndex(names[choice.name.lower()])
    extra = ", predicted" + (" or gt" if ground_truth else "")
    raise CamError(f"Unknown class {choice.name!r}; pass a class index, one of the model's class names "
                   f"(e.g. {', '.join(list(classes)[:5])}){extra}.")


def read_versus(value: str | int | None) -> Versus | None:
    """What ``--versus`` asks for, before the model's classes are known: None (no contrast), ``similar:K``
    (:class:`Similar`), else a class as :func:`read_target` reads it (index, name, ``predicted``, ``gt``)."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    text = str(value).strip()
    if text.lower().startswith("similar"):
        _, _, count = text.partition(":")
        if not count.strip().isdigit() or int(count) < 1:
            raise CamError(f"--versus {text!r}: write similar:K with K a whole number of classes, e.g. similar:3.")
        return Similar(int(count))
    versus = read_target(text, ground_truth=True)
    assert not isinstance(versus, Contrast)
    return versus


def with_versus(target: TargetChoice, versus: str | int | Versus | None) -> TargetChoice:
    """``target`` contrasted with ``versus`` (see :func:`read_versus`); ``target`` itself when ``versus`` is None."""
    chosen = versus if isinstance(versus, Predicted | GroundTruth | ClassIndex | ClassName | Similar) \
        else read_versus(versus)
    if chosen is None:
        return target
    if isinstance(target, Contrast):
        raise CamError("The target is already a contrast; pass --versus once.")
    return Contrast(target, chosen)


def _parse_contrast(value: TargetChoice, classes: Sequence[str], ground_truth: bool) -> Contrast:
    """:func:`parse_target` of both sides of a contrast."""
    assert isinstance(value, Contrast)
    single = parse_target(value.target, classes, ground_truth=ground_truth)
    versus = value.versus if isinstance(value.versus, Similar) else parse_target(value.versus, classes,
                                                                               ground_truth=ground_truth)
    if isinstance(single, Contrast) or isinstance(versus, Contrast):
        raise CamError("A contrast compares two classes, not two contrasts.")
    return Contrast(single, versus, value.alpha)


def target_of_key(key: int | str) -> Target:
    """The Target a sidecar or batch key recorded (:attr:`key`: ``"predicted"``, ``"gt"``, an index or
    ``contrast:A:B``)."""
    if isinstance(key, str) and key.startswith("contrast:"):
        contrast = _contrast_of_key(key, _single_of_key)
        assert not isinstance(contrast.target, ClassName) and not isinstance(contrast.versus, ClassName)
        return contrast
    return _single_of_key(key)


def _contrast_of_key(key: str, single: Callable[[str], Any]) -> Contrast:
    """A :class:`Contrast` from its :attr:`~Contrast.key`, each class part read by ``single``."""
    parts = key.split(":")[1:]
    alpha = FINER_ALPHA
    try:
        if parts and parts[-1].startswith("alpha="):
            alpha = float(parts.pop()[len("alpha="):])
        if len(parts) == 3 and parts[1] == "similar" and parts[2].isdigit():
            first, versus = single(parts[0]), Similar(int(parts[2]))
        elif len(parts) == 2:
            first, versus = single(parts[0]), single(parts[1])
        else:
            raise ValueError(key)
    except ValueError as err:
        raise CamError(f"{key!r} is not a contrast; expected contrast:A:B or contrast:A:similar:K.") from err
    if isinstance(first, Contrast | Similar) or isinstance(versus, Contrast):
        raise CamError(f"{key!r} is not a contrast of two classes.")
    return Contrast(first, versus, alpha)


def _single_of_key(key: int | str) -> Single:
    if isinstance(key, str) and key.lstrip("-").isdigit():
        key = int(key)
    if key == Predicted.key:
        return PREDICTED
    if key == GroundTruth.key:
        return GROUND_TRUTH
    if isinstance(key, int) and not isinstance(key, bool):
        return ClassIndex(key)
    raise CamError(f"{key!r} is not a recorded target; expected 'predicted', 'gt', a class index or a contrast.")
