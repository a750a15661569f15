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
        return torch.relu((self.weights(activations, gradients) * activations).sum(dim=2))


class GradCAM(CAMMethod):
    """Grad-CAM (Selvaraju et al. 2017), eq. 1: w_c = mean over pixels of dY/dA_c."""

    name, label = "gradcam", "Grad-CAM"

    def weights(self, activations: torch.Tensor, gradients: torch.Tensor) -> torch.Tensor:
        return gradients.mean(dim=(-2, -1), keepdim=True)


METHODS: dict[str, type[CAMMethod]] = {cls.name: cls for cls in (GradCAM,)}


def get_method(name: str) -> CAMMethod:
    """The CAM method called ``name`` (case-insensitive; ``-``/``_``/``+`` spellings accepted)."""
    key = name.lower().replace("-", "").replace("_", "").replace("++", "pp")
    if key not in METHODS:
        raise CamError(f"Unknown CAM method {name!r}; choose one of {', '.join(METHODS)}.")
    return METHODS[key]()
