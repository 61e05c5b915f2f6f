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

from .errors import FormatError, OmnimogenError

CANDIDATES_HELP = ("answers sampled at once to an edit that keeps its action (a style edit), the one nearest the "
                   "edited motion kept, and again to a request whose first answer does not show an action the "
                   "joints check (a bow, the asked hand raised or waving, a cartwheel), the first that shows it "
                   "kept (8 by default; 1 keeps the first answer)")  # fmt: skip


def _add_device_flags(p: argparse.ArgumentParser, dtype: bool = True) -> None:
    p.add_argument("--device", default="auto", help="auto (CUDA when there is one), cpu, cuda or cuda:N")
    if dtype:
        p.add_argument("--dtype", choices=("float32", "bfloat16", "float16"),
                       help="the model's weight type (default float32; bfloat16 halves its memory on a GPU)")  # fmt: skip


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


def _add_export_flags(p: argparse.ArgumentParser, clean_by_default: bool) -> None:
    g = p.add_argument_group("export")
    g.add_argument("--rig", metavar="CHARACTER", help="write BVH and glTF outputs on this character's skeleton (a .bvh, "
                   "or a .glb/.gltf's skin: its joint names, proportions, rest pose, channel orders) instead of ours")  # fmt: skip
    g.add_argument("--rig-map", metavar="JSON", help="map of SMPL joint names to the --rig's names, for unknown rigs")
    g.add_argument("--clean-contacts", action=argparse.BooleanOptionalAction, default=clean_by_default,
                   help="hold planted feet still and above the floor (leg IK) before writing (default: "
                   f"{'on' if clean_by_default else 'off'})")  # fmt: skip


def _target_rig(args):
    """The --rig character, read before any work (a bad file fails now, not after generating)."""
    if not getattr(args, "rig", None):
        if getattr(args, "rig_map", None):
            raise OmnimogenError("--rig-map needs --rig.")
        return None
    from .formats.retarget import load_rig

    return load_rig(args.rig, joint_map=args.rig_map)


def _exported(motion, args):
    return motion.with_clean_contacts() if args.clean_contacts else motion


def _keep_inputs(outputs, inputs) -> None:
    """Refuse to write a result over a file it is made from: the source would be lost."""
    sources = {Path(p).resolve() for p in inputs}
    for out in outputs:
        if Path(out).resolve() in sources:
            raise OmnimogenError(f"{out} is also an input and would be lost; write the result to another file.")


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
    _keep_inputs([args.output], [args.input, *([args.rig] if args.rig else [])])
    rig = _target_rig(args)
    motion = _exported(_load(args.input, args), args)
    if args.caption:
        motion = motion.with_caption(args.caption)
    motion.save(args.output, npy=args.npy, rig=rig, clean_contacts=args.clean_contacts)
    print(f"wrote {args.output} ({motion.num_frames} frames, {motion.duration:.2f} s)")


def cmd_retarget(args) -> None:
    if not args.rig:
        raise OmnimogenError("retarget needs --rig CHARACTER (.bvh, .glb or .gltf), the skeleton to put the motion on.")
    cmd_convert(args)


def cmd_encode(args) -> None:
    from .formats.codes import write_codes
    from .tokenizer import load_tokenizer

    _keep_inputs([args.output], [args.input])
    tok = load_tokenizer(args.tokenizer)
    motion = _load(args.input, args)
    codes = tok.encode(motion)
    write_codes(args.output, codes, codebook_size=tok.config.codebook_size, frames=len(motion.features) + 1)
    print(f"wrote {args.output} ({len(codes)} steps x {codes.shape[1]} levels)")


def cmd_decode(args) -> None:
    from .formats.codes import read_codes
    from .tokenizer import load_tokenizer

    _keep_inputs([args.output], [args.input])
    tok = load_tokenizer(args.tokenizer)
    codes, frames = read_codes(args.input)
    try:
        motion = tok.decode(codes, levels=args.levels, length=frames)
    except OmnimogenError as e:
        raise type(e)(f"{args.input}: {e}") from None
    motion.save(args.output)
    print(f"wrote {args.output} ({motion.num_frames} frames, {motion.duration:.2f} s)")


def _motion_files(instruction: str, specs: list[str]) -> dict[str, str]:
    """--motion FILE binds placeholders in order of first mention; --motion NAME=FILE by name."""
    from .instructions.schema import PLACEHOLDER

    names = list(dict.fromkeys(PLACEHOLDER.findall(instruction)))
    bound, positional = {}, []
    for spec in specs:
        name, sep, path = spec.partition("=")
        if sep and PLACEHOLDER.fullmatch(f"<{name}>") and not Path(spec).exists():
            bound[name] = path
        else:
            positional.append(spec)
    free = [n for n in names if n not in bound]
    if len(positional) > len(free):
        raise OmnimogenError(
            f"{len(positional)} --motion file(s) given but the instruction has {len(free)} unbound placeholder(s) "
            f"({', '.join(f'<{n}>' for n in free) or 'none'}); mention each motion as <Name> in the text."
        )
    return {**bound, **dict(zip(free, positional, strict=False))}


def _check_samples(args) -> None:
    from .errors import check_number
    from .model.pipeline import MAX_SAMPLES

    check_number("--samples", args.samples, 1, MAX_SAMPLES, integer=True)


def cmd_generate(args) -> None:
    from .formats.outputs import OutputPlan
    from .model.pipeline import load_model

    _check_samples(args)
    files = _motion_files(args.text, args.motion or [])
    plan = OutputPlan(args.output or [], args.samples, preview=args.preview, rig=_target_rig(args),
                      clean_contacts=args.clean_contacts)  # checked before any work
    _keep_inputs(plan.seen, [*files.values(), *([args.rig] if args.rig else [])])
    motions = {name: _load(path, args) for name, path in files.items()}
    model = load_model(args.model, args.device, args.dtype)
    for k in range(args.samples):
        seed = None if args.seed is None else args.seed + k
        result = model(args.text, motions, seconds=args.seconds, frames=args.frames, seed=seed, think=args.think,
                       top_k=args.top_k, top_p=args.top_p, motion_only=args.motion_only, keep_parts=args.keep_parts,
                       candidates=args.candidates, **_sampling(args))
        _say_reading(result)
        if result.reasoning:
            print(f"reasoning: {result.reasoning}")
        if result.text and result.text != "<Motion>":
            print(result.text)
        if result.motions and not args.output:
            print("no output file given: the motion was not saved (add -o OUT.bvh).", file=sys.stderr)
        plan.add(k, [_exported(m, args).with_caption(args.text) for m in result.motions])
    for path in plan.write():  # every file or none
        m = plan.files[path]
        print(f"wrote {path} (preview)" if path in plan.previews else f"wrote {path} ({m.num_frames} frames, "
              f"{m.duration:.2f} s)")  # fmt: skip


def _say_reading(result) -> None:
    """How the words were read (when the model was asked other words than the user's), the body parts an
    edit kept, and any warning."""
    r = result.reading
    if r is not None and r.known:
        if r.task == "edit/style":
            how = f"a style edit to '{r.style}'"
        elif r.task == "edit/action":
            how = f"an action edit to '{r.action}'"
        elif r.task == "incontext/style":
            how = f"the style of the other motion, which the model describes as {r.phrase!r}"
        else:
            nearest = f"nearest known action '{r.action}'" if r.action else "a caption the model was trained on"
            how = f"{nearest}, similarity {r.similarity:.2f}"
        print(f"read as: {r.caption!r} ({how})", file=sys.stderr)
    if getattr(result, "composed", None):
        print(f"composed, not generated: {result.composed}", file=sys.stderr)
    k = getattr(result, "kept", None)
    if k is not None:
        print(f"kept from the motion being edited: {', '.join(k.kept)} (the model's: {', '.join(k.changed)})",
              file=sys.stderr)  # fmt: skip
    for w in result.warnings:
        print(f"warning: {w}", file=sys.stderr)


def _sampling(args) -> dict:
    """The motion's and the words' sampling temperatures and the guidance where given (else the model's
    defaults)."""
    given = {"temperature": getattr(args, "temperature", None), "text_temperature": args.text_temperature,
             "guidance": getattr(args, "guidance", None)}  # fmt: skip
    return {k: v for k, v in given.items() if v is not None}


def cmd_describe(args) -> None:
    from .model.pipeline import load_model

    _check_samples(args)
    model = load_model(args.model, args.device, args.dtype)
    motion = _load(args.input, args)
    for k in range(args.samples):
        seed = None if args.seed is None else args.seed + k
        print(model.describe(motion, seed=seed, **_sampling(args)).text)


def cmd_chat(args) -> None:
    from .model.pipeline import load_model

    model = load_model(args.model, args.device, args.dtype)
    session = model.chat()
    print("omnimogen chat: type an instruction; ':save PATH' saves the last motion, ':quit' ends.")
    last = None
    while True:
        try:
            line = input("> ").strip()
        except EOFError:
            break
        if not line:
            continue
        if line in (":quit", ":q"):
            break
        if line.startswith(":save"):
            if last is None:
                print("nothing to save yet")
            else:
                path = line.split(maxsplit=1)[1] if " " in line else "motion.bvh"
                try:
                    last.save(path)
                    print(f"wrote {path}")
                except OmnimogenError as e:  # a bad path must not end the conversation
                    print(f"error: {e}")
            continue
        try:
            result = session(line, seed=args.seed, **_sampling(args))
        except OmnimogenError as e:
            print(f"error: {e}")
            continue
        _say_reading(result)
        if result.motions:
            last = result.motions[-1]
            print(f"{result.text}  [{last.num_frames} frames, {last.duration:.2f} s; ':save FILE' to keep it]")
        else:
            print(result.text)


def cmd_serve(args) -> None:
    from .serving import serve

    serve(args.model, host=args.host, port=args.port, device=args.device, dtype=args.dtype)


def cmd_data_bandai(args) -> None:
    from .data.bandai import build_bandai

    report = build_bandai(args.src, args.out, limit=args.limit, workers=args.workers, overwrite=args.overwrite)
    print(json.dumps({k: v for k, v in vars(report).items() if k != "skipped"}, indent=1))
    for take, reason in report.skipped.items():
        print(f"skipped {take}: {reason}")


def cmd_data_import(args) -> None:
    from .data.importer import import_folder

    joint_map = None
    if args.joint_map:
        from .formats.rigs import load_joint_map

        joint_map = load_joint_map(args.joint_map)
    report = import_folder(args.folder, args.out, captions=args.captions, joint_map=joint_map, workers=args.workers,
                           overwrite=args.overwrite)  # fmt: skip
    print(json.dumps({k: v for k, v in vars(report).items() if k != "skipped"}, indent=1))
    left_out = f"; {len(report.skipped)} left out, each named above" if report.skipped else ""
    print(f"wrote {args.out}: {report.takes_written} of {report.takes_found} takes, {report.clips_written} clips "
          f"with mirrors{left_out}")  # fmt: skip


def _print_build(result, kind: str) -> None:
    for task, splits in result.counts.items():
        print(f"{task:30s} " + "  ".join(f"{split} {n:6,d}" for split, n in splits.items()))
    for message in result.skipped:
        print(f"skipped {message}")
    print(f"wrote {kind} to {result.out}: {result.files} files, {result.bytes / 1e6:.1f} MB, {result.seconds:.1f} s")


def _mix(pairs: list[str] | None) -> dict[str, float] | None:

    if not pairs:
        return None
    mix = {}
    for pair in pairs:
        task, _, weight = pair.partition("=")
        try:
            mix[task] = float(weight)
        except ValueError:
            raise FormatError(f"--mix {pair!r}: write TASK=WEIGHT, e.g. --mix edit/style=3.") from None
    return mix


def _weights(text: str | None) -> list[float] | None:
    """``--data-weights 3,1`` -> [3.0, 1.0]."""
    if text is None:
        return None
    try:
        return [float(w) for w in text.split(",")]
    except ValueError:
        raise FormatError(f"--data-weights {text!r}: write one number per --data, e.g. --data-weights 3,1.") from None


def cmd_data_x2mo(args) -> None:
    from .instructions.builder import build_x2mo
    from .instructions.corpus import Corpus

    corpus = Corpus(args.data, _weights(args.data_weights))
    result = build_x2mo(corpus, args.out, samples=args.samples, seed=args.seed, mix=_mix(args.mix),
                        overwrite=args.overwrite)  # fmt: skip
    _print_build(result, "the instruction set")


def cmd_data_anycontext(args) -> None:
    from .instructions.anycontext import build_anycontext

    _print_build(build_anycontext(args.data, args.out, overwrite=args.overwrite), "the AnyContext benchmark")


def cmd_data_validate(args) -> None:
    from .errors import FormatError
    from .instructions.validate import validate_set

    report = validate_set(args.dir, args.data)
    print(json.dumps(report.summary(), indent=1))
    if not report.ok:
        for message in report.errors:
            print(message, file=sys.stderr)
        raise FormatError(
            f"{args.dir}: {report.error_count} problem(s) in the instruction set (the first are listed above)."
        )


def cmd_data_preview(args) -> None:
    from .errors import FormatError
    from .instructions.corpus import Corpus
    from .instructions.preview import pick, render_sample, transcript

    corpus = Corpus(args.data)
    chosen = pick(args.dir, args.task, args.count, args.seed)
    if not chosen:
        raise FormatError(f"{args.dir}: no sample of task {args.task!r}; the manifest lists the tasks.")
    for sample in chosen:
        print(transcript(sample))
        print(f"  -> {render_sample(sample, corpus, Path(args.out) / f'{sample.id}.png')}")


def _train_config(cls, args):
    """The training config: defaults, then --config, then --set, then --device."""
    from .training.common import resolve_config

    device = [f"device={args.device}"] if args.device else []
    return resolve_config(cls, args.config, [*(args.set or []), *device])


def cmd_train_tokenizer(args) -> None:
    from .training.tokenizer import TokenizerTrainConfig, train_tokenizer

    train_tokenizer(args.data, args.out, _train_config(TokenizerTrainConfig, args))


def cmd_train_evaluator(args) -> None:
    from .training.evaluator import EvaluatorTrainConfig, train_evaluator

    train_evaluator(args.data, args.out, _train_config(EvaluatorTrainConfig, args))


def cmd_train_lm(args) -> None:
    from .training.lm import LMTrainConfig, prepare_run, train_lm

    cfg = _train_config(LMTrainConfig, args)
    if (args.data is None) != (args.corpus is None):
        raise OmnimogenError("--data and --corpus go together (or neither: train from RUN/prepared).")
    if args.prepare_only:
        if args.data is None:
            raise OmnimogenError("--prepare-only needs --data and --corpus: the set to prepare.")
        done = prepare_run(args.data, args.corpus, args.tokenizer, args.out, cfg)
        print(f"prepared {done['samples']} samples in {done['folder']} ({done['bytes'] / 1e6:.1f} MB); "
              f"train them anywhere with: omnimogen train lm --out {args.out} (same --set and --tokenizer)")  # fmt: skip
        return
    train_lm(args.data, args.corpus, args.tokenizer, args.out, cfg)


def cmd_train_realign(args) -> None:
    from .training.realign import realign_model

    r = realign_model(args.model_dir, args.tokenizer, args.corpus, args.out, clips=args.clips)
    print(f"{args.out}: reads tokenizer {args.tokenizer}'s codes, fitted on {r.steps} steps of {r.clips} clips "
          f"(same code number on level 1: {r.same_codes[0]:.0%}, finer levels: {max(r.same_codes[1:]):.0%} or less; "
          f"input error {r.input_error_by_number:.2f} by number, {r.input_error_fitted:.2f} fitted). "
          f"Teach it to write them: omnimogen train lm ... --tokenizer {args.tokenizer} --set init_from={args.out}")


def cmd_train_rl(args) -> None:
    from .training.rl import RLTrainConfig, train_rl

    train_rl(args.model_dir, args.data, args.corpus, args.out, _train_config(RLTrainConfig, args), evaluator=args.evaluator)


def cmd_bench(args) -> None:
    from .evaluation.bench import run_bench
    from .evaluation.bench_report import summary

    if args.suite == "follow":
        from .evaluation.follow import run_follow

        if args.cases:
            raise OmnimogenError("the follow suite takes its cases from --prompts, not --cases.")
        run_follow(args.out, data=args.data, model=args.model, evaluator=args.evaluator, prompts=args.prompts,
                   split=args.split, repeats=args.repeats or (1 if args.quick else 3), seed=args.seed,
                   baselines_only=args.baselines_only, device=args.device, temperature=args.temperature,
                   keep_parts=args.keep_parts, candidates=args.candidates)  # fmt: skip
        print((Path(args.out) / "report.md").read_text(encoding="utf-8"))
        print(f"wrote {Path(args.out) / 'results.json'}, report.md, answers.jsonl and results.png")
        return

    results = run_bench(args.suite, args.out, data=args.data, cases=args.cases, model=args.model,
                        evaluator=args.evaluator, seed=args.seed, repeats=args.repeats, quick=args.quick,
                        baselines_only=args.baselines_only, overwrite=args.overwrite,
                        paraphrase=args.split if args.paraphrase else None, device=args.device,
                        temperature=args.temperature)  # fmt: skip
    print("\n".join(summary(results)))
    print(f"wrote {Path(args.out) / 'results.json'}, report.md and results.png")


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

    p = sub.add_parser("convert", help="convert a motion between .npy, .json, .bvh, .bvh.gz, export .glb/.gltf, render .gif/.mp4")
    p.add_argument("input", metavar="IN")
    p.add_argument("output", metavar="OUT")
    p.add_argument("--npy", choices=["features", "joints"], help="what a .npy output holds (default: as loaded)")
    p.add_argument("--caption", help="caption to store with the motion")
    _add_bvh_flags(p)
    _add_export_flags(p, clean_by_default=False)
    p.set_defaults(func=cmd_convert)

    p = sub.add_parser("retarget", help="put a motion on another character's BVH skeleton (Mixamo, CMU, ...)")
    p.add_argument("input", metavar="IN", help="a motion file (.bvh, .bvh.gz, .npy, .json)")
    p.add_argument("-o", "--output", required=True, metavar="OUT", help="OUT.bvh, .bvh.gz, .glb or .gltf")
    p.add_argument("--caption", help=argparse.SUPPRESS)
    p.add_argument("--npy", help=argparse.SUPPRESS)
    _add_bvh_flags(p)
    _add_export_flags(p, clean_by_default=True)
    p.set_defaults(func=cmd_retarget)

    p = sub.add_parser("generate", help="carry out an instruction: text to motion, editing, in-context, ...")
    p.add_argument("text", help='the instruction, e.g. "a tired person waves goodbye" or "make <SourceMotion> happy"')
    p.add_argument("-o", "--output", action="append", metavar="OUT",
                   help="output file(s): .bvh, .bvh.gz, .npy, .json, .gif, .mp4 (repeatable)")  # fmt: skip
    p.add_argument("--motion", action="append", metavar="[NAME=]FILE",
                   help="a motion for a placeholder: by name (SourceMotion=a.bvh) or in order of mention")  # fmt: skip
    p.add_argument("--seconds", type=float, help="exact duration in seconds (default: the model decides)")
    p.add_argument("--frames", type=int, help="exact duration in frames at 20 fps")
    p.add_argument("--seed", type=int, help="random seed (sample k uses seed + k)")
    p.add_argument("--samples", type=int, default=1, help="how many results (outputs get _1, _2, ...)")
    p.add_argument("--think", action="store_true", help="self-reflection: judge the result in words, regenerate")
    p.add_argument("--motion-only", action=argparse.BooleanOptionalAction, default=True,
                   help="the answer is exactly one motion (default); --no-motion-only lets the model write words "
                        "before it (a plan for knowledge prompts)")  # fmt: skip
    p.add_argument("--words", dest="motion_only", action="store_false", help="the same as --no-motion-only")
    p.add_argument("--keep-parts", action=argparse.BooleanOptionalAction, default=True,
                   help="body parts the words keep ('keep the legs of <SourceMotion> and wave') are copied from the "
                        "motion being edited (default); --no-keep-parts leaves the whole body to the model")  # fmt: skip
    p.add_argument("--candidates", type=int, help=CANDIDATES_HELP)
    p.add_argument(
        "--no-preview",
        dest="preview",
        action="store_false",
        help="do not write a preview GIF next to each output (written when no .gif/.mp4 is asked for)",
    )
    p.add_argument("--temperature", type=float, help="temperature of the motion (default: the model's)")
    p.add_argument("--text-temperature", type=float, help="temperature of the words (default: the model's)")
    p.add_argument("--guidance", type=float, help="classifier-free guidance of the motion, 1 for none (default: the model's)")
    p.add_argument("--top-k", type=int)
    p.add_argument("--top-p", type=float, default=0.95)
    p.add_argument("--model", help="model directory (default: the one shipped with the package)")
    _add_device_flags(p)
    _add_bvh_flags(p)
    _add_export_flags(p, clean_by_default=True)
    p.set_defaults(func=cmd_generate)

    p = sub.add_parser("describe", help="write a caption for a motion file")
    p.add_argument("input", metavar="IN", help="a motion file (.bvh, .bvh.gz, .npy, .json)")
    p.add_argument("--model", help="model directory (default: the one shipped with the package)")
    p.add_argument("--seed", type=int, help="random seed (sample k uses seed + k)")
    p.add_argument("--samples", type=int, default=1, help="how many captions")
    p.add_argument("--text-temperature", "--temperature", dest="text_temperature", type=float,
                   help="temperature of the words (default: the model's); --temperature is the same")  # fmt: skip
    _add_device_flags(p)
    _add_bvh_flags(p)
    p.set_defaults(func=cmd_describe)

    p = sub.add_parser("chat", help="an interactive multi-turn session in the terminal")
    p.add_argument("--model", help="model directory (default: the one shipped with the package)")
    p.add_argument("--seed", type=int)
    p.add_argument("--temperature", type=float, help="temperature of the motion (default: the model's)")
    p.add_argument("--text-temperature", type=float, help="temperature of the words (default: the model's)")
    p.add_argument("--guidance", type=float, help="classifier-free guidance of the motion, 1 for none (default: the model's)")
    _add_device_flags(p)
    p.set_defaults(func=cmd_chat)

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

    p = sub.add_parser("serve", help="the studio: direct motion by conversation in the browser (and a JSON API)")
    p.add_argument("--model", help="model directory (default: the one shipped with the package)")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default: this machine only)")
    p.add_argument("--port", type=int, default=8000)
    _add_device_flags(p)
    p.set_defaults(func=cmd_serve)

    data = sub.add_parser("data", help="build datasets").add_subparsers(dest="dataset", required=True)
    p = data.add_parser("bandai", help="build a HumanML3D-layout dataset from the Bandai Namco motion datasets")
    p.add_argument("src", help="folder holding Bandai-Namco-Research-Motiondataset-1 and -2")
    p.add_argument("out", help="output dataset folder")
    p.add_argument("--limit", type=int, help="build only this many takes (spread over the corpus)")
    p.add_argument("--workers", type=int, help="worker processes (default: up to 2)")
    p.add_argument("--overwrite", action="store_true", help="replace OUT if it exists")
    p.set_defaults(func=cmd_data_bandai)
    p = data.add_parser("import", help="build a HumanML3D-layout dataset from a folder of captioned takes of any rig")
    p.add_argument("folder", help="folder of motion files (.bvh, .bvh.gz, .npy, .json) with a captions.csv")
    p.add_argument("--out", required=True, help="output dataset folder")
    p.add_argument("--captions", help="the captions CSV (columns path, caption; default: FOLDER/captions.csv)")
    p.add_argument("--joint-map", metavar="JSON", help="map of SMPL joint names to the rig's names, for unknown rigs")
    p.add_argument("--workers", type=int, help="worker processes (default: up to 2)")
    p.add_argument("--overwrite", action="store_true", help="replace OUT if it exists")
    p.set_defaults(func=cmd_data_import)
    p = data.add_parser("x2mo", help="build the interleaved instruction training set from labelled or captioned data")
    p.add_argument("--data", required=True, action="append",
                   help="HumanML3D-layout dataset (labels.json and/or captions in texts/); repeat for several")
    p.add_argument("--data-weights", metavar="W1,W2", help="share of the samples drawn from each --data (default: "
                   "each folder's share of the clips)")  # fmt: skip
    p.add_argument("--out", required=True, help="output folder (shards, manifest.json, mix.png)")
    p.add_argument("--samples", type=int, default=30_000, help="samples over all splits (default: 30000)")
    p.add_argument("--seed", type=int, default=0, help="the same seed and data give byte-identical files")
    p.add_argument("--mix", action="append", metavar="TASK=WEIGHT", help="task weights replacing the default mix")
    p.add_argument("--overwrite", action="store_true", help="replace OUT if it exists")
    p.set_defaults(func=cmd_data_x2mo)
    p = data.add_parser("anycontext", help="build the AnyContext benchmark from the test split of a dataset")
    p.add_argument("--data", required=True, action="append",
                   help="HumanML3D-layout dataset (labels give style and trajectory cases); repeat for several")
    p.add_argument("--out", required=True, help="output folder (one file per category, manifest.json)")
    p.add_argument("--overwrite", action="store_true", help="replace OUT if it exists")
    p.set_defaults(func=cmd_data_anycontext)
    p = data.add_parser("validate", help="check every sample of an X2Mo or AnyContext folder against its dataset")
    p.add_argument("dir", help="instruction set folder")
    p.add_argument("--data", required=True, action="append", help="the dataset(s) it was built from, in order")
    p.set_defaults(func=cmd_data_validate)
    p = data.add_parser("preview", help="render random samples of one task of an instruction set (PNG contact sheets)")
    p.add_argument("dir", help="instruction set folder")
    p.add_argument("--data", required=True, action="append", help="the dataset(s) it was built from, in order")
    p.add_argument("--task", required=True, help="task to look at, e.g. edit/style")
    p.add_argument("-n", "--count", type=int, default=5, help="samples to render (default: 5)")
    p.add_argument("--seed", type=int, default=0, help="which random samples")
    p.add_argument("--out", required=True, help="folder for the PNG files")
    p.set_defaults(func=cmd_data_preview)

    p = sub.add_parser("bench", help="run a benchmark suite on a model and the baselines (results.json, report.md)")
    p.add_argument("suite", metavar="SUITE", help="anycontext, t2m, edit, tasks or follow")
    p.add_argument("--model", help="model directory (default: the one shipped with the package)")
    p.add_argument("--out", required=True, help="results folder; an interrupted run in it resumes")
    p.add_argument(
        "--data", required=True, help="the HumanML3D-layout dataset with labels.json (omnimogen data bandai)"
    )
    p.add_argument("--cases", help="AnyContext folder (anycontext) or X2Mo folder (edit, tasks: its test shard); "
                   "default: built from --data with the default settings")  # fmt: skip
    p.add_argument("--evaluator", help="evaluator directory (default: the one shipped with the package)")
    p.add_argument("--repeats", type=int, help="repeats for the 95%% intervals (default: 20; 2 with --quick)")
    p.add_argument("--quick", action="store_true", help="at most 32 cases per category and 2 repeats: minutes on a CPU")
    p.add_argument("--seed", type=int, default=0, help="the same seed gives the same numbers")
    p.add_argument("--baselines-only", action="store_true", help="evaluate the baselines without a model")
    p.add_argument("--overwrite", action="store_true", help="replace another run held in OUT")
    p.add_argument("--paraphrase", action="store_true",
                   help="t2m, anycontext: ask in the held-out words of the paraphrase set, not the templates'")
    p.add_argument("--split", default="dev", choices=("dev", "test", "all"),
                   help="follow, --paraphrase: which half of the paraphrase set (score test only for a final model)")
    p.add_argument("--prompts", help="follow: a prompts file like omnimogen/evaluation/follow_prompts.json")
    p.add_argument("--temperature", type=float, help="the model's motion sampling temperature (default: the model's, as generate)")
    p.add_argument("--no-keep-parts", dest="keep_parts", action="store_false",
                   help="follow: leave the body parts an edit keeps to the model too (as generate --no-keep-parts)")
    p.add_argument("--candidates", type=int, help="follow: " + CANDIDATES_HELP)
    _add_device_flags(p, dtype=False)  # scores are reported in float32
    p.set_defaults(func=cmd_bench)

    train = sub.add_parser("train", help="train models").add_subparsers(dest="model", required=True)
    p = train.add_parser("tokenizer", help="train the motion tokenizer (resumes RUN if it has checkpoints)")
    p.add_argument("--data", required=True, action="append",
                   help="HumanML3D-layout dataset folder; repeat for several corpora (--set data_weights=[2,1])")
    _add_run_flags(p, "tokenizers", "model.width=128", cmd_train_tokenizer)

    p = train.add_parser("evaluator", help="train the text-motion evaluator (resumes RUN if it has checkpoints)")
    p.add_argument("--data", required=True, action="append",
                   help="HumanML3D-layout dataset folder with captions (labels.json: label-aware); repeat for several")
    _add_run_flags(p, "evaluators", "batch_size=128", cmd_train_evaluator)

    p = train.add_parser("lm", help="train the model on an X2Mo-style instruction set (resumes RUN)")
    p.add_argument("--data", help="instruction set folder (omnimogen data x2mo); leave out with --corpus to train "
                   "from RUN/prepared (--prepare-only)")  # fmt: skip
    p.add_argument("--corpus", action="append",
                   help="the HumanML3D-layout dataset(s) the instructions reference, in the order they were built from")
    p.add_argument("--prepare-only", action="store_true",
                   help="only render the training set into RUN/prepared (no corpus needed to train from it later)")
    p.add_argument("--tokenizer", help="tokenizer directory (default: the one shipped with the package)")
    _add_run_flags(p, "models", "model.layout=flat", cmd_train_lm)

    p = train.add_parser("realign", help="move a trained model onto another tokenizer's codes (before a fine-tune "
                         "on them), keeping how it reads motion")  # fmt: skip
    p.add_argument("--model", dest="model_dir", help="the trained model (default: the shipped one)")
    p.add_argument("--tokenizer", required=True, help="the new tokenizer (e.g. a fine-tune of the model's own)")
    p.add_argument("--corpus", required=True, action="append",
                   help="HumanML3D-layout dataset(s) the model knows: their training clips pair the codes")
    p.add_argument("--clips", type=int, default=800, help="training clips to pair (a seeded sample)")
    p.add_argument("--out", required=True, help="the model folder to write (with the tokenizer in OUT/tokenizer)")
    p.set_defaults(func=cmd_train_realign)

    p = train.add_parser("rl", help="reinforcement learning (GRPO) of a trained model with semantic, physical and "
                         "verifiable rewards (resumes RUN)")  # fmt: skip
    p.add_argument("--model", dest="model_dir", help="the supervised model to start from (default: the shipped one)")
    p.add_argument("--data", required=True, help="instruction set folder (omnimogen data x2mo): the prompts")
    p.add_argument("--corpus", required=True, action="append",
                   help="the HumanML3D-layout dataset(s) the instructions reference, in the order they were built from")
    p.add_argument("--evaluator", help="the evaluator of the semantic reward (default: the shipped one); judge the "
                   "result with another (omnimogen train evaluator --set train_share=0.5)")  # fmt: skip
    _add_run_flags(p, "models", "kl=0.02", cmd_train_rl)
    return parser


def _add_run_flags(p: argparse.ArgumentParser, what: str, example: str, func) -> None:
    """The flags every training command shares: the run folder, settings and device."""
    p.add_argument("--out", required=True, help=f"run folder (checkpoints, logs, best/ and final/ {what})")
    p.add_argument("--config", help="JSON file of training settings")
    p.add_argument("--set", action="append", metavar="KEY=VALUE", help=f"override a setting, e.g. --set {example}")
    p.add_argument("--device", choices=("auto", "cpu", "cuda"),
                   help="auto (default: CUDA when there is one, one GPU per process under accelerate/torchrun) or cpu")
    p.set_defaults(func=func)


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
