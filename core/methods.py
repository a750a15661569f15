"""CAM methods: each a short subclass of :class:`CAMMethod` with its weight formula.

Activations and gradients arrive in the canonical layout ``[G, T, C, h, w]`` (G groups, T
feature-map time slices). As MMAction2's GradCAM does, weights are computed per time slice, so a
video of T=1 is exactly the image case.
"""

from __future__ import annotations

import torch

from core.errors import CamError


class CAMMethod:
    """Base class: ``cam = ReLU(sum_c w_c * A_c)`` with per-slice channel weights ``w``."""

    name: str = ""
    label: str = ""
    needs_gradients: bool = True

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

    name, label = "gradcam", "Grad-CAM"

    def weights(self, activations: torch.Tensor, gradients: torch.Tensor) -> torch.Tensor:
        return gradients.mean(dim=(-2, -1), keepdim=True)


class GradCAMPlusPlus(CAMMethod):
    """Grad-CAM++ (Chattopadhay et al. 2018), eq. 19 with the exponential's closed form:
    a_c = g^2 / (2 g^2 + sum_ab A_c * g^3), w_c = sum over pixels of a_c * ReLU(g); a_c = 0 where g = 0."""

    name, label = "gradcampp", "Grad-CAM++"
    eps = 1e-6  # pytorch-grad-cam's

    def weights(self, activations: torch.Tensor, gradients: torch.Tensor) -> torch.Tensor:
        g2 = gradients.pow(2)
        total = activations.sum(dim=(-2, -1), keepdim=True)
        alpha = torch.where(gradients != 0, g2 / (2 * g2 + total * g2 * gradients + self.eps), 0.0)
        return (alpha * torch.relu(gradients)).sum(dim=(-2, -1), keepdim=True)


class XGradCAM(CAMMethod):
    """XGrad-CAM (Fu et al. 2020), eq. 8: w_c = sum over pixels of (A_c / sum_ab A_c) * g."""

    name, label = "xgradcam", "XGrad-CAM"
    eps = 1e-7  # pytorch-grad-cam's

    def weights(self, activations: torch.Tensor, gradients: torch.Tensor) -> torch.Tensor:
        total = activations.sum(dim=(-2, -1), keepdim=True)
        return (gradients * activations / (total + self.eps)).sum(dim=(-2, -1), keepdim=True)


class LayerCAM(CAMMethod):
    """LayerCAM (Jiang et al. 2021), eq. 5: per-pixel weights w_c,ij = ReLU(g_c,ij)."""

    name, label = "layercam", "LayerCAM"

    def weights(self, activations: torch.Tensor, gradients: torch.Tensor) -> torch.Tensor:
        return torch.relu(gradients)


class HiResCAM(CAMMethod):
    """HiResCAM (Draelos & Carin 2020): per-pixel weights w_c,ij = g_c,ij (no averaging, so the map
    is exactly the score's first-order attribution to the layer's pixels)."""

    name, label = "hirescam", "HiResCAM"

    def weights(self, activations: torch.Tensor, gradients: torch.Tensor) -> torch.Tensor:
        return gradients


class EigenCAM(CAMMethod):
    """EigenCAM (Muhammad & Yeasin 2020), gradient-free: the activations (pixels x channels, centred
    per channel) projected on their first right singular vector. The SVD's sign is arbitrary; it is
    fixed here so that the map correlates positively with the channel sum of the activations."""

    name, label = "eigencam", "EigenCAM"
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


METHODS: dict[str, type[CAMMethod]] = {
    cls.name: cls for cls in (GradCAM, GradCAMPlusPlus, XGradCAM, LayerCAM, HiResCAM, EigenCAM)
}


def get_method(name: str) -> CAMMethod:
    """The CAM method called ``name`` (case-insensitive; ``-``/``_``/``+`` spellings accepted)."""
    key = name.lower().replace("-", "").replace("_", "").replace("++", "pp")
    if key not in METHODS:
        raise CamError(f"Unknown CAM method {name!r}; choose one of {', '.join(METHODS)}.")
    return METHODS[key]()
