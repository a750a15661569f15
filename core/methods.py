"""CAM methods: each a short subclass of :class:`CAMMethod` with its weight formula.

Activations and gradients arrive in the canonical layout ``[G, T, C, h, w]`` (G groups, T
feature-map time slices). As MMAction2's GradCAM does, weights are computed per time slice, so a
video of T=1 is exactly the image case.

Two methods read no layer's channels: attention rollout and gradient-weighted attention
(:class:`AttentionMethod`) compose the attention maps of every block (recorded by :mod:`core.attention`);
their token map then goes through the same grid, resizing and normalisation as a CAM (docs/methods.md).
"""

from __future__ import annotations

from enum import StrEnum

import torch

from core import attention
from core.errors import CamError


class Method(StrEnum):
    """The name of a CAM method, as the command line's ``--method``, sidecars, CSVs and :data:`METHODS` spell it.
    :func:`parse_method` reads the other spellings users write (``Grad-CAM++``, ``grad_cam``)."""

    GRADCAM = "gradcam"
    GRADCAMPP = "gradcampp"
    XGRADCAM = "xgradcam"
    LAYERCAM = "layercam"
    HIRESCAM = "hirescam"
    EIGENCAM = "eigencam"
    ROLLOUT = "rollout"
    ATTN_GRAD = "attn-grad"


class CAMMethod:
    """Base class: ``cam = ReLU(sum_c w_c * A_c)`` with per-slice channel weights ``w``."""

    name: Method  # set by each concrete method
    label: str = ""
    needs_gradients: bool = True
    needs_attention: bool = False  # composes the backbone's attention maps instead of one layer's activations

    def weights(self, activations: torch.Tensor, gradients: torch.Tensor) -> torch.Tensor:
        """Channel weights ``[G, T, C, 1, 1]`` (or per-pixel ``[G, T, C, h, w]``)."""
        raise NotImplementedError

    def __call__(self, activations: torch.Tensor, gradients: torch.Tensor | None) -> torch.Tensor:
        """The rectified map ``[G, T, h, w]``."""
        if gradients is None:
            raise CamError(f"{self.label} needs gradients; capture them first.")
        return torch.relu((self.weights(activations, gradients) * activations).sum(dim=2))


class GradCAM(CAMMethod):
    """Grad-CAM (Selvaraju et al. 2017), eq. 1: w_c = mean over pixels of dY/dA_c."""

    name, label = Method.GRADCAM, "Grad-CAM"

    def weights(self, activations: torch.Tensor, gradients: torch.Tensor) -> torch.Tensor:
        return gradients.mean(dim=(-2, -1), keepdim=True)


class GradCAMPlusPlus(CAMMethod):
    """Grad-CAM++ (Chattopadhay et al. 2018), eq. 19 with the exponential's closed form:
    a_c = g^2 / (2 g^2 + sum_ab A_c * g^3), w_c = sum over pixels of a_c * ReLU(g); a_c = 0 where g = 0."""

    name, label = Method.GRADCAMPP, "Grad-CAM++"
    eps = 1e-6  # pytorch-grad-cam's

    def weights(self, activations: torch.Tensor, gradients: torch.Tensor) -> torch.Tensor:
        g2 = gradients.pow(2)
        total = activations.sum(dim=(-2, -1), keepdim=True)
        alpha = torch.where(gradients != 0, g2 / (2 * g2 + total * g2 * gradients + self.eps), 0.0)
        return (alpha * torch.relu(gradients)).sum(dim=(-2, -1), keepdim=True)


class XGradCAM(CAMMethod):
    """XGrad-CAM (Fu et al. 2020), eq. 8: w_c = sum over pixels of (A_c / sum_ab A_c) * g."""

    name, label = Method.XGRADCAM, "XGrad-CAM"
    eps = 1e-7  # pytorch-grad-cam's

    def weights(self, activations: torch.Tensor, gradients: torch.Tensor) -> torch.Tensor:
        total = activations.sum(dim=(-2, -1), keepdim=True)
        return (gradients * activations / (total + self.eps)).sum(dim=(-2, -1), keepdim=True)


class LayerCAM(CAMMethod):
    """LayerCAM (Jiang et al. 2021), eq. 5: per-pixel weights w_c,ij = ReLU(g_c,ij)."""

    name, label = Method.LAYERCAM, "LayerCAM"

    def weights(self, activations: torch.Tensor, gradients: torch.Tensor) -> torch.Tensor:
        return torch.relu(gradients)


class HiResCAM(CAMMethod):
    """HiResCAM (Draelos & Carin 2020): per-pixel weights w_c,ij = g_c,ij (no averaging, so the map
    is exactly the score's first-order attribution to the layer's pixels)."""

    name, label = Method.HIRESCAM, "HiResCAM"

    def weights(self, activations: torch.Tensor, gradients: torch.Tensor) -> torch.Tensor:
        return gradients


class EigenCAM(CAMMethod):
    """EigenCAM (Muhammad & Yeasin 2020), gradient-free: the activations (pixels x channels, centred
    per channel) projected on their first right singular vector. The SVD's sign is arbitrary; it is
    fixed here so that the map correlates positively with the channel sum of the activations."""

    name, label = Method.EIGENCAM, "EigenCAM"
    needs_gradients = False

    def __call__(self, activations: torch.Tensor, gradients: torch.Tensor | None) -> torch.Tensor:
        *lead, channels, h, w = activations.shape
        pixels = activations.double().reshape(*lead, channels, h * w).transpose(-1, -2)  # [G, T, hw, C]
        pixels = torch.nan_to_num(pixels, nan=0.0)
        centred = pixels - pixels.mean(dim=-2, keepdim=True)
        first = torch.linalg.svd(centred, full_matrices=False).Vh[..., 0, :]  # [G, T, C]
        projection = (centred @ first.unsqueeze(-1)).squeeze(-1)  # [G, T, hw]
        energy = pixels.sum(dim=-1)
        agree = (projection * (energy - energy.mean(dim=-1, keepdim=True))).sum(dim=-1, keepdim=True)
        projection = torch.where(agree < 0, -projection, projection)
        return torch.relu(projection).reshape(*lead, h, w).to(activations.dtype)


class AttentionMethod(CAMMethod):
    """Base of the methods that compose the attention probabilities of every block (:mod:`core.attention`)
    instead of weighting one layer's channels: ``fuse`` turns one attention's per-head probabilities (and, for
    gradient-weighted methods, their gradients) into one ``[b, n, n]`` matrix, ``step`` applies the block's
    operator to the read-out row."""

    needs_attention = True

    def __call__(self, activations: torch.Tensor, gradients: torch.Tensor | None) -> torch.Tensor:
        raise CamError(f"{self.label} composes attention maps, not a layer's activations; capture them with "
                       "core.cam.capture(..., method=...).")

    def fuse(self, probs: torch.Tensor, grads: torch.Tensor | None) -> torch.Tensor:
        raise NotImplementedError

    def step(self, event: attention.Event, v: torch.Tensor, matrix: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError


class AttentionRollout(AttentionMethod):
    """Attention rollout (Abnar & Zuidema 2020, eq. 1 with the residual as in their section 3): per block the
    heads' probabilities fused (mean, or max/min as in vit-explain), the lowest ``discard_ratio`` of them zeroed,
    ``Ã = (A + I)`` with rows re-normalised, ``R = Ã_L ··· Ã_1``; the map is the class token's row of ``R`` (the
    mean of its rows when the model has no class token). Gradient-free: the cost of one forward."""

    name, label = Method.ROLLOUT, "Attention rollout"
    needs_gradients = False

    def __init__(self, head_fusion: str = "mean", discard_ratio: float = 0.0) -> None:
        if head_fusion not in ("mean", "max", "min"):
            raise CamError(f"Unknown head fusion {head_fusion!r}; choose mean, max or min.")
        if not 0.0 <= discard_ratio < 1.0:
            raise CamError(f"discard_ratio must lie in [0, 1), not {discard_ratio}.")
        self.head_fusion, self.discard_ratio = head_fusion, discard_ratio

    def fuse(self, probs: torch.Tensor, grads: torch.Tensor | None) -> torch.Tensor:
        if self.head_fusion == "mean":
            return probs.mean(dim=1)
        return probs.amax(dim=1) if self.head_fusion == "max" else probs.amin(dim=1)

    def step(self, event: attention.Event, v: torch.Tensor, matrix: torch.Tensor) -> torch.Tensor:
        matrix = attention.discard_lowest(event, matrix, self.discard_ratio)
        scaled = v / (attention.row_sums(event, matrix, v.shape[0]) + 1.0)  # rows of (A + I) summed to 1
        return attention.apply(event, scaled, matrix) + scaled


class AttentionGrad(AttentionMethod):
    """Gradient-weighted attention (Chefer, Gur & Wolf, ICCV 2021, "Generic attention-model explainability",
    eqs. 5-6): per block ``Ā = E_h[ReLU(∇A ⊙ A)]`` with ``∇A`` the gradient of the target class score, and
    ``R <- R + Ā · R`` from ``R = I``; the map is the class token's row of ``R`` (the mean of its rows without
    one). One backward to the attention maps, no parameter gradients."""

    name, label = Method.ATTN_GRAD, "Gradient-weighted attention"

    def fuse(self, probs: torch.Tensor, grads: torch.Tensor | None) -> torch.Tensor:
        if grads is None:
            raise CamError(f"{self.label} needs the gradients of the attention maps.")
        fused = torch.zeros_like(probs[:, 0])
        for head in range(probs.shape[1]):  # one head at a time: temporaries of one n x n map, not of all heads
            fused += (grads[:, head] * probs[:, head]).clamp_(min=0)
        return fused / probs.shape[1]

    def step(self, event: attention.Event, v: torch.Tensor, matrix: torch.Tensor) -> torch.Tensor:
        return v + attention.apply(event, v, matrix)


METHODS: dict[Method, type[CAMMethod]] = {
    cls.name: cls for cls in (GradCAM, GradCAMPlusPlus, XGradCAM, LayerCAM, HiResCAM, EigenCAM, AttentionRollout,
                              AttentionGrad)
}


def _key(name: str) -> str:
    return name.lower().replace("-", "").replace("_", "").replace("++", "pp")


_BY_KEY = {_key(method): method for method in Method}


def parse_method(name: Method | str) -> Method:
    """The :class:`Method` ``name`` spells (case-insensitive; ``-``/``_``/``+`` spellings accepted: the command
    line's ``--method``, a page's pick, a ``.batch.json``); a CamError for any other name."""
    found = _BY_KEY.get(_key(name)) if isinstance(name, str) else None
    if found is None:
        raise CamError(f"Unknown CAM method {name!r}; choose one of {', '.join(METHODS)}.")
    return found


def get_method(name: Method | str | CAMMethod) -> CAMMethod:
    """The CAM method called ``name`` (see :func:`parse_method`); a :class:`CAMMethod` instance (e.g.
    ``AttentionRollout(head_fusion="max")``) is returned as it is."""
    if isinstance(name, CAMMethod):
        return name
    return METHODS[parse_method(name)]()


def method_label(name: Method | str) -> str:
    """What a page shows for the method ``name`` (``Grad-CAM++`` for ``gradcampp``); a name this version does not
    know (a result from another version's files) is shown as it is."""
    try:
        return METHODS[Method(name)].label
    except ValueError:
        return str(name)
