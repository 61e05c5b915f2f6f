"""Stick-figure rendering: frame counts, layout, orientation, captions, errors and atomic writes.

Every render here is a short crop or capped with ``max_frames``, so the whole file runs in seconds.
"""

import shutil
import subprocess
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from PIL import Image

from omnimogen.errors import FormatError, MotionError
from omnimogen.formats import render as render_module
from omnimogen.formats.render import LEFT_COLOURS, PANEL_PX, RIGHT_COLOURS, SHEET_PANEL_PX, render
from omnimogen.motion import SMPL22


def gif_frames(path) -> tuple[list[np.ndarray], list[int]]:
    """Every frame of a GIF as RGB arrays, and each frame's duration in ms."""
    frames, durations = [], []
    with Image.open(path) as image:
        for index in range(image.n_frames):
            image.seek(index)
            frames.append(np.asarray(image.convert("RGB")))
            durations.append(image.info["duration"])
    return frames, durations


def colour_pixels(image: np.ndarray, hex_colour: str) -> np.ndarray:
    """(N, 2) row, column of the pixels within a small distance of ``hex_colour``."""
    rgb = np.array([int(hex_colour[i : i + 2], 16) for i in (1, 3, 5)])
    return np.argwhere(np.abs(image.astype(int) - rgb).sum(axis=-1) < 30)


def t_pose() -> np.ndarray:
    """(1, 22, 3) SMPL22 T-pose facing +Z, arms along +-X, lowest joint on the floor."""
    joints = np.zeros((22, 3))
    for joint, parent in enumerate(SMPL22.parents):
        if parent >= 0:
            joints[joint] = joints[parent] + SMPL22.tpose_directions[joint] * SMPL22.lengths[joint]
    joints[:, 1] -= joints[:, 1].min()
    return joints[None]


def test_gif_has_every_frame_at_the_motion_frame_rate(hml_joints, tmp_path):
    path = tmp_path / "clip.gif"
    assert render(hml_joints[:12], path) == path
    frames, durations = gif_frames(path)
    assert len(frames) == 12
    assert durations == [50] * 12  # 20 fps
    assert frames[0].shape[1] == PANEL_PX


def test_max_frames_keeps_every_kth_frame_and_real_time_playback(hml_joints, tmp_path):
    path = render(hml_joints[:40], tmp_path / "preview.gif", max_frames=10)
    frames, durations = gif_frames(path)
    assert len(frames) == 10  # every 4th frame
    assert durations == [200] * 10  # 4 frames of 50 ms each, so the clip still lasts 2 s


def test_the_figure_moves_over_time(hml_joints, tmp_path):
    frames, _ = gif_frames(render(hml_joints[:60], tmp_path / "clip.gif", max_frames=3))
    changed = [(a != b).any(axis=-1).mean() for a, b in zip(frames, frames[1:], strict=False)]
    assert min(changed) > 0.005  # at least 0.5 % of the pixels differ between consecutive frames


def test_two_panels_side_by_side_and_the_shorter_motion_holds_its_last_pose(hml_joints, tmp_path):
    one, _ = gif_frames(render(hml_joints[:12], tmp_path / "one.gif", titles=["a"]))
    two, _ = gif_frames(render([hml_joints[:12], hml_joints[:6]], tmp_path / "two.gif", titles=["a", "b"]))
    assert len(two) == 12  # as long as the longest
    assert two[0].shape[1] == 2 * one[0].shape[1]
    right = [frame[:, PANEL_PX:] for frame in two]
    assert (right[3] != right[5]).any()  # the second motion still moves...
    assert all((frame == right[5]).all() for frame in right[6:])  # ...then holds its last pose
    assert (two[6][:, :PANEL_PX] != two[11][:, :PANEL_PX]).any()  # while the first goes on


def test_left_limbs_are_on_the_persons_left_and_the_head_is_up(tmp_path):
    # Seen from the front (camera on +Z), the person's left (+X) is on the image's right.
    front = np.asarray(Image.open(render(t_pose(), tmp_path / "front.png", azim=-90, elev=0)).convert("RGB"))
    left_leg, left_arm = colour_pixels(front, LEFT_COLOURS[0]), colour_pixels(front, LEFT_COLOURS[1])
    right_leg, right_arm = colour_pixels(front, RIGHT_COLOURS[0]), colour_pixels(front, RIGHT_COLOURS[1])
    assert min(len(p) for p in (left_leg, left_arm, right_leg, right_arm)) > 20
    assert left_arm[:, 1].mean() > front.shape[1] / 2 > right_arm[:, 1].mean()
    assert left_leg[:, 1].mean() > right_leg[:, 1].mean()
    assert left_arm[:, 0].mean() < left_leg[:, 0].mean()  # arms above legs: upright, not upside down
    # From behind (camera on -Z) the sides swap.
    back = np.asarray(Image.open(render(t_pose(), tmp_path / "back.png", azim=90, elev=0)).convert("RGB"))
    assert colour_pixels(back, LEFT_COLOURS[1])[:, 1].mean() < back.shape[1] / 2


def test_caption_is_drawn_above_the_panels(hml_joints, tmp_path):
    plain, _ = gif_frames(render(hml_joints[:2], tmp_path / "plain.gif"))
    short, _ = gif_frames(render(hml_joints[:2], tmp_path / "short.gif", caption="a person walks"))
    long, _ = gif_frames(render(hml_joints[:2], tmp_path / "long.gif", caption="a person walks " * 8))
    assert plain[0].shape[0] < short[0].shape[0] < long[0].shape[0]  # long captions wrap onto more lines
    extra = short[0].shape[0] - plain[0].shape[0]
    assert (plain[0][:extra] > 245).all()  # the top of an uncaptioned frame is blank...
    assert (short[0][:extra] < 100).any()  # ...and the caption puts dark text there
    # Everything else is unchanged (up to a pixel's antialiasing and the GIF palette).
    assert (np.abs(short[0][extra:].astype(int) - plain[0]).max(axis=-1) > 40).mean() < 0.001


def test_motion_objects_bring_their_caption_and_frame_rate(hml_joints, tmp_path):
    motion = SimpleNamespace(joints=hml_joints[:4], fps=10, caption="a person walks")
    frames, durations = gif_frames(render(motion, tmp_path / "object.gif"))
    explicit, _ = gif_frames(render(hml_joints[:4], tmp_path / "array.gif", caption="a person walks"))
    assert durations == [100] * 4
    np.testing.assert_array_equal(frames[0][:40], explicit[0][:40])  # the same caption
    # Several motions: their captions become the panel titles.
    pair = [motion, SimpleNamespace(joints=hml_joints[:4], fps=10, caption="another")]
    titled, _ = gif_frames(render(pair, tmp_path / "pair.gif"))
    untitled, _ = gif_frames(render([hml_joints[:4]] * 2, tmp_path / "bare.gif", fps=10))
    assert titled[0].shape[0] > untitled[0].shape[0]


def test_torch_tensors_are_accepted(hml_joints, tmp_path):
    frames, _ = gif_frames(render(torch.from_numpy(hml_joints[:3]), tmp_path / "tensor.gif"))
    assert len(frames) == 3


def test_png_is_a_contact_sheet_with_a_row_per_motion(hml_joints, tmp_path):
    one = Image.open(render(hml_joints[:30], tmp_path / "one.png"))
    two = Image.open(render([hml_joints[:30], hml_joints[:10]], tmp_path / "two.png", titles=["a", "b"]))
    assert one.format == two.format == "PNG"
    assert one.size[0] == two.size[0] == 6 * SHEET_PANEL_PX  # six poses across
    assert two.size[1] > one.size[1] * 1.6  # two rows
    single = Image.open(render(hml_joints[:1], tmp_path / "single.png"))
    assert single.size[0] == SHEET_PANEL_PX  # a one-frame motion has one pose


BAD_INPUTS = {
    "wrong joint count": np.zeros((5, 21, 3)),
    "two-dimensional": np.zeros((5, 66)),
    "not numbers": [["a"]],
    "zero frames": np.zeros((0, 22, 3)),
    "NaN": np.where(np.arange(5)[:, None, None] == 3, np.nan, np.zeros((5, 22, 3))),
    "infinite": np.full((5, 22, 3), np.inf),
    "no motion": [],
}


@pytest.mark.parametrize("name", BAD_INPUTS)
def test_bad_motions_raise_motion_error_and_write_nothing(name, tmp_path):
    with pytest.raises(MotionError, match="bad.gif") as caught:
        render(BAD_INPUTS[name], tmp_path / "bad.gif")
    assert "\n" not in str(caught.value)
    assert list(tmp_path.iterdir()) == []


def test_error_messages_say_what_is_wrong(tmp_path):
    with pytest.raises(MotionError, match=r"motion 2 of 2 has shape \(5, 21, 3\), expected \(frames, 22, 3\)"):
        render([np.zeros((5, 22, 3)), np.zeros((5, 21, 3))], tmp_path / "x.gif")
    with pytest.raises(MotionError, match="NaN or infinite values \\(first in frame 3\\)"):
        render(BAD_INPUTS["NaN"], tmp_path / "x.gif")
    with pytest.raises(MotionError, match="zero frames"):
        render(BAD_INPUTS["zero frames"], tmp_path / "x.gif")


def test_titles_must_match_the_motions(hml_joints, tmp_path):
    with pytest.raises(ValueError, match="1 titles for 2 motions"):
        render([hml_joints[:2]] * 2, tmp_path / "x.gif", titles=["only one"])
    assert list(tmp_path.iterdir()) == []


def test_unsupported_extension_lists_the_supported_ones(hml_joints, tmp_path):
    with pytest.raises(FormatError, match=r"'\.avi'.*\.gif.*\.mp4.*\.png"):
        render(hml_joints[:2], tmp_path / "clip.avi")
    assert list(tmp_path.iterdir()) == []


def test_a_failed_render_leaves_no_file_and_keeps_the_old_one(hml_joints, tmp_path, monkeypatch):
    def broken_writer(frames, path, fps, colours):
        path.write_bytes(b"GIF89a partial")
        raise OSError("disk full")

    monkeypatch.setattr(render_module, "_write_gif", broken_writer)
    with pytest.raises(FormatError, match="new.gif: cannot be written .disk full"):
        render(hml_joints[:2], tmp_path / "new.gif")
    assert list(tmp_path.iterdir()) == []
    old = tmp_path / "old.gif"
    old.write_bytes(b"previous render")
    with pytest.raises(FormatError, match="disk full"):
        render(hml_joints[:2], old)
    assert list(tmp_path.iterdir()) == [old] and old.read_bytes() == b"previous render"


def test_mp4_without_ffmpeg_suggests_gif(hml_joints, tmp_path, monkeypatch):
    monkeypatch.setattr(render_module.shutil, "which", lambda name: None)
    with pytest.raises(FormatError, match="needs ffmpeg.*use .gif"):
        render(hml_joints[:2], tmp_path / "clip.mp4")
    assert list(tmp_path.iterdir()) == []


def test_mp4_with_ffmpeg(hml_joints, tmp_path):
    if shutil.which("ffmpeg") is None:
        pytest.skip("ffmpeg is not installed")
    path = render(hml_joints[:10], tmp_path / "clip.mp4")
    assert path.read_bytes()[4:8] == b"ftyp"  # an MP4 container
    if shutil.which("ffprobe"):
        probe = subprocess.run(
            ["ffprobe", "-v", "error", "-count_frames", "-select_streams", "v:0", "-of", "csv=p=0",
             "-show_entries", "stream=codec_name,width,nb_read_frames,r_frame_rate", str(path)],
            capture_output=True, text=True, check=True,
        )  # fmt: skip
        codec, width, rate, count = probe.stdout.strip().split(",")
        assert (codec, int(width), rate, int(count)) == ("h264", PANEL_PX, "20/1", 10)
