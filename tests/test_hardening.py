"""Bad input gets one sentence: each case feeds the input a careful user or a broken disk would, and
checks the answer is an OmnimogenError (exit status 2 and one line on the command line) that leaves
no file behind."""

import os

import numpy as np
import pytest

from omnimogen import Motion
from omnimogen.cli import main
from omnimogen.errors import FormatError

KINDS = [".npy", ".json", ".bvh", ".bvh.gz", ".gif"]


def _leftovers(folder):
    return sorted(p.name for p in folder.rglob("*") if ".tmp" in p.name)


@pytest.mark.parametrize("kind", KINDS)
def test_unwritable_outputs_are_one_sentence_and_leave_nothing(tmp_path, hml_joints, kind, monkeypatch):
    m = Motion.from_joints(hml_joints[:12])
    (tmp_path / f"folder{kind}").mkdir()  # a folder with the output's name
    (tmp_path / "file").write_text("x")  # a file where a folder should be
    for target in (tmp_path / f"folder{kind}", tmp_path / "file" / f"out{kind}"):
        with pytest.raises(FormatError, match=r"cannot be written \(.+\)\.$"):
            m.save(target)
    full = OSError(28, "No space left on device")
    monkeypatch.setattr(os, "replace", lambda *a: (_ for _ in ()).throw(full))
    with pytest.raises(FormatError, match="No space left on device"):
        m.save(tmp_path / f"full{kind}")
    assert _leftovers(tmp_path) == [] and not (tmp_path / f"full{kind}").exists()


def test_cli_write_errors_exit_2_with_one_line(tmp_path, hml_joints, capsys):
    src = Motion.from_joints(hml_joints[:40]).save(tmp_path / "in.npy")
    (tmp_path / "taken.json").mkdir()
    for argv in (["convert", str(src), str(tmp_path / "taken.json")],
                 ["encode", str(src), "-o", str(tmp_path / "taken.json")]):  # fmt: skip
        capsys.readouterr()
        assert main(argv) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith("error: ") and "cannot be written" in err[0], err
    assert _leftovers(tmp_path) == []
    assert np.load(src).shape[0] > 0  # the input is untouched


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--samples", "0"], "--samples must be a whole number at least 1 and at most 64, not 0."),
        (["--samples", "-1"], "--samples must be"),
        (["--samples", "10000"], "at most 64"),
        (["--temperature", "-1"], "temperature must be a number at least 0 and at most 100, not -1.0."),
        (["--temperature", "nan"], "temperature must be"),
        (["--top-k", "0"], "top_k must be a whole number at least 1"),
        (["--top-p", "0"], "top_p must be a number more than 0 and at most 1"),
        (["--top-p", "1.5"], "top_p must be"),
        (["--seconds", "-2"], "seconds must be a number more than 0 and at most 60"),
        (["--seconds", "inf"], "seconds must be"),
        (["--frames", "5000"], "frames must be between"),
        (["--seed", "-3"], "seed must be a whole number at least 0"),
    ],
)
def test_generate_refuses_numbers_out_of_range_before_any_work(tmp_path, capsys, argv, message):
    out = tmp_path / "a.npy"
    assert main(["generate", "a person walks", "-o", str(out), *argv]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and message in err[0], err
    assert list(tmp_path.iterdir()) == []


def test_the_python_api_refuses_the_same_numbers(tmp_path):
    from omnimogen.data.bandai import build_bandai
    from omnimogen.errors import OptionError
    from omnimogen.model.generate import SamplingOptions
    from omnimogen.training.common import ConfigError, start_run
    from omnimogen.training.lm import LMTrainConfig

    for bad in ({"temperature": -0.5}, {"top_k": 2.5}, {"top_p": float("nan")}, {"max_new_tokens": 0},
                {"text_temperature": 1e9}, {"temperature": True}):  # fmt: skip
        with pytest.raises(OptionError):
            SamplingOptions(**bad)
    for bad in ({"lr": 0.0}, {"lr": float("inf")}, {"batch_size": 0}, {"steps": -5}, {"min_lr_ratio": 2.0}):
        with pytest.raises(ConfigError, match=f"^{next(iter(bad))} must be"):
            start_run(LMTrainConfig(**bad), tmp_path / "run")
    assert not (tmp_path / "run").exists()  # refused before the run folder is made
    for kw in ({"limit": 0}, {"workers": -1}):
        with pytest.raises(OptionError):
            build_bandai(tmp_path, tmp_path / "out", **kw)


def test_finite_but_absurd_values_are_refused(tmp_path, hml_joints, hml_features, capsys):
    from omnimogen.errors import MotionError

    cases = {
        "complex.npy": hml_joints[:10].astype(np.complex64) + 1j,
        "huge.npy": np.full_like(hml_features[:10], 1e30),
        "far.npy": hml_joints[:10] + 1e5,
    }
    for name, arr in cases.items():
        np.save(tmp_path / name, arr)
    bvh = Motion.from_joints(hml_joints[:10]).save(tmp_path / "spin.bvh")
    lines = bvh.read_text().splitlines()
    values = lines[-1].split()
    values[5] = "1e308"  # the root's last rotation channel
    bvh.write_text("\n".join(lines[:-1] + [" ".join(values)]) + "\n")
    expected = {"complex.npy": "complex64 values; a motion needs real numbers", "huge.npy": "beyond 10000",
                "far.npy": "beyond 10000", "spin.bvh": "past any real motion"}  # fmt: skip
    for name, message in expected.items():
        with pytest.raises((MotionError, FormatError), match=message):
            Motion.load(tmp_path / name)
        assert main(["convert", str(tmp_path / name), str(tmp_path / "out.bvh")]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and message in err[0] and not (tmp_path / "out.bvh").exists()
    with pytest.raises(MotionError, match="fps must be"):
        Motion.from_joints(hml_joints[:10], fps=float("inf"))


def test_generate_checks_every_output_first_and_writes_all_or_none(tmp_path, capsys, monkeypatch):
    import shutil

    from omnimogen.model import pipeline

    (tmp_path / "taken.npy").mkdir()
    monkeypatch.setattr(pipeline, "load_model", lambda *a, **k: pytest.fail("the model ran before the check"))
    ok = str(tmp_path / "a.bvh")
    assert main(["generate", "a person walks", "-o", ok, "-o", str(tmp_path / "taken.npy")]) == 2
    assert "taken.npy: cannot be written (a folder has that name)" in capsys.readouterr().err
    monkeypatch.setattr(shutil, "which", lambda name: None)
    assert main(["generate", "a person walks", "-o", ok, "-o", str(tmp_path / "b.mp4")]) == 2
    assert "needs ffmpeg" in capsys.readouterr().err
    monkeypatch.undo()

    def broken(self, path, **kw):  # the second file fails while it is written (a full disk, say)
        if str(path).endswith(".json"):
            raise OSError(28, "No space left on device")
        return real_save(self, path, **kw)

    real_save = Motion.save
    monkeypatch.setattr(Motion, "save", broken)
    argv = ["generate", "a person walks", "--seconds", "1", "--seed", "0", "-o", ok, "-o", str(tmp_path / "c.json")]
    assert main(argv) == 2
    assert "c.json: cannot be written (No space left on device)" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["taken.npy"]  # neither a.bvh nor its preview


def test_memory_is_bounded_before_anything_is_allocated(tmp_path, hml_joints, monkeypatch):
    import gzip

    from omnimogen.errors import MotionError
    from omnimogen.formats import bvh as bvh_format

    lying = tmp_path / "lying.npy"  # a few bytes whose header claims two billion frames
    with open(lying, "wb") as f:
        np.lib.format.write_array_header_1_0(f, {"descr": "<f4", "fortran_order": False, "shape": (2_000_000_000, 263)})
        f.write(b"\0" * 4096)
    with pytest.raises(MotionError, match="claims 2000000000 frames; at most 200000"):
        Motion.load(lying)
    short = tmp_path / "short.npy"
    np.save(short, hml_joints[:50])
    short.write_bytes(short.read_bytes()[:-100])
    with pytest.raises(MotionError, match="truncated"):
        Motion.load(short)
    monkeypatch.setattr(bvh_format, "MAX_CHARS", 4096)
    bomb = tmp_path / "bomb.bvh.gz"  # small on disk, large once decompressed
    text = Motion.from_joints(hml_joints).save(tmp_path / "long.bvh").read_text()
    with gzip.open(bomb, "wt") as f:
        f.write(text)
    with pytest.raises(FormatError, match="more than 0 MB of BVH text; split the take"):
        Motion.load(bomb)


def test_chat_save_to_a_bad_path_keeps_the_conversation(tmp_path, capsys, monkeypatch):
    (tmp_path / "file").write_text("x")
    lines = iter([":save early.bvh", "a person walks forward", f":save {tmp_path / 'file' / 'x.bvh'}",
                  f":save {tmp_path / 'noext'}", f":save {tmp_path / 'kept.bvh'}", ":quit"])  # fmt: skip
    monkeypatch.setattr("builtins.input", lambda prompt="": next(lines))
    assert main(["chat", "--seed", "0"]) == 0
    out = capsys.readouterr().out
    assert "nothing to save yet" in out and out.count("error: ") == 2 and "cannot be written" in out
    assert f"wrote {tmp_path / 'kept.bvh'}" in out and Motion.load(tmp_path / "kept.bvh").num_frames > 10


def test_a_second_writer_is_refused(tmp_path, hml_joints, capsys, monkeypatch):
    import subprocess
    import sys

    from omnimogen.fileio import file_state, lock_folder, write_all

    run = tmp_path / "run"
    holder = subprocess.Popen([sys.executable, "-c", "import sys, time; from omnimogen.fileio import lock_folder; "
                               f"lock_folder({str(run)!r}); print('locked', flush=True); time.sleep(60)"],
                              stdout=subprocess.PIPE, text=True)  # fmt: skip
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(FormatError, match="another omnimogen process is writing this training run"):
            lock_folder(run, "training run")
        from omnimogen.training.common import start_run
        from omnimogen.training.lm import LMTrainConfig

        with pytest.raises(FormatError, match="another omnimogen process"):
            start_run(LMTrainConfig(), run)
        assert not (run / "config.json").exists()
    finally:
        holder.kill()
        holder.wait()
    lock_folder(run)  # the lock went with the killed process
    lock_folder(run)  # and this process may take it again

    out = tmp_path / "a.npy"  # another process writes the output while this one works
    seen = {out: file_state(out)}
    np.save(out, hml_joints[:5])
    with pytest.raises(FormatError, match="another process wrote this file while this one worked"):
        write_all({out: lambda p: np.save(p, hml_joints)}, seen)
    assert np.load(out).shape[0] == 5


def test_python_api_mistakes_are_one_sentence(hml_joints):
    """What a script gets wrong reaches it as an OmnimogenError, never a ValueError or AttributeError."""
    from omnimogen.errors import OmnimogenError
    from omnimogen.model.pipeline import load_model
    from omnimogen.tokenizer import load_tokenizer

    model, tok = load_model(), load_tokenizer()
    walk = Motion.from_joints(hml_joints)
    calls = {
        "must be text (str), not int": lambda: model(123),
        "unknown option 'secnds'; the options are seconds": lambda: model("a person walks", secnds=3),
        "history must be a list of Message turns": lambda: model("a person walks", history=["hi"]),
        "SourceMotion must be a Motion, not ndarray": lambda: model("slow <SourceMotion> down",
                                                                    {"SourceMotion": hml_joints}),
        "unknown option 'SourceMotion'; the options are": lambda: model("slow <SourceMotion> down", SourceMotion=walk),
        "motions must map placeholder names to Motions": lambda: model("slow <SourceMotion> down", walk),
        "not a regular array of numbers": lambda: Motion.from_joints([[1, 2], [3]]),
        "encode takes a Motion": lambda: tok.encode(hml_joints),
        "must be a str or Path, not NoneType": lambda: walk.save(None),
        "fps must be more than 0": lambda: walk.resample(0),
    }  # fmt: skip
    for message, call in calls.items():
        with pytest.raises(OmnimogenError) as caught:
            call()
        assert message in str(caught.value) and str(caught.value).count(". ") <= 1, str(caught.value)


def test_help_and_argument_errors_answer_without_importing_torch():
    import subprocess
    import sys

    probe = ("import sys\nfrom omnimogen.cli import main\n"
             "for argv in (['--help'], ['generate'], ['bench', 'follow']):\n"
             "    try:\n        main(argv)\n    except SystemExit:\n        pass\n"
             "print('torch' in sys.modules)")  # fmt: skip
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    assert done.stdout.strip().splitlines()[-1] == "False", done.stdout + done.stderr
    assert "required: text" in done.stderr
    again = subprocess.run([sys.executable, "-m", "omnimogen", "--version"], capture_output=True, text=True, timeout=60)
    assert again.returncode == 0 and again.stdout.startswith("omnimogen ")


def test_a_checkpoint_config_with_an_unknown_key_is_refused(tmp_path):
    import json
    import shutil

    from omnimogen.tokenizer import load_tokenizer
    from omnimogen.tokenizer.model import DEFAULT_DIR

    copy = tmp_path / "tok"
    shutil.copytree(DEFAULT_DIR, copy)
    doc = json.loads((copy / "config.json").read_text())
    (copy / "config.json").write_text(json.dumps({**doc, "num_levles": 4}))  # a typo would be dropped silently
    with pytest.raises(FormatError, match="unknown setting.s. num_levles"):
        load_tokenizer(copy)
    (copy / "config.json").write_text(json.dumps(doc))
    assert load_tokenizer(copy).config.num_levels == doc["num_levels"]


def test_the_output_plan_names_samples_motions_and_previews(tmp_path, hml_joints):
    """The naming and preview policy of `omnimogen generate`, as a script gets it from the library."""
    from omnimogen.formats.outputs import OutputPlan

    a, b = Motion.from_joints(hml_joints[:20]), Motion.from_joints(hml_joints[:30])
    plan = OutputPlan([tmp_path / "take.bvh", tmp_path / "take.npy"], samples=2)
    assert plan.for_sample(1) == [tmp_path / "take_2.bvh", tmp_path / "take_2.npy"]
    plan.add(0, [a, b])  # an answer with two motions
    plan.add(1, [a])
    written = plan.write()
    names = sorted(p.name for p in written)
    assert names == sorted(["take_1.bvh", "take_1_m2.bvh", "take_1.npy", "take_1_m2.npy", "take_1.gif",
                            "take_1_m2.gif", "take_2.bvh", "take_2.npy", "take_2.gif"])  # fmt: skip
    assert {p.name for p in plan.previews} == {"take_1.gif", "take_1_m2.gif", "take_2.gif"}
    assert Motion.load(tmp_path / "take_1_m2.npy").num_frames == 30
    assert not OutputPlan([tmp_path / "clip.gif", tmp_path / "clip.bvh"]).preview  # a GIF asked: no extra one
    with pytest.raises(FormatError, match="cannot save '.txt'"):
        OutputPlan([tmp_path / "notes.txt"])


def test_generate_flags_carry_the_python_names():
    from omnimogen.cli import build_parser

    parse = build_parser().parse_args
    assert parse(["generate", "walk"]).motion_only is True
    assert parse(["generate", "walk", "--no-motion-only"]).motion_only is False
    assert parse(["generate", "walk", "--words"]).motion_only is False
    assert parse(["describe", "x.bvh", "--text-temperature", "0.3"]).text_temperature == 0.3
