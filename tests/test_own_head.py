"""The user's own head: `--hrtf FILE.sofa` on remaster and evaluate, and bad SOFA files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import sofar

from binaural.spatial.hrtf import load_sofa
from flows.cli import main
from flows.params import load_params
from flows.remaster import generator_version

KEMAR_SOFA = "/usr/share/libmysofa/MIT_KEMAR_normal_pinna.sofa"


def _resampled_head(path: Path, rate: int) -> Path:
    """KEMAR written as a SimpleFreeFieldHRIR at another rate: a head of the user's own."""
    from scipy.signal import resample_poly

    src = sofar.read_sofa(KEMAR_SOFA, verify=False, verbose=False)
    sofa = sofar.Sofa("SimpleFreeFieldHRIR")
    sofa.Data_IR = resample_poly(np.asarray(src.Data_IR), rate, 44100, axis=-1) * 3.0
    sofa.Data_SamplingRate = float(rate)
    sofa.SourcePosition = np.asarray(src.SourcePosition)
    sofa.SourcePosition_Type, sofa.SourcePosition_Units = "spherical", "degree, degree, metre"
    sofa.ReceiverPosition = np.asarray(src.ReceiverPosition)[..., :1] if np.ndim(
        src.ReceiverPosition) == 3 else np.asarray(src.ReceiverPosition)
    sofar.write_sofa(str(path), sofa, compression=0)
    return path


def _other_convention(path: Path, convention: str) -> Path:
    sofa = sofar.Sofa(convention)
    sofar.write_sofa(str(path), sofa, compression=0)
    return path


def test_a_head_at_any_rate_is_resampled_and_normalised(tmp_path):
    head = load_sofa(_resampled_head(tmp_path / "mine.sofa", 32000), 48000)
    kemar = load_sofa(KEMAR_SOFA, 48000)
    assert head.sample_rate == 48000 and head.name == "mine"
    assert abs(head.taps - kemar.taps) <= 2  # 32 kHz -> 48 kHz: 1.5x the taps of 32 kHz
    front = head.nearest(0.0, 0.0)
    energy = 0.5 * float(np.sum(head.ir[front] ** 2))
    assert energy == pytest.approx(1.0, rel=1e-4)  # the x3 of the file is normalised away


def test_a_text_file_named_sofa_gives_one_clear_line(tmp_path):
    bad = tmp_path / "head.sofa"
    bad.write_text("this is not a SOFA file\n")
    with pytest.raises(ValueError, match="not a readable SOFA file") as info:
        load_sofa(bad, 48000)
    assert str(bad) in str(info.value) and "\n" not in str(info.value)


@pytest.mark.parametrize("convention", ["SimpleFreeFieldHRTF", "GeneralTF"])
def test_another_convention_is_named(tmp_path, convention):
    bad = _other_convention(tmp_path / f"{convention}.sofa", convention)
    with pytest.raises(ValueError, match=f"SOFA convention {convention}; an HRIR set"):
        load_sofa(bad, 48000)


@pytest.mark.parametrize("command", ["remaster", "evaluate"])
def test_cli_refuses_a_bad_head_in_one_line(tmp_path, capsys, command):
    bad = tmp_path / "head.sofa"
    bad.write_text("not a head\n")
    src = tmp_path / "src"
    src.mkdir()
    argv = ([command, str(src), str(tmp_path / "dest")] if command == "remaster"
            else [command, str(src), "--out", str(tmp_path / "eval")]) + ["--hrtf", str(bad)]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and str(bad) in err[0] and "not a readable SOFA file" in err[0]
    assert not (tmp_path / "dest").exists()


def test_the_version_names_the_head_and_the_delivery(tmp_path):
    from dataclasses import replace

    from flows.params import with_head

    params = load_params()
    mine = _resampled_head(tmp_path / "my_own_head.sofa", 44100)
    theirs = with_head(params, str(mine))
    version = generator_version(theirs, "dsp")
    assert version.startswith("dsp-my_own_head-")
    assert version != generator_version(params, "dsp")
    louder = replace(theirs, delivery=replace(theirs.delivery, loudness_lufs=-16.0))
    assert generator_version(louder, "dsp") != version
    # a retrained separation model under the same path is a new version
    copy = tmp_path / "separation.npz"
    copy.write_bytes(Path(params.render.separation_model).read_bytes())
    same = replace(theirs, render=replace(theirs.render, separation_model=str(copy)))
    assert generator_version(same, "dsp") == version
    copy.write_bytes(copy.read_bytes() + b"retrained")
    assert generator_version(same, "dsp") != version


def test_the_driver_checks_a_head_as_loading_would_without_resampling_it(tmp_path):
    """flows.params.with_head checks the head in the driver (check_sofa: the same errors
    as load_sofa), without scipy.signal (~1 s of imports there; the workers resample)."""
    import subprocess
    import sys

    from binaural.spatial.hrtf import check_sofa

    bad = tmp_path / "head.sofa"
    bad.write_text("this is not a SOFA file\n")
    with pytest.raises(ValueError, match="not a readable SOFA file"):
        check_sofa(bad)
    with pytest.raises(ValueError, match="SOFA convention GeneralTF; an HRIR set"):
        check_sofa(_other_convention(tmp_path / "other.sofa", "GeneralTF"))
    check_sofa(_resampled_head(tmp_path / "mine.sofa", 32000))  # a good one passes
    code = ("import sys; from flows.params import load_params, with_head; "
            "with_head(load_params(), None); print('scipy.signal' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.split()
    assert out[-1] == "False"


SONICOM = "pkg:spatialaudiometrics/example_sofa_1.sofa"


def _params_with_head(tmp_path: Path, head: str) -> Path:
    """The project's params.yaml with render.hrtf set to `head`."""
    import yaml

    from flows.environment import PROJECT_ROOT

    data = yaml.safe_load((PROJECT_ROOT / "params.yaml").read_text())
    data["render"]["hrtf"] = head
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_a_packaged_head_names_the_renderers_head_as_the_synthesizers_do(tmp_path):
    from flows.params import with_head

    params = load_params(_params_with_head(tmp_path, SONICOM))
    path = Path(params.render.hrtf)
    assert path.is_file() and path.name == "example_sofa_1.sofa"
    assert with_head(params, None).render.hrtf == str(path)  # read and accepted
    assert load_sofa(path, 48000).name == "example_sofa_1"
    # and on the command line's --hrtf
    kemar = load_params(_params_with_head(tmp_path, KEMAR_SOFA))
    assert with_head(kemar, SONICOM).render.hrtf == str(path)


def test_a_packaged_head_that_is_not_there_fails_in_one_line_naming_it(tmp_path):
    from flows.params import with_head

    missing = "pkg:no_such_package_here/head.sofa"
    with pytest.raises(FileNotFoundError, match="no_such_package_here") as info:
        with_head(load_params(_params_with_head(tmp_path, KEMAR_SOFA)), missing)
    assert "\n" not in str(info.value)
    params = load_params(_params_with_head(tmp_path, missing))  # loading does not fail...
    assert params.render.hrtf == missing
    with pytest.raises(FileNotFoundError, match=missing):  # ...the check names it
        with_head(params, None)
