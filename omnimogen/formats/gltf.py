"""glTF 2.0 export: a skinned skeleton animation (``.glb`` binary or ``.gltf`` text, one file each).

Written from a :class:`~omnimogen.formats.bvh.BvhFile` (ours or a character's, after retargeting), so
the glTF carries the same hierarchy, joint names, proportions and rotations as the BVH would:

- one node per joint (its rest offset as translation, metres, Y up as glTF wants), children as in
  the BVH; the rest pose is the BVH's (every rotation zero);
- a skin over those joints with their inverse bind matrices, and a simple mesh bound to it (a thin
  box along every bone, each rigid to its bone), so viewers that show meshes only (three.js,
  Godot, Unity) show the character too;
- one animation: every joint's rotation and the root's translation per frame, LINEAR.

Written with pygltflib (the maintained glTF container library); the scene content is ours.
"""

from __future__ import annotations

import base64
import os
from pathlib import Path

import numpy as np
import pygltflib as gl
from scipy.spatial.transform import Rotation

from ..errors import FormatError
from ..fileio import atomic_path
from .bvh import _UP_TO_Y, UNITS, BvhFile, rest_positions

BONE_WIDTH = 0.03  # metres: the side of the box drawn along each bone
# A box from z = 0 to 1 along a bone, before scaling: 8 corners, 12 triangles facing out.
_CORNERS = np.array([[x, y, z] for z in (0, 1) for y in (-0.5, 0.5) for x in (-0.5, 0.5)])
_FACES = np.array([[0, 2, 1], [1, 2, 3], [4, 5, 6], [5, 7, 6], [0, 1, 4], [1, 5, 4],
                   [2, 6, 3], [3, 6, 7], [0, 4, 2], [2, 4, 6], [1, 3, 5], [3, 7, 5]])  # fmt: skip


def save_gltf(path: str | os.PathLike, bvh: BvhFile, *, up: str = "y", unit: str = "m") -> Path:
    """Write ``bvh`` (whose file axes have ``up`` up and whose unit is ``unit``) as glTF; ``.glb`` is
    binary, ``.gltf`` holds its data inline (base64). Written atomically."""
    path = Path(path)
    to_y = Rotation.from_euler("x", _UP_TO_Y[up], degrees=True)
    scale = UNITS[unit]
    frames, joints = len(bvh.motion), len(bvh.joint_names)
    offsets = to_y.apply(bvh.offsets) * scale  # (J, 3)
    rest = rest_positions(bvh.parents, offsets)

    pose = bvh.local_pose()
    quats = np.stack([(to_y * r * to_y.inv()).as_quat() for _, r in pose], axis=1)  # (F, J, 4) x y z w
    # q and -q are one rotation; keep neighbours in one hemisphere so that LINEAR takes the short way
    quats[1:] *= np.cumprod(np.where((quats[1:] * quats[:-1]).sum(-1) < 0, -1.0, 1.0), axis=0)[..., None]
    roots = [j for j, p in enumerate(bvh.parents) if p < 0]
    moves = {j: to_y.apply(pose[j][0]) * scale for j in roots}  # (F, 3) translations of the roots

    blob = bytearray()
    doc = gl.GLTF2(asset=gl.Asset(generator="omnimogen", version="2.0"))

    def accessor(data: np.ndarray, kind: str, component: int = gl.FLOAT, target: int | None = None,
                 bounds: bool = False) -> int:  # fmt: skip
        data = np.ascontiguousarray(data)
        while len(blob) % 4:
            blob.append(0)
        doc.bufferViews.append(gl.BufferView(buffer=0, byteOffset=len(blob), byteLength=data.nbytes, target=target))
        blob.extend(data.tobytes())
        flat = data.reshape(len(data), -1)
        doc.accessors.append(gl.Accessor(
            bufferView=len(doc.bufferViews) - 1, componentType=component, count=len(data), type=kind,
            min=flat.min(0).tolist() if bounds else None, max=flat.max(0).tolist() if bounds else None,
        ))  # fmt: skip
        return len(doc.accessors) - 1

    for j, name in enumerate(bvh.joint_names):
        kids = [c for c, p in enumerate(bvh.parents) if p == j]
        doc.nodes.append(gl.Node(name=name, translation=offsets[j].tolist(), children=kids or None))

    # The mesh: a box along each bone (parent -> joint), rigid to the parent, in the bind pose.
    positions, bones, faces = [], [], []
    for j, p in enumerate(bvh.parents):
        length = np.linalg.norm(offsets[j])
        if p < 0 or length < 1e-6:
            continue
        axis = offsets[j] / length
        side = np.cross(axis, [0.0, 0.0, 1.0] if abs(axis[1]) > 0.9 else [0.0, 1.0, 0.0])
        side /= np.linalg.norm(side)
        frame = np.stack([side * BONE_WIDTH, np.cross(axis, side) * BONE_WIDTH, axis * length])  # (3, 3)
        faces.append(_FACES + 8 * len(bones))
        positions.append(rest[p] + _CORNERS @ frame)
        bones.append(p)
    if not bones:  # a single joint: a small box at it, so the file still has a skinned mesh
        positions, bones, faces = [rest[0] + (_CORNERS - 0.5) * BONE_WIDTH], [0], [_FACES]
    vertex_joints = np.zeros((8 * len(bones), 4), np.uint16)
    vertex_joints[:, 0] = np.repeat(bones, 8)
    weights = np.zeros((8 * len(bones), 4), np.float32)
    weights[:, 0] = 1.0
    attributes = gl.Attributes(
        POSITION=accessor(np.concatenate(positions).astype(np.float32), gl.VEC3, target=gl.ARRAY_BUFFER, bounds=True),
        JOINTS_0=accessor(vertex_joints, gl.VEC4, gl.UNSIGNED_SHORT, gl.ARRAY_BUFFER),
        WEIGHTS_0=accessor(weights, gl.VEC4, target=gl.ARRAY_BUFFER),
    )
    indices = accessor(np.concatenate(faces).astype(np.uint32).reshape(-1), gl.SCALAR, gl.UNSIGNED_INT,
                       gl.ELEMENT_ARRAY_BUFFER)  # fmt: skip
    doc.meshes.append(gl.Mesh(name="bones", primitives=[gl.Primitive(attributes=attributes, indices=indices)]))
    inverse_bind = np.tile(np.eye(4, dtype=np.float32), (joints, 1, 1))
    inverse_bind[:, 3, :3] = -rest  # column-major storage: the translation is the last column
    doc.skins.append(gl.Skin(name="skeleton", joints=list(range(joints)), skeleton=roots[0],
                             inverseBindMatrices=accessor(inverse_bind, gl.MAT4)))  # fmt: skip
    doc.nodes.append(gl.Node(name="character", mesh=0, skin=0))
    doc.scenes.append(gl.Scene(name="motion", nodes=[*roots, joints]))
    doc.scene = 0

    times = accessor((np.arange(frames) * bvh.frame_time).astype(np.float32), gl.SCALAR, bounds=True)
    samplers, channels = [], []
    for j in range(joints):
        samplers.append(gl.AnimationSampler(input=times, output=accessor(quats[:, j].astype(np.float32), gl.VEC4)))
        channels.append(gl.AnimationChannel(sampler=len(samplers) - 1, target=gl.AnimationChannelTarget(node=j, path="rotation")))  # fmt: skip
    for j, move in moves.items():
        samplers.append(gl.AnimationSampler(input=times, output=accessor(move.astype(np.float32), gl.VEC3)))
        channels.append(gl.AnimationChannel(sampler=len(samplers) - 1, target=gl.AnimationChannelTarget(node=j, path="translation")))  # fmt: skip
    doc.animations.append(gl.Animation(name=Path(bvh.name).name.split(".")[0] or "motion", samplers=samplers,
                                       channels=channels))  # fmt: skip

    binary = path.name.lower().endswith(".glb")
    doc.buffers.append(gl.Buffer(byteLength=len(blob)))
    with atomic_path(path) as tmp:
        if binary:
            doc.set_binary_blob(bytes(blob))
            doc.save_binary(str(tmp))
        else:
            doc.buffers[0].uri = "data:application/octet-stream;base64," + base64.b64encode(bytes(blob)).decode()
            doc.save_json(str(tmp))
    return path


def read_gltf_skeleton(path: str | os.PathLike) -> BvhFile:
    """The skeleton of a glTF file's first skin, as a BVH hierarchy with no motion: joint names, parents
    and, as offsets, the joints' rest places in the scene (every node transform above them applied,
    metres, Y up). Its rest rotations are folded into those places, so the pose with every rotation
    zero is the file's rest pose, as BVH defines it."""
    path = Path(path)
    try:
        doc = gl.GLTF2.load(str(path))
    except Exception as e:  # pygltflib raises whatever its JSON or binary parsing hits
        raise FormatError(f"{path}: not a readable glTF file ({type(e).__name__}: {e}).") from None
    if doc is None or not doc.skins:
        raise FormatError(f"{path}: the glTF file has no skin, so no skeleton to put a motion on.")
    joints = list(doc.skins[0].joints)
    parent = {c: n for n, node in enumerate(doc.nodes) for c in (node.children or [])}

    def world(n: int) -> np.ndarray:
        node = doc.nodes[n]
        if node.matrix:
            m = np.asarray(node.matrix, float).reshape(4, 4).T
        else:
            m = np.eye(4)
            m[:3, :3] = Rotation.from_quat(node.rotation or [0, 0, 0, 1]).as_matrix() * np.asarray(node.scale or [1, 1, 1])
            m[:3, 3] = node.translation or [0, 0, 0]
        return world(parent[n]) @ m if n in parent else m

    places = np.array([world(n)[:3, 3] for n in joints])
    index = {n: k for k, n in enumerate(joints)}
    parents = []
    for n in joints:  # the nearest ancestor that is a joint of the skin
        up = parent.get(n)
        while up is not None and up not in index:
            up = parent.get(up)
        parents.append(index[up] if up is not None else -1)
    if sum(p < 0 for p in parents) != 1:
        raise FormatError(f"{path}: the skin's joints do not form one tree ({sum(p < 0 for p in parents)} roots).")
    order = sorted(range(len(joints)), key=lambda k: _depth(k, parents))  # parents before children, as BVH has
    joints, places = [joints[k] for k in order], places[order]
    parents = [order.index(parents[k]) if parents[k] >= 0 else -1 for k in order]
    offsets = np.array([places[k] - (places[p] if p >= 0 else 0.0) for k, p in enumerate(parents)])
    names = tuple(doc.nodes[n].name or f"joint{k}" for k, n in enumerate(joints))
    channels = tuple(("Xposition", "Yposition", "Zposition", "Zrotation", "Xrotation", "Yrotation") if p < 0
                     else ("Zrotation", "Xrotation", "Yrotation") for p in parents)  # fmt: skip
    return BvhFile(path.name, names, tuple(parents), offsets, channels, 1 / 30, np.zeros((1, 3 + 3 * len(names))))


def _depth(k: int, parents: list[int]) -> int:
    depth = 0
    while parents[k] >= 0:
        k, depth = parents[k], depth + 1
    return depth
