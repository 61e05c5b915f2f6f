"""The ``omnimogen`` command line. Flags carry the names of the Python arguments they set.

Errors caused by the input are printed as one line and the command exits with status 2; warnings
are printed as one line each.
"""

from __future__ import annotations

import argparse
import json
import sys
import warnings
from pathlib import Path

from .errors import OmnimogenError


def _bvh_options(args) -> dict:
    opts = {}
    if getattr(args, "joint_map", None):
        from .formats.rigs import load_joint_map

        opts["joint_map"] = load_joint_map(args.joint_map)
    if getattr(args, "up", None):
        opts["up"] = args.up
    if getattr(args, "unit", None):
        opts["unit"] = args.unit
    return opts


def _add_bvh_flags(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("BVH input")
    g.add_argument("--joint-map", metavar="JSON", help="map of SMPL joint names to the rig's names, for unknown rigs")
    g.add_argument("--up", choices=["y", "z", "-y", "-z"], help="up axis of the BVH (default: detected from the pose)")
    g.add_argument(
        "--unit",
        choices=["m", "cm", "mm", "inch", "cmu"],
        help="unit of the BVH (default: detected from the body size)",
    )


def _load(path: str, args):
    from .motion import Motion

    return Motion.load(path, **_bvh_options(args))


def cmd_render(args) -> None:
    from .formats.render import render

    motions = [_load(p, args) for p in args.inputs]
    titles = args.titles or ([Path(p).name.split(".")[0] for p in args.inputs] if len(motions) > 1 else None)
    render(
        motions,
        args.output,
        titles=titles,
        caption=args.caption,
        fps=motions[0].fps,
        max_frames=args.max_frames,
    )
    print(f"wrote {args.output}")


def cmd_convert(args) -> None:
    motion = _load(args.input, args)
    if args.caption:
        motion = motion.with_caption(args.caption)
    motion.save(args.output, npy=args.npy)
    print(f"wrote {args.output} ({motion.num_frames} frames, {motion.duration:.2f} s)")


def cmd_encode(args) -> None:
    from .tokenizer import load_tokenizer

    tok = load_tokenizer(args.tokenizer)
    motion = _load(args.input, args)
    codes = tok.encode(motion)
    doc = {
        "format": "omnimogen.codes",
        "version": 1,
        "levels": tok.config.num_levels,
        "codebook_size": tok.config.codebook_size,
        "frames": len(motion.features) + 1,  # at 20 fps; decode restores exactly this length
        "codes": codes.tolist(),
    }
    from .fileio import atomic_path

    with atomic_path(args.output) as tmp:
        tmp.write_text(json.dumps(doc))
    print(f"wrote {args.output} ({len(codes)} steps x {codes.shape[1]} levels)")


def cmd_decode(args) -> None:
    from .errors import FormatError
    from .tokenizer import load_tokenizer

    tok = load_tokenizer(args.tokenizer)
    try:
        doc = json.loads(Path(args.input).read_text(encoding="utf-8"))
        codes = doc["codes"]
    except FileNotFoundError:
        raise FormatError(f"{args.input}: no such file.") from None
    except (json.JSONDecodeError, UnicodeDecodeError, KeyError, TypeError) as e:
        raise FormatError(f"{args.input}: not a codes file written by 'omnimogen encode' ({e!r}).") from None
    try:
        motion = tok.decode(codes, levels=args.levels, length=doc.get("frames"))
    except OmnimogenError as e:
        raise type(e)(f"{args.input}: {e}") from None
    motion.save(args.output)
    print(f"wrote {args.output} ({motion.num_frames} frames, {motion.duration:.2f} s)")


def cmd_data_bandai(args) -> None:
    from .data.bandai import build_bandai

    report = build_bandai(args.src, args.out, limit=args.limit, workers=args.workers, overwrite=args.overwrite)
    print(json.dumps({k: v for k, v in vars(report).items() if k != "skipped"}, indent=1))
    for take, reason in report.skipped.items():
        print(f"skipped {take}: {reason}")


def cmd_train_tokenizer(args) -> None:
    from .training.common import resolve_config
    from .training.tokenizer import TokenizerTrainConfig, train_tokenizer

    cfg = resolve_config(TokenizerTrainConfig, args.config, args.set or [])
    train_tokenizer(args.data, args.out, cfg)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="omnimogen", description="Instruction-driven 3D human motion generation.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__import__('omnimogen').__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("render", help="draw one or more motions side by side to a GIF, MP4 or PNG")
    p.add_argument("inputs", nargs="+", metavar="IN", help="motion files (.npy, .json, .bvh, .bvh.gz)")
    p.add_argument("-o", "--output", required=True, help="OUT.gif, OUT.mp4 (needs ffmpeg) or OUT.png")
    p.add_argument("--titles", nargs="+", help="one title per input (default: file names)")
    p.add_argument("--caption", help="title of the whole figure")
    p.add_argument("--max-frames", type=int, help="render at most this many frames (evenly spaced)")
    _add_bvh_flags(p)
    p.set_defaults(func=cmd_render)

    p = sub.add_parser("convert", help="convert a motion between .npy, .json, .bvh, .bvh.gz (and render to .gif/.mp4)")
    p.add_argument("input", metavar="IN")
    p.add_argument("output", metavar="OUT")
    p.add_argument("--npy", choices=["features", "joints"], help="what a .npy output holds (default: as loaded)")
    p.add_argument("--caption", help="caption to store with the motion")
    _add_bvh_flags(p)
    p.set_defaults(func=cmd_convert)

    p = sub.add_parser("encode", help="turn a motion into tokenizer codes (JSON)")
    p.add_argument("input", metavar="IN")
    p.add_argument("-o", "--output", required=True, help="codes.json")
    p.add_argument("--tokenizer", help="tokenizer directory (default: the one shipped with the package)")
    _add_bvh_flags(p)
    p.set_defaults(func=cmd_encode)

    p = sub.add_parser("decode", help="turn tokenizer codes (JSON) back into a motion")
    p.add_argument("input", metavar="CODES")
    p.add_argument("-o", "--output", required=True, help="OUT.bvh, .npy, .json, .gif, ...")
    p.add_argument("--levels", type=int, help="decode with the first K levels only (default: all)")
    p.add_argument("--tokenizer", help="tokenizer directory (default: the one shipped with the package)")
    p.set_defaults(func=cmd_decode)

    data = sub.add_parser("data", help="build datasets").add_subparsers(dest="dataset", required=True)
    p = data.add_parser("bandai", help="build a HumanML3D-layout dataset from the Bandai Namco motion datasets")
    p.add_argument("src", help="folder holding Bandai-Namco-Research-Motiondataset-1 and -2")
    p.add_argument("out", help="output dataset folder")
    p.add_argument("--limit", type=int, help="build only this many takes (spread over the corpus)")
    p.add_argument("--workers", type=int, help="worker processes (default: up to 2)")
    p.add_argument("--overwrite", action="store_true", help="replace OUT if it exists")
    p.set_defaults(func=cmd_data_bandai)

    train = sub.add_parser("train", help="train models").add_subparsers(dest="model", required=True)
    p = train.add_parser("tokenizer", help="train the motion tokenizer (resumes RUN if it has checkpoints)")
    p.add_argument("--data", required=True, help="HumanML3D-layout dataset folder")
    p.add_argument("--out", required=True, help="run folder (checkpoints, logs, best/ and final/ tokenizers)")
    p.add_argument("--config", help="JSON file of training settings")
    p.add_argument("--set", action="append", metavar="KEY=VALUE", help="override a setting, e.g. --set model.width=128")
    p.set_defaults(func=cmd_train_tokenizer)
    return parser


def _one_line_warning(message, category, filename, lineno, file=None, line=None) -> None:
    print(f"warning: {message}", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    warnings.showwarning = _one_line_warning
    try:
        args.func(args)
    except OmnimogenError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
