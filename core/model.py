"""Load an MMAction2 recognizer from its config and checkpoint, without fetching any weights."""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from mmengine.config import Config

from core import access
from core.checkpoint import classes_of, load_weights, read_checkpoint, state_dict_of
from core.errors import CamError
from core.tin import ensure_tin_shift


@dataclass
class ModelHandle:
    """A loaded recognizer in eval mode with what explaining it needs."""

    model: torch.nn.Module
    cfg: Config
    classes: list[str]
    device: torch.device
    config: str
    checkpoint: str | None
    _cache: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def is_2d(self) -> bool:
        """True for frame-wise (2D) recognizers, whose backbone sees ``[N*T, C, H, W]``."""
        from mmaction.models.recognizers import Recognizer2D

        return isinstance(self.model, Recognizer2D)

    @property
    def num_classes(self) -> int:
        return len(self.classes)


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """``"auto"`` is the first CUDA device when there is one, else the CPU."""
    if str(device) == "auto":
        return torch.device("cuda:0" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except RuntimeError:
        raise CamError(f"Unknown device {device!r}; use auto, cpu or cuda[:N].") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise CamError(f"Device {device} was asked for but this machine has no CUDA GPU; use --device cpu.")
    return dev


# Switches that make a backbone load weights in init_weights() even with ``pretrained=None``
# (TSM/TIN ``pretrained2d``, Swin ``pretrained2d``, UniFormerV2 ``clip_pretrained``).
_LOADING_FLAGS = ("pretrained2d", "clip_pretrained")


def _strip_pretrained(node: Any) -> Any:
    """Remove every ``pretrained=`` URL and ``Pretrained`` init so building never downloads."""
    if isinstance(node, dict):
        out = {}
        for key, value in node.items():
            if key == "pretrained" and isinstance(value, str):
                out[key] = None
            elif key == "init_cfg" and _is_pretrained_init(value):
                continue
            else:
                out[key] = _strip_pretrained(value)
        for flag in _accepted_flags(out.get("type")):
            out[flag] = False
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
                params |= set(inspect.signature(base.__init__).parameters)
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
    if isinstance(config, Config):
        cfg = copy.deepcopy(config)
    else:
        path = access.check(config, "Config")
        if not path.is_file():
            raise CamError(f"Config {path} does not exist; pass an MMAction2 config .py file.")
        try:  # imports checked below, before anything is imported
            cfg = Config.fromfile(str(path), import_custom_modules=False)
        except Exception as err:  # mmengine raises many types for a broken config
            raise CamError(f"Config {path} could not be read ({type(err).__name__}: {err}).") from None
        access.import_config_modules(cfg, path, trust=trust)
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    if "model" not in cfg:
        raise CamError("The config has no `model`; pass an MMAction2 recognition config.")
    return cfg


def read_label_map(path: str | Path) -> list[str]:
    """Class names from a label-map txt, one class per line (blank lines skipped)."""
    path = access.check(path, "Label map")
    if not path.is_file():
        raise CamError(f"Label map {path} does not exist; pass a txt file with one class name per line.")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise CamError(f"Label map {path} cannot be read as text ({type(err).__name__}).") from None
    names = [line.strip() for line in text.splitlines() if line.strip()]
    if not names:
        raise CamError(f"Label map {path} is empty; it needs one class name per line.")
    return names


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
            raise CamError(f"The config names a model part MMAction2 does not know: {err}.") from None
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
    dev = resolve_device(device)
    model = _build(cfg, seed)
    classes = None
    if checkpoint is not None:
        ckpt = read_checkpoint(checkpoint, trust_checkpoint=trust_checkpoint)
        load_weights(model, state_dict_of(ckpt), str(checkpoint))
        classes = classes_of(ckpt)
    num_classes = _num_classes(model.cls_head)
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
