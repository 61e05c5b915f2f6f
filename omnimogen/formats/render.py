"""Render motions as stick figures: an animation (``.gif``, ``.mp4``) or a still contact sheet (``.png``).

Headless by construction: figures are plain ``matplotlib.figure.Figure`` objects on an Agg canvas, never
pyplot, so rendering needs no display and leaves the caller's backend and open figures alone.

Speed: the camera is fixed, so the floor, the faint full paths, the titles and the caption are drawn once;
each frame restores that background and draws only the moving artists (blitting). The RGB frames go
straight to Pillow (quantised to one shared palette, which is faster than matplotlib's PillowWriter and
does not flicker) or to an ffmpeg pipe.

Coordinates: motions are metres, Y up, facing +Z (HumanML3D). Matplotlib's 3-D axes are Z up, so a point
(X, Y, Z) is drawn at (X, -Z, Y): a proper rotation, so nothing is mirrored, and a motion that starts
facing +Z faces the default camera.
"""

from __future__ import annotations

import itertools
import math
import os
import shutil
import subprocess
import textwrap
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from mpl_toolkits.mplot3d import proj3d
from mpl_toolkits.mplot3d.art3d import Poly3DCollection
from PIL import Image

from ..errors import FormatError, MotionError, check_number
from ..fileio import atomic_path
from ..motion.features import FPS
from ..motion.skeleton import SMPL22, Skeleton

SUPPORTED = (".gif", ".mp4", ".png")
DPI = 100
PANEL_PX = 360  # side of one animation panel, pixels
SHEET_PANEL_PX = 240  # side of one contact-sheet panel, pixels
SHEET_FRAMES = 6  # poses per motion on a PNG contact sheet
CAPTION_LINE_PX = 18
TITLE_PX = 20
FOOTER_PX = 14  # room for the clock under the panels
# Colour families, darker for the first chain of a side (legs in SMPL22), lighter for the next (arms).
LEFT_COLOURS = ("#1f4e9c", "#4f8fe0", "#8ab8f0")
RIGHT_COLOURS = ("#b3261e", "#f07b3f", "#f5a97a")
MIDLINE_COLOURS = ("#2e2e2e", "#6b6b6b")
FLOOR_COLOURS = ("#e9e9e9", "#cfcfcf")
PATH_COLOUR = "#2a9d5c"
DOT_COLOUR = "#222222"
CLOCK_COLOUR = "#555555"


def render(
    motions,
    path: str | os.PathLike,
    *,
    titles: Sequence[str] | None = None,
    caption: str | None = None,
    fps: float | None = None,
    skeleton: Skeleton = SMPL22,
    elev: float = 20.0,
    azim: float = -60.0,
    trail: bool = True,
    max_frames: int | None = None,
) -> Path:
    """Render one motion, or several side by side, to ``path``; the extension picks the output.

    ``motions`` is a joints array (T, J, 3) in metres, Y up, or a list of them, or objects with a
    ``.joints`` attribute (and optionally ``.fps`` and ``.caption``). Motions of different lengths play
    together for as long as the longest; the shorter ones hold their last pose. All panels share one fixed
    camera and one scale, so sizes and distances compare across panels.

    ``titles`` label the panels; without them each motion's ``.caption`` is used (for a single motion it
    becomes the figure caption instead). ``fps`` defaults to the motions' ``.fps`` or 20. ``trail`` draws
    the root path on the floor (the whole path faint, the part walked so far bold). ``max_frames`` caps the
    number of frames of an animation by keeping every k-th frame, for fast previews; playback stays real
    time. ``.png`` writes a contact sheet: one row per motion, six evenly spaced poses.

    The file is written atomically: a failed render leaves nothing at ``path``. Returns ``path``.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in SUPPORTED:
        raise FormatError(f"Cannot render {path}: unsupported extension {suffix!r}, use one of {SUPPORTED}.")
    if suffix == ".mp4" and shutil.which("ffmpeg") is None:
        raise FormatError(f"Cannot render {path}: writing .mp4 needs ffmpeg on the PATH; install it or use .gif.")
    if max_frames is not None:
        check_number("max_frames", max_frames, 1, integer=True)
    items = list(motions) if isinstance(motions, list | tuple) else [motions]
    if not items:
        raise MotionError(f"Cannot render {path}: no motion was given.")
    joints = [_joints(item, skeleton, path, i, len(items)) for i, item in enumerate(items)]
    titles, caption = _labels(items, titles, caption)
    fps = _frame_rate(items, fps, path)
    look = _Look(skeleton, (elev, azim), trail)
    with atomic_path(path) as tmp:
        if suffix == ".png":
            _write_sheet(joints, titles, caption, fps, look, tmp)
        else:
            _write_animation(joints, titles, caption, fps, look, max_frames, tmp, path)
    return path


def _joints(item, skeleton: Skeleton, path: Path, index: int, count: int) -> np.ndarray:
    """The (T, J, 3) float array of one input, or a MotionError that says what is wrong with it."""
    data = getattr(item, "joints", item)
    if hasattr(data, "detach"):  # a torch tensor
        data = data.detach().cpu().numpy()
    what = f"Cannot render {path}: motion {index + 1} of {count}" if count > 1 else f"Cannot render {path}: the motion"
    try:
        arr = np.asarray(data, dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise MotionError(f"{what} is not a numeric array of joint positions ({err}).") from None
    expected = (skeleton.num_joints, 3)
    if arr.ndim != 3 or arr.shape[1:] != expected:
        raise MotionError(
            f"{what} has shape {arr.shape}, expected (frames, {expected[0]}, 3) joint positions "
            f"for skeleton {skeleton.name!r}."
        )
    if len(arr) == 0:
        raise MotionError(f"{what} has zero frames.")
    bad = ~np.isfinite(arr)
    if bad.any():
        raise MotionError(f"{what} contains NaN or infinite values (first in frame {np.argwhere(bad)[0][0]}).")
    return arr


def _labels(items: list, titles: Sequence[str] | None, caption: str | None) -> tuple[list[str], str | None]:
    """Panel titles and figure caption, falling back to the motions' own ``.caption`` where one is set."""
    if titles is not None:
        titles = list(titles)
        if len(titles) != len(items):
            raise ValueError(f"got {len(titles)} titles for {len(items)} motions")
        return titles, caption
    own = [getattr(item, "caption", None) or "" for item in items]
    if len(items) == 1 and caption is None:
        return [""], own[0] or None
    return own, caption


def _frame_rate(items: list, fps: float | None, path: Path) -> float:
    """The explicit ``fps``, else the one frame rate the motions carry, else HumanML3D's 20."""
    if fps is not None:
        if fps <= 0:
            raise ValueError(f"fps must be positive, got {fps}")
        return float(fps)
    rates = {float(item.fps) for item in items if getattr(item, "fps", None)}
    if len(rates) > 1:
        raise MotionError(f"Cannot render {path}: the motions have different frame rates {sorted(rates)}.")
    return rates.pop() if rates else float(FPS)


@dataclass(frozen=True)
class _Look:
    """How every panel is drawn: which skeleton, from where, with or without the root path."""

    skeleton: Skeleton
    view: tuple[float, float]  # elevation and azimuth of the camera, degrees
    trail: bool


@dataclass
class _PanelSpec:
    joints: np.ndarray  # (T, J, 3) metres, Y up
    title: str
    frame: int | None = None  # a fixed pose (contact sheet); None follows the animation


def _to_plot(points: np.ndarray) -> np.ndarray:
    """Y-up motion coordinates (X, Y, Z) -> matplotlib's Z-up (X, -Z, Y); a rotation, not a mirror."""
    return np.stack([points[..., 0], -points[..., 2], points[..., 1]], axis=-1)


def _chain_colours(skeleton: Skeleton) -> list[str]:
    """Left chains in blues, right chains in reds, midline chains in greys.

    A chain's side is read from the skeleton's ``face_joints`` (right hip, left hip, right shoulder, left
    shoulder): a chain that reaches one of them or their descendants belongs to that side.
    """
    children: dict[int, list[int]] = {}
    for joint, parent in enumerate(skeleton.parents):
        children.setdefault(parent, []).append(joint)

    def subtree(root: int) -> set[int]:
        found, stack = set(), [root]
        while stack:
            joint = stack.pop()
            found.add(joint)
            stack.extend(children.get(joint, []))
        return found

    right_hip, left_hip, right_shoulder, left_shoulder = skeleton.face_joints
    left = subtree(left_hip) | subtree(left_shoulder)
    right = subtree(right_hip) | subtree(right_shoulder)
    used = {"left": 0, "right": 0, "mid": 0}
    families = {"left": LEFT_COLOURS, "right": RIGHT_COLOURS, "mid": MIDLINE_COLOURS}
    colours = []
    for chain in skeleton.chains:
        side = "left" if left & set(chain) else "right" if right & set(chain) else "mid"
        family = families[side]
        colours.append(family[min(used[side], len(family) - 1)])
        used[side] += 1
    return colours


def _floor_tiles(lo: np.ndarray, hi: np.ndarray) -> tuple[list[np.ndarray], list[str], np.ndarray, np.ndarray]:
    """Checkerboard squares on the floor covering [lo, hi] (plot x, y), with a tile size that keeps the
    board at most ~24 tiles across so long walks stay cheap to draw. Returns the squares, their colours
    and the board's corners (which become the axis limits)."""
    span = float(np.max(hi - lo))
    size = next(s for s in (0.25, 0.5, 1.0, 2.0, 5.0, 10.0) if span / s <= 24)
    lo = np.floor(lo / size) * size
    hi = np.ceil(hi / size) * size
    squares, colours = [], []
    for i, x in enumerate(np.arange(lo[0], hi[0] - size / 2, size)):
        for j, y in enumerate(np.arange(lo[1], hi[1] - size / 2, size)):
            squares.append(np.array([[x, y, 0], [x + size, y, 0], [x + size, y + size, 0], [x, y + size, 0]]))
            colours.append(FLOOR_COLOURS[(i + j) % 2])
    return squares, colours, lo, hi


def _projected_ratio(extent: list[float], elev: float, azim: float) -> float:
    """Height over width of a box with these (x, y, z) extents seen by an orthographic camera.

    Panels take this shape, so a long walk gets a wide, low panel instead of a square one that is
    mostly empty sky.
    """
    e, a = np.radians(elev), np.radians(azim)
    width = extent[0] * abs(np.sin(a)) + extent[1] * abs(np.cos(a))
    height = np.sin(e) * (extent[0] * abs(np.cos(a)) + extent[1] * abs(np.sin(a))) + extent[2] * np.cos(e)
    return float(height / width)


class _Scene:
    """One figure with a 3-D panel per spec; its artists are built once and moved to each frame.

    Layout in pixels, top to bottom: the wrapped caption, then per row of panels a title line and the
    panels, as wide as ``panel_px`` and as tall as the scene seen from the camera needs. With ``animated``
    the moving artists are left out of the full draw and blitted per frame over a cached background;
    without it (the contact sheet) the figure is drawn once, whole.
    """

    def __init__(
        self,
        specs: list[_PanelSpec],
        *,
        rows: int,
        panel_px: int,
        caption: str | None,
        look: _Look,
        animated: bool,
    ):
        every = np.concatenate([_to_plot(s.joints).reshape(-1, 3) for s in specs])
        lo, hi = every.min(axis=0), every.max(axis=0)
        squares, colours, floor_lo, floor_hi = _floor_tiles(lo[:2] - 0.3, hi[:2] + 0.3)
        limits = [
            (floor_lo[0], floor_hi[0]),
            (floor_lo[1], floor_hi[1]),
            (min(lo[2], 0.0), max(hi[2], 1.0) + 0.1),
        ]
        aspect = [b - a for a, b in limits]  # equal scale on all three axes

        cols = math.ceil(len(specs) / rows)
        width = cols * panel_px
        panel_h = round(panel_px * np.clip(_projected_ratio(aspect, *look.view), 0.5, 1.25))
        title_px = TITLE_PX if any(s.title for s in specs) else 0
        caption_lines = textwrap.wrap(caption or "", width=width // 8)[:3]
        header_px = CAPTION_LINE_PX * len(caption_lines) + (6 if caption_lines else 0)
        height = header_px + rows * (title_px + panel_h) + FOOTER_PX
        self.figure = Figure(figsize=(width / DPI, height / DPI), dpi=DPI, facecolor="white")
        self.canvas = FigureCanvasAgg(self.figure)
        if caption_lines:
            self.figure.text(0.5, 1 - 4 / height, "\n".join(caption_lines), ha="center", va="top", fontsize=11)
        self.clock = self.figure.text(0.01, 0.01, "", fontsize=9, color=CLOCK_COLOUR, animated=animated)

        self.panels = []
        for index, spec in enumerate(specs):
            row, col = divmod(index, cols)
            top = height - header_px - row * (title_px + panel_h)
            if spec.title:
                title = textwrap.shorten(spec.title, width=panel_px // 7, placeholder="...")
                self.figure.text((col + 0.5) / cols, (top - 3) / height, title, ha="center", va="top", fontsize=10)
            # Matplotlib keeps 3-D axes square: centre a square one on the (often wider) panel region and
            # let _zoom_to_fit scale the scene into the region; the invisible overhang draws nothing.
            region = (col * panel_px, top - title_px - panel_h, panel_px, panel_h)
            centre_y = region[1] + panel_h / 2
            rect = (col / cols, (centre_y - panel_px / 2) / height, 1 / cols, panel_px / height)
            ax = self.figure.add_axes(rect, projection="3d", computed_zorder=False)
            ax.set_axis_off()
            ax.patch.set_visible(False)  # the square axes overhang their region; keep neighbours visible
            ax.set_proj_type("ortho")
            ax.view_init(elev=look.view[0], azim=look.view[1])
            ax.set_xlim(*limits[0])
            ax.set_ylim(*limits[1])
            ax.set_zlim(*limits[2])
            ax.set_box_aspect(aspect)
            ax.add_collection3d(Poly3DCollection(squares, facecolors=colours, edgecolors="none", zorder=0))
            self.panels.append(_Panel(ax, region, spec, look, animated))
        self._zoom_to_fit(np.array(list(itertools.product(*limits))), aspect)
        if animated:
            self.canvas.draw()
            self.background = self.canvas.copy_from_bbox(self.figure.bbox)

    def _zoom_to_fit(self, corners: np.ndarray, aspect: list[float]) -> None:
        """Zoom and shift every panel so the box of the whole scene just fills its region.

        Measured after one draw rather than derived from matplotlib's projection internals: in an
        orthographic view the box centre projects to the 2-D origin and zooming scales about it, so one
        measurement gives both the zoom and the shift that centres the box in the region.
        """
        self.canvas.draw()
        width, height = self.canvas.get_width_height()
        for panel in self.panels:
            ax, (x0, y0, w, h) = panel.ax, panel.region
            x, y, _ = proj3d.proj_transform(*corners.T, ax.M)
            origin = ax.transData.transform((0.0, 0.0))
            half = np.abs(ax.transData.transform(np.column_stack([x, y])) - origin).max(axis=0)
            ax.set_box_aspect(aspect, zoom=0.97 * min(w / 2 / half[0], h / 2 / half[1]))
            shift = (x0 + w / 2 - origin[0], y0 + h / 2 - origin[1])
            position = ax.get_position()
            ax.set_position(
                (
                    position.x0 + shift[0] / width,
                    position.y0 + shift[1] / height,
                    position.width,
                    position.height,
                )
            )

    def frame(self, t: int, clock: str) -> np.ndarray:
        """The (H, W, 3) uint8 image of animation frame ``t`` (panels past their end hold their last pose)."""
        self.canvas.restore_region(self.background)
        self.clock.set_text(clock)
        self.figure.draw_artist(self.clock)
        for panel in self.panels:
            panel.show(t)
            for artist in panel.moving:
                self.figure.draw_artist(artist)
        return np.asarray(self.canvas.buffer_rgba())[..., :3].copy()

    def save_still(self, path: Path) -> None:
        """Draw every panel at its own fixed frame and save the whole figure as a PNG."""
        for panel in self.panels:
            panel.show(panel.spec.frame)
        self.figure.savefig(path, format="png", dpi=DPI)


class _Panel:
    """The artists of one motion in one panel: a line per chain, joint dots and the root path."""

    def __init__(self, ax, region: tuple[float, float, float, float], spec: _PanelSpec, look: _Look, animated):
        self.ax = ax
        self.region = region  # (x0, y0, width, height) in figure pixels, the part of the figure it may fill
        self.spec = spec
        self.points = _to_plot(spec.joints)
        self.chains = look.skeleton.chains
        self.ground = self.points[:, look.skeleton.parents.index(-1)].copy()  # the root, dropped to the floor
        self.ground[:, 2] = 0.0
        self.bones = [
            ax.plot([], [], [], color=c, lw=2.2, solid_capstyle="round", zorder=2, animated=animated)[0]
            for c in _chain_colours(look.skeleton)
        ]
        self.dots = ax.plot([], [], [], ls="", marker="o", ms=2.5, color=DOT_COLOUR, zorder=3, animated=animated)[0]
        self.moving = [*self.bones, self.dots]
        self.walked = None
        if look.trail:
            ax.plot(*self.ground.T, color=PATH_COLOUR, lw=1.0, alpha=0.35, zorder=1)
            self.walked = ax.plot([], [], [], color=PATH_COLOUR, lw=2.0, zorder=1, animated=animated)[0]
            self.moving.insert(0, self.walked)

    def show(self, t: int) -> None:
        t = min(t, len(self.points) - 1)
        pose = self.points[t]
        for line, chain in zip(self.bones, self.chains, strict=True):
            xs, ys, zs = pose[list(chain)].T
            line.set_data_3d(xs, ys, zs)
        self.dots.set_data_3d(*pose.T)
        if self.walked is not None:
            self.walked.set_data_3d(*self.ground[: t + 1].T)


def _write_sheet(joints, titles, caption, fps: float, look: _Look, path: Path) -> None:
    """A PNG contact sheet: one row per motion, SHEET_FRAMES poses evenly spaced over the longest one.

    Columns are the same instants in every row, so a source and its edit line up; a motion that has
    already ended shows its last pose, and its label says when that was.
    """
    length = max(len(j) for j in joints)
    picks = np.unique(np.linspace(0, length - 1, min(SHEET_FRAMES, length)).round().astype(int))
    specs = [
        _PanelSpec(j, f"{title}  {min(t, len(j) - 1) / fps:.1f} s".strip(), int(t))
        for j, title in zip(joints, titles, strict=True)
        for t in picks
    ]
    scene = _Scene(specs, rows=len(joints), panel_px=SHEET_PANEL_PX, caption=caption, look=look, animated=False)
    scene.save_still(path)


def _write_animation(joints, titles, caption, fps: float, look: _Look, max_frames, tmp: Path, path: Path) -> None:
    """Render every frame (or every k-th, so at most ``max_frames``) into ``tmp`` as GIF or MP4."""
    length = max(len(j) for j in joints)
    stride = 1 if max_frames is None else math.ceil(length / max_frames)
    specs = [_PanelSpec(j, t) for j, t in zip(joints, titles, strict=True)]
    scene = _Scene(specs, rows=1, panel_px=PANEL_PX, caption=caption, look=look, animated=True)
    frames = (scene.frame(t, f"{t / fps:5.2f} s") for t in range(0, length, stride))
    if tmp.suffix.lower() == ".gif":
        # The last frame shows the whole walked path; with the first it holds every colour in use.
        colours = np.concatenate([scene.frame(0, ""), scene.frame(length - 1, "")])
        _write_gif(frames, tmp, fps / stride, colours)
    else:
        _write_mp4(frames, tmp, fps / stride, name=path)


def _write_gif(frames: Iterable[np.ndarray], path: Path, fps: float, colours: np.ndarray) -> None:
    """Quantise every frame to one palette taken from ``colours`` (an image showing every colour in use),
    without dithering, and save them as one looping GIF.

    One shared palette is faster than a palette per frame, free of colour flicker, and keeps the frames
    at one byte per pixel while they wait to be written.
    """
    palette = Image.fromarray(colours).quantize(colors=256, method=Image.Quantize.FASTOCTREE)
    images = [Image.fromarray(f).quantize(palette=palette, dither=Image.Dither.NONE) for f in frames]
    images[0].save(path, save_all=True, append_images=images[1:], duration=round(1000 / fps), loop=0)


def _write_mp4(frames: Iterator[np.ndarray], path: Path, fps: float, *, name: Path) -> None:
    """Pipe raw RGB frames into ffmpeg (H.264, yuv420p so common players open it); ``name`` is the
    file the user asked for, which error messages mention instead of the temporary ``path``."""
    frames = iter(frames)
    first = next(frames)
    height, width = first.shape[:2]
    command = [
        shutil.which("ffmpeg"), "-y", "-loglevel", "error", "-f", "rawvideo", "-pix_fmt", "rgb24",
        "-s", f"{width}x{height}", "-r", f"{fps:g}", "-i", "-", "-an", "-vcodec", "libx264",
        "-pix_fmt", "yuv420p", "-vf", "pad=ceil(iw/2)*2:ceil(ih/2)*2", "-movflags", "+faststart", str(path),
    ]  # fmt: skip
    process = subprocess.Popen(command, stdin=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        for frame in itertools.chain([first], frames):
            process.stdin.write(frame.tobytes())
        process.stdin.close()
    except BrokenPipeError:
        pass  # ffmpeg stopped early; its own message is reported below
    except BaseException:
        process.kill()
        process.wait()
        raise
    error = process.stderr.read().decode(errors="replace").strip()
    if process.wait() != 0:
        raise FormatError(f"Cannot render {name}: ffmpeg failed ({error.splitlines()[-1] if error else 'no message'}).")
