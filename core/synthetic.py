"""Synthetic motion clips for the demo model: one object moves, look-alike distractors stay still.

A clip shows one filled object (a disk or a square of "radius" 8-14 px, i.e. half the side of
the square) moving in a straight line at a constant 2-4 px/frame over a static cluttered
background: a blocky random colour texture plus a few static shapes of similar size and colour.
Only the motion tells the class, so an explanation of the right answer must light up the moving
object. Everything is drawn from ``numpy.random.default_rng(seed)``, so a seed is a clip.

Coordinates follow image convention: x to the right, y down, pixel centres at integers.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

DEMO_CLASSES: tuple[str, ...] = ("moving left", "moving right", "moving up", "moving down")
"""Class names of the demo model, in label order."""

DIRECTIONS: dict[str, tuple[int, int]] = {
    "moving left": (-1, 0), "moving right": (1, 0), "moving up": (0, -1), "moving down": (0, 1)}
"""Unit (dx, dy) of each class in image coordinates (right = +x, down = +y)."""

FRAMES_RANGE = (16, 64)
SIZE_RANGE = (96, 256)
RADIUS_RANGE = (8, 14)
SPEED_RANGE = (2.0, 4.0)


@dataclass(frozen=True)
class SyntheticClip:
    """One generated clip and the ground truth needed to score its explanation."""

    frames: np.ndarray
    """uint8 RGB frames, shape [T, H, W, 3]."""
    label: int
    """Index into :data:`DEMO_CLASSES`."""
    label_name: str
    centers: np.ndarray
    """float64 [T, 2]: the moving object's centre (x, y) in each frame."""
    radius: int
    """Half the object's extent in pixels (disk radius or half the square's side)."""
    speed: float
    """Pixels per frame along the class direction."""
    shape: str
    """``"disk"`` or ``"square"``."""


def _coverage(shape: str, dx: np.ndarray, dy: np.ndarray, radius: float) -> np.ndarray:
    """Anti-aliased fraction of each pixel covered by the shape centred at offset (0, 0)."""
    if shape == "disk":
        return np.clip(radius + 0.5 - np.hypot(dx, dy), 0.0, 1.0)
    return np.clip(radius + 0.5 - np.abs(dx), 0.0, 1.0) * np.clip(radius + 0.5 - np.abs(dy), 0.0, 1.0)


def _draw(image: np.ndarray, shape: str, center: tuple[float, float], radius: float,
          colour: np.ndarray) -> None:
    """Blend a filled shape into ``image`` (float32 [H, W, 3]) in place, with sub-pixel position."""
    height, width = image.shape[:2]
    cx, cy = center
    x0, x1 = max(int(np.floor(cx - radius - 1)), 0), min(int(np.ceil(cx + radius + 2)), width)
    y0, y1 = max(int(np.floor(cy - radius - 1)), 0), min(int(np.ceil(cy + radius + 2)), height)
    if x0 >= x1 or y0 >= y1:
        return
    ys, xs = np.mgrid[y0:y1, x0:x1].astype(np.float32)
    alpha = _coverage(shape, xs - cx, ys - cy, radius)[..., None]
    patch = image[y0:y1, x0:x1]
    patch *= 1.0 - alpha
    patch += alpha * colour


def _background(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """Blocky random colour texture: two grids of random-colour blocks, one coarse, one fine."""
    image = np.zeros((height, width, 3), np.float32)
    for weight, block in ((0.6, int(rng.integers(16, 33))), (0.4, int(rng.integers(6, 13)))):
        grid = rng.integers(0, 256, size=(-(-height // block), -(-width // block), 3)).astype(np.float32)
        image += weight * np.repeat(np.repeat(grid, block, axis=0), block, axis=1)[:height, :width]
    return image


def _pick_size(rng: np.random.Generator, size: int | tuple[int, int] | None) -> tuple[int, int]:
    if size is None:
        height = 2 * int(rng.integers(SIZE_RANGE[0] // 2, SIZE_RANGE[1] // 2 + 1))
        width = height if rng.random() < 0.3 else 2 * int(rng.integers(SIZE_RANGE[0] // 2,
                                                                       SIZE_RANGE[1] // 2 + 1))
        return height, width
    if isinstance(size, int):
        return size, size
    height, width = size
    return int(height), int(width)


def make_clip(seed: int, *, label: int | None = None, frames: int | None = None,
              size: int | tuple[int, int] | None = None, clutter: float = 1.0) -> SyntheticClip:
    """Generate the clip of ``seed``; ``label``, ``frames`` and ``size`` fix what is otherwise random.

    ``clutter`` in [0, 1] scales the background's contrast and the number of distractors (1 is the
    task; training starts lower as a curriculum); it draws the same random numbers at any value.

    ``size`` is an int (square) or ``(height, width)``. Random sizes are even (so the clip can be
    written as H.264), random frame counts are chosen so the whole path stays inside the frame.
    Raises ``ValueError`` when the requested frames cannot fit the slowest object in the frame.
    """
    rng = np.random.default_rng(seed)
    label = int(rng.integers(len(DEMO_CLASSES))) if label is None else int(label)
    if not 0 <= label < len(DEMO_CLASSES):
        raise ValueError(f"label must be in 0..{len(DEMO_CLASSES) - 1}, got {label}")
    name = DEMO_CLASSES[label]
    dx, dy = DIRECTIONS[name]
    radius = int(rng.integers(RADIUS_RANGE[0], RADIUS_RANGE[1] + 1))
    height, width = _pick_size(rng, size)
    along = width if dx else height
    if frames is None:
        longest = int((along - 2 * radius - 2) // SPEED_RANGE[0]) + 1
        frames = int(rng.integers(FRAMES_RANGE[0], max(min(FRAMES_RANGE[1], longest), FRAMES_RANGE[0]) + 1))
    room = along - 2 * radius - 2  # the path must keep the whole object one pixel inside the frame
    fastest = min(SPEED_RANGE[1], room / max(frames - 1, 1))
    if fastest < SPEED_RANGE[0]:
        raise ValueError(f"{frames} frames at {SPEED_RANGE[0]:g} px/frame do not fit a radius-{radius} "
                         f"object moving across {along} px")
    speed = float(rng.uniform(SPEED_RANGE[0], fastest))
    travel = speed * (frames - 1)
    start_along = radius + 1 + rng.uniform(0, room - travel)
    if dx < 0 or dy < 0:
        start_along = along - 1 - start_along
    across = width if dy else height
    start_across = rng.uniform(radius + 1, across - radius - 2)
    start = (start_along, start_across) if dx else (start_across, start_along)
    steps = np.arange(frames, dtype=np.float64)[:, None]
    centers = np.asarray(start, np.float64)[None] + steps * speed * np.array([dx, dy], np.float64)

    shape = "disk" if rng.random() < 0.5 else "square"
    colour = rng.integers(0, 256, size=3).astype(np.float32)
    background = _background(rng, height, width)
    background = 128.0 + clutter * (background - 128.0)
    twins = int(rng.integers(3, 7))
    for index in range(twins):
        twin = np.clip(colour + rng.normal(0, 20, size=3), 0, 255).astype(np.float32)
        twin_radius = int(rng.integers(RADIUS_RANGE[0], RADIUS_RANGE[1] + 1))
        twin_shape = "disk" if rng.random() < 0.5 else "square"
        twin_center = (rng.uniform(0, width), rng.uniform(0, height))
        if index < round(clutter * twins):
            _draw(background, twin_shape, twin_center, twin_radius, twin)

    video = np.empty((frames, height, width, 3), np.uint8)
    for index, center in enumerate(centers):
        image = background.copy()
        _draw(image, shape, (center[0], center[1]), radius, colour)
        video[index] = np.clip(np.rint(image), 0, 255).astype(np.uint8)
    return SyntheticClip(frames=video, label=label, label_name=name, centers=centers, radius=radius,
                         speed=speed, shape=shape)
