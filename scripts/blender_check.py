"""Open our BVH and glTF exports in Blender and compare its joint positions with ours.

    python scripts/blender_check.py --blender /path/to/blender          # a Blender program
    python scripts/blender_check.py --blender /path/to/python-with-bpy  # or a Python with `pip install bpy`
        [--out benchmarks/blender.json] [--generated N]

The driver (this file, in the omnimogen environment) writes test files to a temporary folder as the
command line exports them (feet cleaned): real takes (the fixtures) and generated motions of the
shipped model, each on our skeleton and retargeted onto the three test rigs (tests/fixtures/rigs), as
BVH and as glTF (.glb), with the joint positions our own BVH reader's forward kinematics give. Blender then imports every file with its stock importers (the same
file run inside Blender: ``--inside``), steps through the frames and records each bone's head in world
space. The figure is the largest distance between Blender's joint and ours, per file, in millimetres
(at the character's own scale). Debian's Blender 3.4 opens BVH files with mode 'rU', which Python
3.11 refuses; the inside part drops the 'U'.

CI runs this only where Blender is installed (it is not a test: Blender is not a dependency).
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
# Y up (BVH as our importer reads it, and glTF) to Blender's Z up, as both stock importers turn it.
Y_TO_Z = np.array([[1, 0, 0], [0, 0, -1], [0, 1, 0]], float)


def inside(jobs_path: str, out_path: str) -> None:
    """Run in Blender: import each job's file, record (F, J, 3) bone head positions by name."""
    import builtins

    import bpy

    real_open = builtins.open

    def open_without_u(file, mode="r", *args, **kwargs):  # Blender 3.4's BVH importer passes 'rU'
        return real_open(file, mode.replace("U", "") if isinstance(mode, str) else mode, *args, **kwargs)

    builtins.open = open_without_u
    results = {}
    for job in json.loads(Path(jobs_path).read_text()):
        bpy.ops.wm.read_factory_settings(use_empty=True)
        scene = bpy.context.scene
        scene.render.fps, scene.render.fps_base = int(round(job["fps"])), 1.0
        if job["file"].endswith(".bvh"):
            bpy.ops.import_anim.bvh(filepath=job["file"], global_scale=1.0, frame_start=1, use_fps_scale=False,
                                    rotate_mode="NATIVE", axis_forward="-Z", axis_up="Y")  # fmt: skip
        else:
            bpy.ops.import_scene.gltf(filepath=job["file"])
        arm = next(o for o in scene.objects if o.type == "ARMATURE")
        names = [b.name for b in arm.pose.bones]
        frames = []
        first = 1 if job["file"].endswith(".bvh") else 0  # the BVH importer starts at frame_start; glTF at time 0
        for f in range(job["frames"]):
            scene.frame_set(first + f)
            frames.append([list(arm.matrix_world @ arm.pose.bones[n].head) for n in names])
        results[job["file"]] = {"names": names, "positions": frames}
    builtins.open = real_open
    Path(out_path).write_text(json.dumps(results))


def _jobs(folder: Path, generated: int) -> list[dict]:
    """Write the test files; return what Blender should import and what it should find."""
    from omnimogen import load_model
    from omnimogen.formats.bvh import parse_bvh
    from omnimogen.formats.retarget import load_rig
    from omnimogen.motion import Motion

    fixtures = HERE.parent / "tests" / "fixtures"
    motions = {p.name.split(".")[0]: Motion.from_joints(np.load(p), 20) for p in sorted(fixtures.glob("*.joints.npy"))}
    if generated:
        model = load_model()
        for k in range(generated):
            motions[f"generated_{k}"] = model("a person walks forward and turns left", seed=k).motions[0]
    rigs = {"ours": None, **{p.stem: load_rig(p) for p in sorted((fixtures / "rigs").glob("*.bvh"))}}
    jobs = []
    for name, motion in motions.items():
        for rig_name, rig in rigs.items():
            for kind in (".bvh", ".glb"):  # as the command line exports them: feet cleaned on the skeleton
                path = folder / f"{name}_{rig_name}{kind}"
                motion.save(path, rig=rig, clean_contacts=True)
            bvh = parse_bvh(folder / f"{name}_{rig_name}.bvh")  # the glTF is written from the same skeleton
            expected = bvh.global_positions()  # file units and axes, which Blender's BVH importer keeps (Y up)
            for kind in (".bvh", ".glb"):
                path = folder / f"{name}_{rig_name}{kind}"
                if kind == ".glb" and rig is not None:  # glTF is metres, Y up
                    want = rig.to_y_up.apply(expected.reshape(-1, 3)).reshape(expected.shape) * rig.scale
                else:
                    want = expected
                np.save(f"{path}.npy", want @ Y_TO_Z.T)
                jobs.append({"file": str(path), "frames": len(bvh.motion), "fps": motion.fps, "names": list(bvh.joint_names),
                             "expected": f"{path}.npy", "motion": name, "rig": rig_name, "format": kind,
                             "unit_mm": 1000 * (1.0 if rig is None or kind == ".glb" else rig.scale)})  # fmt: skip
    return jobs


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--blender", help="a Blender program, or a Python that can `import bpy`")
    ap.add_argument("--out", default="benchmarks/blender.json")
    ap.add_argument("--generated", type=int, default=2, help="generated motions to include (default: 2)")
    ap.add_argument("--inside", nargs=2, metavar=("JOBS", "OUT"), help=argparse.SUPPRESS)
    args = ap.parse_args(sys.argv[sys.argv.index("--") + 1 :] if "--" in sys.argv else None)
    if args.inside:
        return inside(*args.inside)
    if not args.blender:
        ap.error("--blender is needed")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        jobs = _jobs(folder, args.generated)
        (folder / "jobs.json").write_text(json.dumps(jobs))
        seen = folder / "seen.json"
        me = str(Path(__file__).resolve())
        is_python = "python" in Path(args.blender).name
        cmd = ([args.blender, me, "--inside", str(folder / "jobs.json"), str(seen)] if is_python else
               [args.blender, "-b", "--factory-startup", "--python-exit-code", "1", "-P", me, "--", "--inside",
                str(folder / "jobs.json"), str(seen)])  # fmt: skip
        run = subprocess.run(cmd, capture_output=True, text=True)
        if run.returncode != 0 or not seen.exists():
            sys.exit(f"Blender failed ({run.returncode}):\n{run.stdout[-2000:]}\n{run.stderr[-2000:]}")
        found = json.loads(seen.read_text())
        version = subprocess.run([*cmd[:1], *(["-c", "import bpy; print(bpy.app.version_string)"] if is_python else
                                             ["--version"])], capture_output=True, text=True).stdout.split("\n")[0]  # fmt: skip
        rows = []
        for job in jobs:
            got = found[job["file"]]
            want = np.load(job["expected"])
            index = [got["names"].index(n) for n in job["names"]]  # Blender keeps our joint names
            pos = np.asarray(got["positions"])[:, index]
            rows.append({"motion": job["motion"], "rig": job["rig"], "format": job["format"], "frames": job["frames"],
                         "joints": len(index), "max_mm": float(np.abs(pos - want).max() * job["unit_mm"]),
                         "mean_mm": float(np.linalg.norm(pos - want, axis=-1).mean() * job["unit_mm"])})  # fmt: skip
    worst = {f: max(r["max_mm"] for r in rows if r["format"] == f) for f in (".bvh", ".glb")}
    doc = {"what": "largest distance (mm, character scale) between a joint as Blender imports our file and as we compute it",
           "blender": version, "machine": f"{platform.machine()}, {platform.system()}",
           "date": __import__("datetime").date.today().isoformat(), "worst_mm": worst, "rows": rows,
           "command": "python scripts/blender_check.py --blender " + Path(args.blender).name}  # fmt: skip
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(doc, indent=1) + "\n")
    for r in rows:
        print(f"{r['motion']:45s} {r['rig']:18s} {r['format']:5s} max {r['max_mm']:8.3f} mm  mean {r['mean_mm']:.3f} mm")
    print(f"worst: {worst}; wrote {args.out}")


if __name__ == "__main__":
    main()
