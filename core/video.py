"""Videos and rawframes folders: facts about them, and model inputs built by the config's test pipeline."""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from mmengine.config import Config

from core import access, limits
from core.errors import CamError, first_line
from core.geometry import Box, Views, Windows, parse_views

if TYPE_CHECKING:
    import decord

VIDEO_EXTENSIONS = (".mp4", ".avi", ".webm", ".mkv", ".mov", ".m4v", ".mpg", ".mpeg", ".flv", ".wmv", ".gif")
_VIDEO_INIT = ("DecordInit", "PyAVInit", "OpenCVInit", "PIMSInit")
_VIDEO_DECODE = ("DecordDecode", "PyAVDecode", "OpenCVDecode", "PIMSDecode")
_MULTI_CROP = ("ThreeCrop", "TenCrop")


@dataclass
class VideoInfo:
    """What a user wants to know about a video before explaining it."""

    path: str
    frames: int
    fps: float | None
    width: int
    height: int
    is_rawframes: bool = False

    @property
    def duration(self) -> float | None:
        """Length in seconds (None for rawframes, which have no frame rate)."""
        return self.frames / self.fps if self.fps else None


@dataclass
class ClipInputs:
    """A video turned into model inputs, with the geometry needed to map heatmaps back."""

    data: dict
    frames: np.ndarray  # uint8 [V, T, H, W, 3], RGB, the model's input frames
    frame_indices: np.ndarray  # int64 [V, T], 0-based source frame of each input frame
    windows: Windows  # where each view lies in the source video
    fps: float | None
    notes: list[str] = field(default_factory=list)

    @property
    def source_size(self) -> tuple[int, int]:
        """(width, height) of the source video."""
        return self.windows.source_size

    @property
    def crop_box(self) -> Box:
        """(x0, y0, x1, y1) window the views cover together, in source pixels."""
        return self.windows.crop_box

    @property
    def view_boxes(self) -> list[Box]:
        """Each view's window."""
        return list(self.windows.boxes)

    @property
    def view_flips(self) -> list[bool]:
        """Views shown mirrored left-right (TenCrop)."""
        return list(self.windows.flips)


def rawframes_template(cfg: Config | None) -> tuple[str, int]:
    """File name template and first index of rawframes, from the config's test dataset."""
    dataset: dict[str, Any] = {}
    if cfg is not None and "test_dataloader" in cfg:
        dataset = cfg.test_dataloader.get("dataset", {}) or {}
    return dataset.get("filename_tmpl", "img_{:05}.jpg"), int(dataset.get("start_index", 1))


def _count_rawframes(folder: Path, template: str, start_index: int) -> int:
    pattern = re.compile("^" + re.sub(r"\\\{[^}]*\\\}", r"\\d+", re.escape(template)) + "$")
    count = sum(1 for p in folder.iterdir() if pattern.match(p.name))
    if count == 0 or not (folder / template.format(start_index)).is_file():
        raise CamError(f"Folder {folder} holds no frames named like {template.format(start_index)}; "
                       "pass a rawframes folder (or a video file).")
    return count


def _check_path(video: str | Path) -> Path:
    path = access.check(video, "Video")
    if not path.exists():
        raise CamError(f"Video {path} does not exist; pass a video file or a rawframes folder.")
    if path.is_file() and path.stat().st_size == 0:
        raise CamError(f"Video {path} is an empty file; pass a real video.")
    return path


def is_rawframes(folder: str | Path, cfg: Config | None = None) -> bool:
    """True for a rawframes folder: it holds the first frame named by the config's ``filename_tmpl``
    (``img_00001.jpg`` by default). The one answer to "is this a clip of frames?" for every caller."""
    template, start = rawframes_template(cfg)
    try:
        folder = Path(folder)
        return folder.is_dir() and (folder / template.format(start)).is_file()
    except OSError:
        return False


def find_videos(folder: str | Path) -> list[Path]:
    """Video files and rawframes folders directly inside ``folder``, by name."""
    folder = access.check(Path(folder).expanduser(), "Folder")
    if not folder.is_dir():
        raise CamError(f"Folder {folder} does not exist; pick a folder that holds videos.")
    found = [p for p in folder.iterdir()
             if (p.is_file() and p.suffix.lower() in VIDEO_EXTENSIONS) or (p.is_dir() and is_rawframes(p))]
    return sorted(found, key=lambda p: p.name.lower())


def video_reader(path: str | Path) -> decord.VideoReader:
    """A decord ``VideoReader`` of a video file (one thread), or a CamError saying it cannot be decoded or
    that its header declares frames too large to decode (:func:`core.limits.check_video`)."""
    import decord

    access.check(path, "Video")
    limits.check_video(path)
    try:
        reader = decord.VideoReader(str(path), num_threads=1)
    except Exception as err:  # decord raises its own error types for broken files
        raise CamError(f"Video {path} could not be decoded ({first_line(err)}); is it a video file?") from err
    if len(reader) == 0:
        raise CamError(f"Video {path} has no frames; pass a non-empty video.")
    return reader


def read_frames(video: str | Path, indices: list[int], cfg: Config | None = None) -> np.ndarray:
    """Frames ``indices`` (0-based) of a video file or rawframes folder as uint8 RGB ``[N, h, w, 3]``
    (rawframes named by the config's ``filename_tmpl``, default ``img_00001.jpg``)."""
    path = _check_path(video)
    if path.is_dir():
        import cv2

        template, start = rawframes_template(cfg)
        images = []
        for index in indices:
            width, height = limits.check_image(path / template.format(index + start), "Frame")
            limits.check_decoded(len(indices), width * height * 3, f"Rawframes {path}")
            image = cv2.imread(str(path / template.format(index + start)))
            if image is None:
                raise CamError(f"Frame {path / template.format(index + start)} is missing or not an image; "
                               "the rawframes folder does not hold the frames asked for.")
            images.append(cv2.cvtColor(image, cv2.COLOR_BGR2RGB))
        return np.stack(images)
    header = limits.check_video(path)
    limits.check_decoded(len(indices), header.frame_bytes, f"Video {path}")
    reader = video_reader(path)
    if indices and max(indices) >= len(reader):
        raise CamError(f"Video {path} has {len(reader)} frames, so frame {max(indices)} is not in it; "
                       "it is not the video they were made from.")
    return reader.get_batch(list(indices)).asnumpy()


def probe_video(video: str | Path, cfg: Config | None = None) -> VideoInfo:
    """Frames, fps and resolution of a video file or a rawframes folder."""
    path = _check_path(video)
    if path.is_dir():
        template, start = rawframes_template(cfg)
        count = _count_rawframes(path, template, start)
        import cv2

        limits.check_image(path / template.format(start), "Frame")
        first = cv2.imread(str(path / template.format(start)))
        if first is None:
            raise CamError(f"Frame {path / template.format(start)} is not a readable image.")
        return VideoInfo(str(path), count, None, first.shape[1], first.shape[0], is_rawframes=True)
    reader = video_reader(path)
    try:
        frames, (height, width) = len(reader), reader[0].shape[:2]
        fps = float(reader.get_avg_fps()) or None
    except Exception as err:  # decord raises its own error types for broken files
        raise CamError(f"Video {path} could not be decoded ({first_line(err)}); is it a video file?") from err
    return VideoInfo(str(path), frames, fps, width, height)


def config_pipeline(cfg: Config) -> list[dict]:
    """The config's ``test_pipeline`` (else ``test_dataloader.dataset.pipeline``), checked to be a list of
    steps that each name their ``type``."""
    pipeline = cfg.get("test_pipeline")
    if pipeline is None:
        dataset = (cfg.get("test_dataloader") or {}).get("dataset")
        pipeline = dataset.get("pipeline") if isinstance(dataset, dict) else None
    if not pipeline or not isinstance(pipeline, list | tuple):
        raise CamError("The config has no test_pipeline (the list of transforms that turns a video into the "
                       "model's inputs); add one, e.g. from a config of the same model that has it.")
    for index, op in enumerate(pipeline):
        if not isinstance(op, dict) or not isinstance(op.get("type"), str):
            raise CamError(f"The config's test_pipeline[{index}] is {repr(op)[:80]}, not a "
                           "transform with a `type`; fix that step of the config's test_pipeline.")
    return list(pipeline)


def _build_transforms(cfg: Config, ops: list[dict]) -> list:
    """The transforms of ``ops``, or a CamError naming the step of the config's test_pipeline that is wrong."""
    from mmengine.dataset import Compose

    steps = config_pipeline(cfg)
    transforms = []
    for op in ops:
        where = f"test_pipeline[{steps.index(op)}]" if op in steps else "test_pipeline"
        try:
            transforms.extend(Compose([op]).transforms)
        except KeyError as err:
            raise CamError(f"The config's {where} has type {op['type']!r}, which MMAction2 does not know as a "
                           "transform; fix that step of the config's test_pipeline.") from err
        except Exception as err:  # transforms check their arguments with TypeError, ValueError, assert …
            raise CamError(f"The config's {where} ({op['type']}) is invalid ({type(err).__name__}: "
                           f"{first_line(err)}); fix that step of the config's test_pipeline (or set it with "
                           "--cfg-options).") from err
    return transforms


def test_pipeline(cfg: Config, *, views: Views | str = Views.CENTER, rawframes: bool = False,
                  array: bool = False) -> tuple[list[dict], list[str]]:
    """The config's test pipeline adapted to the input: decode ops swapped between video and
    rawframes (or in-memory arrays) when needed, multi-crop ops replaced by CenterCrop when
    ``views="center"``."""
    views = parse_views(views)
    pipeline, notes = _swap_decoding([dict(copy.deepcopy(op)) for op in config_pipeline(cfg)], rawframes=rawframes,
                                     array=array)
    if views is Views.CENTER:
        for i, op in enumerate(pipeline):
            if op["type"] in _MULTI_CROP:
                pipeline[i] = dict(type="CenterCrop", crop_size=op["crop_size"])
    return pipeline, notes


def _swap_decoding(pipeline: list[dict], *, rawframes: bool, array: bool) -> tuple[list[dict], list[str]]:
    """``pipeline`` with its decoding ops swapped for the input (in-memory arrays, rawframes or a video file)
    when the config decodes another kind, and a note saying so."""
    types = [op["type"] for op in pipeline]
    if array:
        return [dict(type="ArrayDecode") if op["type"] in (*_VIDEO_DECODE, "RawFrameDecode") else op
                for op in pipeline if op["type"] not in _VIDEO_INIT], []
    if rawframes and any(t in _VIDEO_DECODE for t in types):
        return ([dict(type="RawFrameDecode") if op["type"] in _VIDEO_DECODE else op
                 for op in pipeline if op["type"] not in _VIDEO_INIT],
                ["the config decodes video files; its decoding was swapped for rawframes"])
    if not rawframes and "RawFrameDecode" in types:
        pipeline = [dict(type="DecordDecode") if op["type"] == "RawFrameDecode" else op for op in pipeline]
        pipeline.insert(0, dict(type="DecordInit"))
        return pipeline, ["the config decodes rawframes; its decoding was swapped for video decoding"]
    return pipeline, []


def build_inputs(cfg: Config, video: str | Path | np.ndarray, *, views: Views | str = Views.CENTER) -> ClipInputs:
    """Run ``video`` (a file, a folder of rawframes, or uint8 RGB frames ``[T, H, W, 3]``)
    through the config's test pipeline."""
    from mmengine.dataset import pseudo_collate
    from mmengine.registry import init_default_scope

    init_default_scope(cfg.get("default_scope", "mmaction"))
    if isinstance(video, np.ndarray):
        if video.ndim != 4 or video.shape[-1] != 3 or len(video) == 0:
            raise CamError(f"Frames must be a uint8 RGB array [T, H, W, 3], not shape {video.shape}.")
        ops, notes = test_pipeline(cfg, views=views, array=True)
        results: dict[str, Any] = dict(array=video, total_frames=len(video), label=-1, start_index=0,
                                       modality="RGB")
        path: str | Path = "<array>"
        frame_bytes = 0  # already in memory
    else:
        path = folder = _check_path(video)
        ops, notes = test_pipeline(cfg, views=views, rawframes=folder.is_dir())
        if folder.is_dir():
            template, start = rawframes_template(cfg)
            results = dict(frame_dir=str(folder), total_frames=_count_rawframes(folder, template, start),
                           label=-1, start_index=start, filename_tmpl=template, modality="RGB")
            width, height = limits.check_image(folder / template.format(start), "Frame")
            frame_bytes = width * height * 3
        else:
            results = dict(filename=str(path), label=-1, start_index=0, modality="RGB")
            frame_bytes = limits.check_video(path).frame_bytes  # before anything is decoded
    transforms = _build_transforms(cfg, ops)
    if not transforms or type(transforms[-1]).__name__ != "PackActionInputs":
        raise CamError("The config's test pipeline does not end with PackActionInputs; "
                       "pass an MMAction2 1.x recognition config.")
    multi_crop = None  # (name, images and their height and width before it) of a ThreeCrop/TenCrop
    for transform in transforms[:-1]:
        step = type(transform).__name__
        if step in _MULTI_CROP:
            multi_crop = (step, len(results["imgs"]), tuple(results["imgs"][0].shape[:2]))
        if step.endswith("Decode") and frame_bytes:  # the frames sampled, at the size the header declares
            limits.check_decoded(np.asarray(results["frame_inds"]).size, frame_bytes, f"Video {path}")
        try:
            results = transform(results)
        except Exception as err:  # decoders and transforms raise many types on bad input
            if step.endswith(("Init", "Decode")):
                raise CamError(f"Video {path} could not be read ({step}: {first_line(err)}); "
                               "is it a valid video file or rawframes folder?") from err
            raise CamError(f"The config's test pipeline failed at {step} on {path} "
                           f"({type(err).__name__}: {first_line(err)}); check the config's test_pipeline.") from err
    start_index = results.get("start_index", 0)
    frames, frame_indices = _frames_and_indices(results)
    packed = transforms[-1](dict(results))
    height, width = results["original_shape"]
    view_boxes, view_flips = _view_windows(results, multi_crop, len(frames))
    return ClipInputs(
        data=pseudo_collate([packed]),
        frames=frames,
        frame_indices=frame_indices - start_index,
        windows=Windows((int(width), int(height)), tuple(view_boxes), tuple(view_flips)),
        fps=float(results["avg_fps"]) if results.get("avg_fps") else None,
        notes=notes,
    )


def _view_windows(results: dict, multi_crop: tuple[str, int, tuple[int, int]] | None,
                  num_views: int) -> tuple[list[tuple[float, float, float, float]], list[bool]]:
    """Each view's window in source pixels, and whether it is mirrored. Crops before a multi-crop op
    leave ``crop_quadruple`` (the window as fractions of the source frame); ThreeCrop/TenCrop leave one
    ``crop_bbox`` per image in the pixels of the image they cut, crop-major like the views."""
    height, width = results["original_shape"]
    qx, qy, qw, qh = (float(v) for v in results.get("crop_quadruple", (0.0, 0.0, 1.0, 1.0)))
    if multi_crop is None:
        box = (qx * width, qy * height, (qx + qw) * width, (qy + qh) * height)
        return [box] * num_views, [False] * num_views
    name, images, (cut_h, cut_w) = multi_crop
    per_image = np.asarray(results["crop_bbox"], dtype=np.float64).reshape(-1, 4)
    boxes = per_image.reshape(num_views, -1, 4)[:, 0]
    sx, sy = qw * width / cut_w, qh * height / cut_h
    windows = [(qx * width + bx0 * sx, qy * height + by0 * sy, qx * width + bx1 * sx, qy * height + by1 * sy)
               for bx0, by0, bx1, by1 in boxes.tolist()]
    clips = num_views // (len(per_image) // images)  # views are crops x clips, crop-major
    # TenCrop puts each crop's mirror right after it
    flips = [name == "TenCrop" and (view // clips) % 2 == 1 for view in range(num_views)]
    return windows, flips


def _frames_and_indices(results: dict) -> tuple[np.ndarray, np.ndarray]:
    """Input frames as uint8 [V, T, H, W, 3] and their source indices [V, T] from pipeline results."""
    imgs = np.asarray(results["imgs"])
    inds = np.asarray(results["frame_inds"]).astype(np.int64).reshape(-1)
    if imgs.ndim == 5:  # NCTHW: [views, C, T, H, W], views = crops x clips (crop-major)
        frames = imgs.transpose(0, 2, 3, 4, 1)
        num_views, clip_len = frames.shape[:2]
        per_clip = inds.reshape(-1, clip_len)
        indices = np.tile(per_clip, (num_views // per_clip.shape[0], 1))
    elif imgs.ndim == 4:  # NCHW: [crops x segments, C, H, W]
        frames = imgs.transpose(0, 2, 3, 1).reshape(-1, inds.size, *imgs.shape[2:], imgs.shape[1])
        indices = np.tile(inds, (frames.shape[0], 1))
    else:
        raise CamError(f"Unsupported input of shape {imgs.shape}; only RGB video recognizers can be explained.")
    if frames.shape[-1] != 3:
        raise CamError("Only RGB inputs can be explained; this config feeds another modality.")
    return np.clip(frames, 0, 255).astype(np.uint8), indices
