"""What to explain: which class score a CAM method differentiates, as a small typed value.

As pytorch-grad-cam's target objects (``ClassifierOutputTarget(category)``) separate *what* to explain
from *how*, a :data:`Target` names the class without knowing the CAM method:

- :class:`Predicted`: the model's top class on this input (the default);
- :class:`GroundTruth`: the sample's annotated label (batch inputs from an annotation file, test dumps);
- :class:`ClassIndex`: one fixed class.

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

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

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


Target = Predicted | GroundTruth | ClassIndex
PREDICTED = Predicted()
GROUND_TRUTH = GroundTruth()


@dataclass(frozen=True)
class ClassName:
    """One fixed class, by the name a user gave, before the model's classes are known (a batch's options):
    :func:`parse_target` turns it into a :class:`ClassIndex` (case-insensitive)."""

    name: str

    def __str__(self) -> str:
        return f"class {self.name!r}"


TargetChoice = Target | ClassName  # what a user may ask for before a model is loaded


def read_target(value: TargetChoice | int | str | None, *, ground_truth: bool = False) -> TargetChoice:
    """What a user asked for, without the model's classes: None or ``"predicted"`` is :data:`PREDICTED`,
    ``"gt"`` (when ``ground_truth`` is allowed) :data:`GROUND_TRUTH`, an index or digit string a
    :class:`ClassIndex` (range checked later), any other text a :class:`ClassName`: the module's one rule,
    keywords first (a class called ``predicted`` is reached by its index)."""
    if isinstance(value, Predicted | GroundTruth | ClassIndex | ClassName):
        return value
    if value is None:
        return PREDICTED
    if isinstance(value, bool):
        raise CamError(f"{value!r} is not a class; pass a class index or name.")
    if isinstance(value, int):
        return ClassIndex(value)
    text = str(value).strip()
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


def target_of_key(key: int | str) -> Target:
    """The Target a sidecar or batch key recorded (:attr:`key`: ``"predicted"``, ``"gt"`` or an index)."""
    if key == Predicted.key:
        return PREDICTED
    if key == GroundTruth.key:
        return GROUND_TRUTH
    if isinstance(key, int) and not isinstance(key, bool):
        return ClassIndex(key)
    raise CamError(f"{key!r} is not a recorded target; expected 'predicted', 'gt' or a class index.")
