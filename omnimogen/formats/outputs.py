"""Where a request's motions go, the way ``omnimogen generate`` writes them, for scripts too.

``OUT.bvh`` for one sample, ``OUT_1.bvh``, ``OUT_2.bvh`` ... for several; a second, third ... motion of
one answer gets ``_m2``, ``_m3``; a preview GIF beside the first output unless a GIF or MP4 is asked
anyway; with a character rig, the BVH and glTF outputs are on that character. Every output is
checked before any work, and written all or none: a file another process wrote meanwhile is kept.
"""

from __future__ import annotations

from functools import partial
from pathlib import Path

from ..errors import FormatError
from ..fileio import check_writable, file_state, write_all
from ..motion.motion import RIGGED, Motion, file_kind, saveable_kind

VIDEO = (".gif", ".mp4")


class OutputPlan:
    """The files of ``samples`` answers to one request, checked before any work."""

    def __init__(self, paths: list[str | Path], samples: int = 1, preview: bool = True, rig=None,
                 clean_contacts: bool = False):  # fmt: skip
        for path in paths:
            saveable_kind(path)  # an unknown format fails now, not after generating
        self.rig = rig  # a TargetRig: the BVH and glTF outputs are written on that character
        self.clean_contacts = clean_contacts  # BVH and glTF feet held on the skeleton they carry
        if rig is not None and not any(file_kind(p) in RIGGED for p in paths):
            raise FormatError(f"a character rig was given but no output is one of {', '.join(RIGGED)}.")
        self.paths = [Path(p) for p in paths]
        self.samples = samples
        self.preview = bool(preview and paths and not any(file_kind(p) in VIDEO for p in paths))
        self.seen: dict[Path, tuple | None] = {}
        for k in range(samples):
            named = self.for_sample(k)
            for path in named + ([preview_path(named[0])] if self.preview else []):
                check_writable(path)
                self.seen[path] = file_state(path)
        self.files: dict[Path, Motion] = {}
        self.previews: set[Path] = set()

    def for_sample(self, k: int) -> list[Path]:
        """The outputs of answer ``k`` (0-based)."""
        if self.samples == 1:
            return list(self.paths)
        return [p.with_name(p.name[: -len(file_kind(p))] + f"_{k + 1}" + file_kind(p)) for p in self.paths]

    def add(self, k: int, motions: list[Motion]) -> list[Path]:
        """Plan the files of answer ``k``'s motions (written by :meth:`write`); returns their paths."""
        added = []
        for n, path in enumerate(self.for_sample(k)):
            for i, m in enumerate(motions):
                target = path if i == 0 else path.with_name(f"{path.name.split('.')[0]}_m{i + 1}{''.join(path.suffixes)}")
                self.files[target] = m
                added.append(target)
                if self.preview and n == 0:
                    self.files[preview_path(target)] = m
                    self.previews.add(preview_path(target))
                    added.append(preview_path(target))
        return added

    def write(self) -> list[Path]:
        """Write every planned file, all or none."""
        rigged = {"rig": self.rig, "clean_contacts": self.clean_contacts}
        write_all({path: partial(m.save, **(rigged if file_kind(path) in RIGGED else {}))
                   for path, m in self.files.items()}, self.seen)  # fmt: skip
        return list(self.files)


def preview_path(path: Path) -> Path:
    return path.with_name(path.name.split(".")[0] + ".gif")
