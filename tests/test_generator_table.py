"""scripts/generator_table.py: merging evaluations and the clip-paired comparison."""

import json

import pytest
from script_support import load_script


def _script():
    return load_script("generator_table")


def _doc(path, system, values):
    clips = {f"c{i}": {"n_sources": 2, "systems": {system: {
        "band_ild_error_db": v, "band_ipd_error_rad": v / 4, "tf_ild_error_db": v + 2,
        "tf_ipd_error_rad": v / 4, "lsd_db": 8.0}}} for i, v in enumerate(values)}
    path.write_text(json.dumps({"systems": [system], "clips": clips}))
    return str(path)


def test_a_system_two_files_give_is_refused_unless_renamed(tmp_path):
    table = _script()
    a = _doc(tmp_path / "a.json", "dsp", [4.0, 5.0, 6.0])
    b = _doc(tmp_path / "b.json", "dsp", [3.0, 4.0, 7.0])
    with pytest.raises(SystemExit, match="rename"):
        table.merged([a, b])
    doc = table.merged([f"{a}:dsp=before", b])
    assert doc["systems"] == ["before", "dsp"]
    assert doc["clips"]["c2"]["systems"]["before"]["band_ild_error_db"] == 6.0


def test_the_paired_comparison_counts_the_clips_each_way(tmp_path):
    table = _script()
    doc = table.merged([f"{_doc(tmp_path / 'a.json', 'dsp', [4.0, 5.0, 6.0, 5.0])}:dsp=old",
                        _doc(tmp_path / "b.json", "dsp", [3.0, 4.0, 7.0, 4.5])])
    text = table.paired(doc, None, "dsp", "old")
    assert "band_ild_error_db: 5.000 -> 4.625; better on 75 %, worse on 25 % of 4 clips" in text
    assert "lsd_db: 8.000 -> 8.000; better on 0 %, worse on 0 % of 4 clips (p = 1)" in text


def test_the_recordings_own_direction_figures_are_a_row_of_their_own(tmp_path):
    table = _script()
    path = tmp_path / "a.json"
    _doc(path, "dsp", [4.0, 5.0, 6.0])
    document = json.loads(path.read_text())
    for i, clip in enumerate(document["clips"].values()):
        clip["systems"]["dsp"]["itd_ild_mismatch_deg"] = 2.0 + i
        clip["reference"] = {"itd_ild_mismatch_deg": 10.0 * (i + 1), "collapse_score_db": -3.0}
    path.write_text(json.dumps(document))
    text = table.table(table.merged([str(path)]), None, "model", "dsp", "dsp-separate")
    rows = [line for line in text.split("**2 sounding**")[0].splitlines()
            if line.startswith("| ")]  # the group `all`
    reference = [r for r in rows if r.startswith("| reference (recording) |")]
    assert len(reference) == 1 and len(rows) == 3  # header, dsp, reference
    cells = [c.strip() for c in reference[0].strip("|").split("|")]
    assert cells[1:6] == ["-"] * 5  # no cue errors: the recording is the reference
    assert cells[-1] == "20"  # the median of its mismatches 10, 20, 30
    dsp = [r for r in rows if r.startswith("| dsp |")][0]
    assert dsp.rstrip(" |").endswith("3")  # the system's own median mismatch beside it


def test_without_the_recordings_figures_there_is_no_reference_row(tmp_path):
    table = _script()
    text = table.table(table.merged([_doc(tmp_path / "a.json", "dsp", [4.0, 5.0])]), None,
                       "model", "dsp", "dsp-separate")
    assert "reference (recording)" not in text
