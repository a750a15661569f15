"""Load an MMAction2 recognizer from its config and checkpoint, without fetching any weights."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from mmengine.config import Config

from core import access
from core.checkpoint import classes_of, load_weights, read_checkpoint, state_dict_of
from core.config_types import check_types
from core.errors import CamError, first_line
from core.layers import probe_shapes
from core.reshape import BackboneInput, backbone_input
from core.tin import ensure_tin_shift
from core.video import build_inputs


@dataclass(frozen=True)
class ModelProbe:
    """What one grey probe clip (one view of the config's test pipeline) shows about a model."""

    shapes: tuple[tuple[str, tuple[int, ...]], ...]  # every module's output shape, in execution order
    backbone_input: BackboneInput  # the input the backbone saw, to read layer outputs as feature maps


@dataclass
class ModelHandle:
    """A loaded recognizer in eval mode with what explaining it needs."""

    model: torch.nn.Module
    cfg: Config
    classes: list[str]
    device: torch.device
    config: str
    checkpoint: str | None
    _probe: ModelProbe | None = field(default=None, init=False, repr=False, compare=False)

    @property
    def is_2d(self) -> bool:
        """True for frame-wise (2D) recognizers, whose backbone sees ``[N*T, C, H, W]``."""
        from mmaction.models.recognizers import Recognizer2D

        return isinstance(self.model, Recognizer2D)

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def family(self) -> str:
        """The backbone's class name (``ResNet3dSlowFast``, ``MViT`` …): the key of per-family rules."""
        return type(getattr(self.model, "backbone", None)).__name__

    def probe(self) -> ModelProbe:
        """Run a grey probe clip through the model once (on first call; kept after) and record every
        module's output shape and the backbone's input: what choosing and listing layers needs."""
        if self._probe is None:
            clip = build_inputs(self.cfg, np.full((64, 256, 320, 3), 128, np.uint8))
            if not self.is_2d:
                clip.data["inputs"] = [x[:1] for x in clip.data["inputs"]]
            model: Any = self.model  # an MMAction2 recognizer: data_preprocessor, backbone, cls_head
            data = model.data_preprocessor(clip.data, False)
            shapes = probe_shapes(model, lambda: class_scores(self, data))
            self._probe = ModelProbe(tuple(shapes), backbone_input(model.backbone, data["inputs"], self.is_2d))
        return self._probe


@contextmanager
def repeatable_numpy(seed: int = 0) -> Iterator[None]:
    """Seed numpy's global random state for a forward pass and put the caller's state back after.

    Some heads draw from numpy even at test time (TRN's multi-scale relations), so the same video
    would otherwise get other scores and maps on every run."""
    state = np.random.get_state()
    np.random.seed(seed)
    try:
        yield
    finally:
        np.random.set_state(state)


def class_scores(handle: ModelHandle, data: dict) -> torch.Tensor:
    """Per-view class scores ``[K, C]`` through the model's own feature and head code (numpy seeded:
    see :func:`repeatable_numpy`)."""
    model: Any = handle.model
    with repeatable_numpy():
        out = model.extract_feat(data["inputs"], test_mode=True)
        feats, kwargs = out if isinstance(out, tuple) and len(out) == 2 and isinstance(out[1], dict) else (out, {})
        return model.cls_head(feats, **kwargs).reshape(-1, handle.num_classes)


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """``"auto"`` is the first CUDA device when there is one, else the CPU."""
    if str(device) == "auto":
        return torch.device("cuda:0" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except RuntimeError as err:
        raise CamError(f"Unknown device {device!r}; use auto, cpu or cuda[:N].") from err
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise CamError(f"Device {device} was asked for but this machine has no CUDA GPU; use --device cpu.")
    return dev


# Switches that make a backbone load weights in init_weights() even with ``pretrained=None``, and the
# value that turns them off (TSM/TIN/Swin ``pretrained2d``, UniFormerV2 ``clip_pretrained``, MViT's
# ``pretrained_type="maskfeat"``, which reads ``init_cfg["checkpoint"]``).
_LOADING_FLAGS: dict[str, Any] = {"pretrained2d": False, "clip_pretrained": False, "pretrained_type": None}


def _strip_pretrained(node: Any) -> Any:
    """Remove every ``pretrained=`` URL and ``Pretrained`` init so building never downloads."""
    if isinstance(node, dict):
        out: dict[str, Any] = {}
        for key, value in node.items():
            if key == "pretrained" and isinstance(value, str):
                out[key] = None
            elif key == "init_cfg" and _is_pretrained_init(value):
                continue
            else:
                out[key] = _strip_pretrained(value)
        for flag in _accepted_flags(out.get("type")):
            out[flag] = _LOADING_FLAGS[flag]
        return out
    if isinstance(node, list | tuple):
        return type(node)(_strip_pretrained(v) for v in node)
    return node


def _accepted_flags(type_name: Any) -> list[str]:
    """The weight-loading switches that the registered class ``type_name`` (or a base class) accepts."""
    if not isinstance(type_name, str):
        return []
    import inspect

    from mmaction.registry import MODELS

    cls = MODELS.get(type_name)
    if not inspect.isclass(cls):
        return []
    params = set()
    for base in cls.__mro__:
        if "__init__" in vars(base):
            try:
                params |= set(inspect.signature(vars(base)["__init__"]).parameters)
            except (TypeError, ValueError):
                continue
    return [flag for flag in _LOADING_FLAGS if flag in params]


def _is_pretrained_init(init_cfg: Any) -> bool:
    items = init_cfg if isinstance(init_cfg, list) else [init_cfg]
    return any(isinstance(i, dict) and i.get("type") == "Pretrained" for i in items)


def load_config(config: str | Path | Config, cfg_options: dict | None = None, *, trust: bool = False) -> Config:
    """Read an MMAction2 config file (or copy a Config) and apply ``--cfg-options`` style overrides.

    ``custom_imports`` outside MMAction2's packages are refused unless ``trust`` (importing runs code).
    """
    if isinstance(config, Config):  # e.g. a batch's config shipped to Ray workers: its imports happen here too
        cfg = copy.deepcopy(config)
        access.import_config_modules(cfg, cfg.filename or "(config object)", trust=trust)
    else:
        path = access.check(config, "Config")
        if not path.is_file():
            raise CamError(f"Config {path} does not exist; pass an MMAction2 config .py file.")
        try:  # imports checked below, before anything is imported
            cfg = Config.fromfile(str(path), import_custom_modules=False)
        except Exception as err:  # mmengine raises many types for a broken config
            raise CamError(f"Config {path} could not be read ({type(err).__name__}: {err}).") from err
        access.import_config_modules(cfg, path, trust=trust)
    if cfg_options:
        try:
            cfg.merge_from_dict(_with_pipeline_twins(cfg, cfg_options))
        except (KeyError, IndexError, TypeError, ValueError, AttributeError) as err:
            raise CamError(f"--cfg-options {', '.join(cfg_options)} could not be applied to the config "
                           f"({first_line(err)}); check the keys against the config.") from err
        if any(key == "custom_imports" or key.startswith("custom_imports.") for key in cfg_options):
            access.import_config_modules(cfg, "--cfg-options", trust=trust)  # the same check as in a file
    check_types(cfg, cfg.filename or "(config object)")
    if not isinstance(cfg.get("model"), dict):
        raise CamError("The config has no `model` settings; pass an MMAction2 recognition config.")
    return cfg


# The two places a config keeps its test pipeline: inputs are built from the first (as MMAction2's
# vis_cam.py and inference_recognizer do), tools/test.py builds the second; configs set them equal.
_PIPELINES = ("test_pipeline", "test_dataloader.dataset.pipeline")


def _lookup(cfg: Config, dotted: str) -> Any:
    node: Any = cfg
    for part in dotted.split("."):
        node = node.get(part) if isinstance(node, dict | Config) else None
    return node


def _with_pipeline_twins(cfg: Config, options: dict) -> dict:
    """``--cfg-options`` for one place of the test pipeline, also applied to the other while the config
    keeps the two equal (``test_dataloader.dataset.pipeline.1.num_clips=1`` changes the inputs too);
    refused with the key that works when they differ and the one changed is not the one used."""
    used, other = (_lookup(cfg, key) for key in _PIPELINES)
    out = dict(options)
    for key, value in options.items():
        for source, twin in (_PIPELINES, _PIPELINES[::-1]):
            if key != source and not key.startswith(source + "."):
                continue
            if used is not None and other is not None and used == other:
                out.setdefault(twin + key[len(source):], value)
            elif source == _PIPELINES[1] and used is not None:
                raise CamError(f"--cfg-options {key} would be ignored: inputs are built from the config's "
                               f"test_pipeline, which differs from {source} here; set "
                               f"{_PIPELINES[0] + key[len(source):]} instead.")
    return out


def read_label_map(path: str | Path) -> list[str]:
    """Class names from a label-map txt, one class per line (blank lines skipped)."""
    path = access.check(path, "Label map")
    if not path.is_file():
        raise CamError(f"Label map {path} does not exist; pass a txt file with one class name per line.")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise CamError(f"Label map {path} cannot be read as text ({type(err).__name__}).") from err
    names = [line.strip() for line in text.splitlines() if line.strip()]
    if not names:
        raise CamError(f"Label map {path} is empty; it needs one class name per line.")
    return names


# Model parts MMAction2 registers only when an optional package imports.
_OPTIONAL_PARTS = {"MobileOneTSM": "mmpretrain"}


def check_rgb(cfg: Config) -> None:
    """Refuse configs whose model reads another modality than RGB frames (optical flow, audio, poses)."""
    dataset = _lookup(cfg, "test_dataloader.dataset")
    modality = dataset.get("modality", "RGB") if isinstance(dataset, dict) else "RGB"
    mean = _lookup(cfg, "model.data_preprocessor.mean")
    channels = len(mean) if isinstance(mean, list | tuple) else 3
    if modality != "RGB" or channels != 3:
        kind = f"modality {modality}" if modality != "RGB" else f"{channels}-channel inputs"
        raise CamError(f"This config's model reads {kind}, not RGB frames; only RGB recognition configs "
                       "can be explained.")


def _build(cfg: Config, seed: int) -> torch.nn.Module:
    from mmaction.registry import MODELS
    from mmengine.logging import MMLogger
    from mmengine.registry import init_default_scope

    if MMLogger.check_instance_created("mmaction_cam"):  # silence init_weights chatter
        MMLogger.get_instance("mmaction_cam")
    else:
        MMLogger.get_instance("mmaction_cam", log_level="ERROR")
    init_default_scope(cfg.get("default_scope", "mmaction"))
    ensure_tin_shift()
    model_cfg = _strip_pretrained(cfg.model.to_dict() if hasattr(cfg.model, "to_dict") else dict(cfg.model))
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        try:
            model = MODELS.build(model_cfg)
        except KeyError as err:
            name = str(err.args[0]).split(" ", 1)[0] if err.args else ""
            hint = (f" (MMAction2 registers {name} only when {_OPTIONAL_PARTS[name]} is installed)"
                    if name in _OPTIONAL_PARTS else "")
            raise CamError(f"The config names a model part MMAction2 does not know: {name or err}{hint}; "
                           "check the model's `type` settings.") from err
        except ImportError as err:  # backbones from mmpretrain, mmcls, timm or torchvision
            raise CamError(f"The config's model needs a package that is not installed ({first_line(err)}); "
                           "install it or pick a config with an MMAction2 backbone.") from err
        except Exception as err:  # a wrong field: mmengine re-raises the class's TypeError, ValueError …
            raise CamError(f"The config's model cannot be built ({type(err).__name__}: {first_line(err, 300)}); "
                           "fix the model settings in the config.") from err
        model.init_weights()
    if not hasattr(model, "cls_head") or model.cls_head is None:
        raise CamError("The config's model has no classification head; only recognizers can be explained.")
    return model


def _num_classes(head: torch.nn.Module) -> int | None:
    """Classes of the head's video scores (OmniSource's head also has an image classifier)."""
    video = getattr(head, "fc3d", None)
    if isinstance(video, torch.nn.Sequential) and isinstance(video[-1], torch.nn.Linear):
        return video[-1].out_features
    return int(getattr(head, "num_classes", 0)) or None


def test_dataset(cfg: Config) -> dict:
    """The config's test dataset, unwrapped from ``RepeatDataset``/``ConcatDataset`` (its first part)."""
    dataset = (cfg.get("test_dataloader") or {}).get("dataset") or {}
    while isinstance(dataset, dict) and ("dataset" in dataset or "datasets" in dataset):
        dataset = dataset.get("dataset") or dataset["datasets"][0]
    return dataset if isinstance(dataset, dict) else {}


def config_classes(cfg: Config) -> list[str] | None:
    """The class names a config states: its ``dataset_meta.classes``, else its test dataset's
    ``metainfo.classes``; None when it names none."""
    classes = (cfg.get("dataset_meta") or {}).get("classes") or (test_dataset(cfg).get("metainfo") or {}).get("classes")
    return [str(c) for c in classes] if classes else None


def load_model(
    config: str | Path | Config,
    checkpoint: str | Path | None = None,
    device: str | torch.device = "auto",
    *,
    label_map: str | Path | None = None,
    cfg_options: dict | None = None,
    trust_checkpoint: bool = False,
    seed: int = 0,
) -> ModelHandle:
    """Build the recognizer of ``config`` and load ``checkpoint`` (random weights when None).

    Class names come from ``label_map`` (one per line), else the checkpoint's
    ``meta.dataset_meta.classes``, else the config's (:func:`config_classes`, when they fit the head), else
    ``class_0 …``.
    """
    cfg = load_config(config, cfg_options, trust=trust_checkpoint)
    check_rgb(cfg)
    dev = resolve_device(device)
    model = _build(cfg, seed)
    classes = None
    if checkpoint is not None:
        ckpt = read_checkpoint(checkpoint, trust_checkpoint=trust_checkpoint)
        load_weights(model, state_dict_of(ckpt), str(checkpoint))
        classes = classes_of(ckpt)
    num_classes = _num_classes(model.get_submodule("cls_head"))
    if label_map is not None:
        classes = read_label_map(label_map)
    if classes is None and (named := config_classes(cfg)) is not None and len(named) == num_classes:
        classes = named  # MMAction2's runner often saves an empty dataset_meta; the config still names them
    if classes is None:
        classes = [f"class_{i}" for i in range(num_classes or 0)]
    if num_classes is not None and len(classes) != num_classes:
        raise CamError(f"The model has {num_classes} classes but the class names list {len(classes)}; "
                       "pass the label map the model was trained with.")
    model.cfg = cfg
    model.to(dev).eval()
    return ModelHandle(model=model, cfg=cfg, classes=classes, device=dev, config=str(config),
                       checkpoint=str(checkpoint) if checkpoint is not None else None)
