"""Write the small target rigs of the retargeting tests (tests/fixtures/rigs/), one frame each at rest.

    python scripts/make_test_rigs.py [--cmu ../shared/data/extra/cmu/02_01.bvh.gz]

- ``mixamo.bvh``: Mixamo's joint names with its ``mixamorig:`` namespace, centimetres, Y up, a
  T-pose, fingers (thumb and index) and end bones; a 1.85 m character with long legs.
- ``character_creator.bvh``: Character Creator's names (a floor-level ``CC_Base_BoneRoot`` above the
  hip, a separate pelvis, twist bones on the limbs, two neck segments), centimetres, **Z up**, an
  **A-pose** (arms 45 degrees down) and XYZ rotation channels; a 1.60 m character.
- ``cmu_daz.bvh``: the hierarchy of a real CMU take as converted for Daz/Poser (cgspeed's 43 joints),
  its own units and channel orders, when ``--cmu`` names one.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from omnimogen.formats.bvh import BvhFile, parse_bvh, save_bvh

OUT = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "rigs"


class Builder:
    def __init__(self):
        self.names, self.parents, self.offsets, self.channels, self.ends = [], [], [], [], {}

    def add(self, name: str, parent: str | None, offset, channels, end=None) -> str:
        self.names.append(name)
        self.parents.append(self.names.index(parent) if parent else -1)
        self.offsets.append(np.asarray(offset, float))
        self.channels.append(tuple(channels))
        if end is not None:
            self.ends[len(self.names) - 1] = np.asarray(end, float)
        return name

    def bvh(self, name: str) -> BvhFile:
        width = sum(len(c) for c in self.channels)
        return BvhFile(name, tuple(self.names), tuple(self.parents), np.stack(self.offsets), tuple(self.channels),
                       1 / 30, np.zeros((1, width)), self.ends)  # fmt: skip


def mixamo() -> BvhFile:
    b, rot = Builder(), ("Zrotation", "Xrotation", "Yrotation")
    ns = "mixamorig:"
    b.add(ns + "Hips", None, [0, 104, 0], ("Xposition", "Yposition", "Zposition", *rot))
    b.add(ns + "Spine", ns + "Hips", [0, 11, 1], rot)
    b.add(ns + "Spine1", ns + "Spine", [0, 13, 0], rot)
    b.add(ns + "Spine2", ns + "Spine1", [0, 15, -1], rot)
    b.add(ns + "Neck", ns + "Spine2", [0, 17, 1], rot)
    b.add(ns + "Head", ns + "Neck", [0, 10, 2], rot)
    b.add(ns + "HeadTop_End", ns + "Head", [0, 20, 0], rot, end=[0, 0, 0])
    for side, x in (("Left", 1), ("Right", -1)):
        b.add(ns + f"{side}Shoulder", ns + "Spine2", [x * 6, 13, 0], rot)
        b.add(ns + f"{side}Arm", ns + f"{side}Shoulder", [x * 14, 0, 0], rot)
        b.add(ns + f"{side}ForeArm", ns + f"{side}Arm", [x * 29, 0, 0], rot)
        b.add(ns + f"{side}Hand", ns + f"{side}ForeArm", [x * 27, 0, 0], rot)
        for finger, (dx, dz) in (("Thumb", (3, 3)), ("Index", (9, 1))):
            parent = ns + f"{side}Hand"
            for k in (1, 2, 3):
                parent = b.add(ns + f"{side}Hand{finger}{k}", parent, [x * (dx if k == 1 else 3), 0, dz if k == 1 else 0],
                               rot, end=[x * 2, 0, 0] if k == 3 else None)  # fmt: skip
        b.add(ns + f"{side}UpLeg", ns + "Hips", [x * 10, -6, 0], rot)
        b.add(ns + f"{side}Leg", ns + f"{side}UpLeg", [0, -47, 0], rot)
        b.add(ns + f"{side}Foot", ns + f"{side}Leg", [0, -46, -2], rot)
        b.add(ns + f"{side}ToeBase", ns + f"{side}Foot", [0, -8, 13], rot)
        b.add(ns + f"{side}Toe_End", ns + f"{side}ToeBase", [0, 0, 8], rot, end=[0, 0, 0])
    return b.bvh("mixamo.bvh")


def character_creator() -> BvhFile:
    """Z up (x: left of the character, y: behind it, z: up), A-pose, XYZ channels."""
    b, rot = Builder(), ("Xrotation", "Yrotation", "Zrotation")
    pos = ("Xposition", "Yposition", "Zposition")
    b.add("CC_Base_BoneRoot", None, [0, 0, 0], (*pos, *rot))
    b.add("CC_Base_Hip", "CC_Base_BoneRoot", [0, 0, 92], rot)
    b.add("CC_Base_Pelvis", "CC_Base_Hip", [0, 0, 0], rot)
    b.add("CC_Base_Waist", "CC_Base_Hip", [0, 1, 9], rot)
    b.add("CC_Base_Spine01", "CC_Base_Waist", [0, 0, 11], rot)
    b.add("CC_Base_Spine02", "CC_Base_Spine01", [0, -1, 13], rot)
    b.add("CC_Base_NeckTwist01", "CC_Base_Spine02", [0, 1, 15], rot)
    b.add("CC_Base_NeckTwist02", "CC_Base_NeckTwist01", [0, 0, 5], rot)
    b.add("CC_Base_Head", "CC_Base_NeckTwist02", [0, -1, 5], rot, end=[0, 0, 18])
    d = np.sqrt(0.5)
    for s, x in (("L", 1), ("R", -1)):
        b.add(f"CC_Base_{s}_Clavicle", "CC_Base_Spine02", [x * 3, 0, 12], rot)
        b.add(f"CC_Base_{s}_Upperarm", f"CC_Base_{s}_Clavicle", [x * 13, 1, 0], rot)
        b.add(f"CC_Base_{s}_UpperarmTwist01", f"CC_Base_{s}_Upperarm", [x * 12 * d, 0, -12 * d], rot, end=[0, 0, 0])
        b.add(f"CC_Base_{s}_Forearm", f"CC_Base_{s}_Upperarm", [x * 25 * d, 0, -25 * d], rot)
        b.add(f"CC_Base_{s}_ForearmTwist01", f"CC_Base_{s}_Forearm", [x * 11 * d, 0, -11 * d], rot, end=[0, 0, 0])
        b.add(f"CC_Base_{s}_Hand", f"CC_Base_{s}_Forearm", [x * 23 * d, 0, -23 * d], rot, end=[x * 6 * d, 0, -6 * d])
        b.add(f"CC_Base_{s}_Thigh", "CC_Base_Pelvis", [x * 9, 0, -4], rot)
        b.add(f"CC_Base_{s}_Calf", f"CC_Base_{s}_Thigh", [0, 0, -41], rot)
        b.add(f"CC_Base_{s}_CalfTwist01", f"CC_Base_{s}_Calf", [0, 0, -20], rot, end=[0, 0, 0])
        b.add(f"CC_Base_{s}_Foot", f"CC_Base_{s}_Calf", [0, 1, -40], rot)
        b.add(f"CC_Base_{s}_ToeBase", f"CC_Base_{s}_Foot", [0, -12, -6], rot, end=[0, -6, 0])
    return b.bvh("character_creator.bvh")


def cmu_daz(path: Path) -> BvhFile:
    take = parse_bvh(path)
    return BvhFile("cmu_daz.bvh", take.joint_names, take.parents, take.offsets, take.channels, take.frame_time,
                   np.zeros((1, take.motion.shape[1])), take.end_sites)  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cmu", type=Path, help="a CMU take in the Daz/Poser conversion")
    args = ap.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    rigs = [mixamo(), character_creator()] + ([cmu_daz(args.cmu)] if args.cmu else [])
    for rig in rigs:
        print(f"wrote {save_bvh(OUT / rig.name, rig)}")


if __name__ == "__main__":
    main()
