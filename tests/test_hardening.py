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
