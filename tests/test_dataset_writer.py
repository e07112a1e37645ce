"""The dataset in FAIR-Play's layout: folders as docs/formats.md says, splits, card, heads
(the held-out one refused for training), determinism, and the downmix control mode."""

import ctypes
import ctypes.util
import json
import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import yaml

from binaural.eval.datasets import load_dataset
from binaural.io.audio import read_wav
from binaural.io.outputs import file_sha256
from binaural.io.video import probe
from binaural.spatial.heads import head_digest, load_heads, resolve_hrtf
from binaural.spatial.hrtf import HRTFSet
from binaural.synth.config import PrepareConfig, SynthConfig
from binaural.synth.dataset_writer import CARD_JSON, CARD_MD, SPLITS, write_dataset
from binaural.synth.scenes import render_scene, scene_specs, write_scene_video
from binaural.synth.source_files import SourceLibrary
from flows.cli import main as cli_main
from flows.environment import PROJECT_ROOT
from flows.synth import main as synth_main

SONICOM_1 = "pkg:spatialaudiometrics/example_sofa_1.sofa"
SONICOM_2 = "pkg:spatialaudiometrics/example_sofa_2.sofa"  # the held-out head
CFG = replace(SynthConfig(), scenes=4, seed=5, duration_s=1.0, width=96, height=64,
              video_fps=5, max_sources=2, room="shoebox", fov_range_deg=(50.0, 90.0),
              silent_object_prob=0.5, ambience_prob=0.5, noise_prob=1.0, mic_colour_prob=1.0)
PREPARE = PrepareConfig(split_fractions=(0.5, 0.25, 0.25))
TRUTH_KEYS = {"name", "seed", "fov_deg", "width", "height", "fps", "sample_rate", "duration_s",
              "hrtf", "room", "sources"}  # docs/formats.md
SOURCE_KEYS = {"id", "class", "gain", "sounding", "track"}
TRACK_KEYS = {"t", "azimuth_deg", "elevation_deg", "distance_m", "box", "sounding"}


@pytest.fixture(scope="module")
def heads(sample_rate: int) -> dict[str, HRTFSet]:
    kemar, sonicom_1, sonicom_2 = load_heads(
        ["/usr/share/libmysofa/MIT_KEMAR_normal_pinna.sofa", SONICOM_1, SONICOM_2], sample_rate)
    return {"kemar": kemar, "sonicom_1": sonicom_1, "sonicom_2": sonicom_2}


@pytest.fixture(scope="module")
def library(tmp_path_factory: pytest.TempPathFactory) -> SourceLibrary:
    """Source material: tones and noise bursts (fast, unlike the SoundFont)."""
    folder = tmp_path_factory.mktemp("audio")
    rate = 16000
    t = np.arange(rate) / rate
    rng = np.random.default_rng(0)
    for i, freq in enumerate((220.0, 330.0, 495.0)):
        burst = rng.standard_normal(rate) * (np.sin(2 * np.pi * 2 * t) > 0)
        sf.write(folder / f"material{i}.wav", 0.2 * np.sin(2 * np.pi * freq * t) + 0.05 * burst,
                 rate)
    return SourceLibrary.from_folder(folder, CFG.classes)


def _write(root: Path, heads: dict, library: SourceLibrary, cfg: SynthConfig = CFG) -> dict:
    return write_dataset(cfg, PREPARE, root, [heads["kemar"], heads["sonicom_1"]],
                         test_head=heads["sonicom_2"],
                         heldout_digests=[heads["sonicom_2"].digest], library=library)


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory, heads: dict, library: SourceLibrary
            ) -> tuple[Path, dict]:
    root = tmp_path_factory.mktemp("data") / "dataset"
    return root, _write(root, heads, library)


def _ids(root: Path) -> list[str]:
    return sorted(p.stem for p in (root / "truth").glob("*.json"))


def test_layout_is_the_one_docs_formats_describes(dataset, sample_rate: int) -> None:
    root, card = dataset
    ids = _ids(root)
    assert len(ids) == CFG.scenes
    expected = {CARD_JSON, CARD_MD, *(f"splits/split1/{s}.txt" for s in SPLITS)}
    for clip_id in ids:
        expected |= {f"videos/{clip_id}.mp4", f"binaural_audios/{clip_id}.wav",
                     f"mono_audios/{clip_id}.wav", f"truth/{clip_id}.json"}
    assert {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()} == expected
    for clip_id in ids:
        info = sf.info(str(root / "binaural_audios" / f"{clip_id}.wav"))
        assert (info.samplerate, info.channels, info.subtype) == (sample_rate, 2, "FLOAT")
        info = sf.info(str(root / "mono_audios" / f"{clip_id}.wav"))
        assert (info.samplerate, info.channels, info.subtype) == (sample_rate, 1, "FLOAT")
        assert info.frames == round(CFG.duration_s * sample_rate)
        assert probe(root / "videos" / f"{clip_id}.mp4").audio_channels == 1
        truth = json.loads((root / "truth" / f"{clip_id}.json").read_text())
        assert TRUTH_KEYS <= set(truth) and truth["name"] == clip_id
        assert truth["mono"] == "omni" and truth["room"]["type"] == "shoebox"
        for source in truth["sources"]:
            assert SOURCE_KEYS <= set(source)
            assert all(set(p) >= TRACK_KEYS for p in source["track"])
            assert source["silent"] or source["audio"].startswith("material")
    # The project's own loader reads it, mono and truth included.
    records = load_dataset(root, "all")
    assert [r.id for r in records] == ids
    assert all(r.mono is not None and r.truth is not None for r in records)
    assert [r.id for r in load_dataset(root, "test")] == \
        (root / "splits/split1/test.txt").read_text().split()


def test_splits_partition_the_ids_and_the_card_counts_match(dataset) -> None:
    root, card = dataset
    ids = _ids(root)
    split_ids = {s: (root / f"splits/split1/{s}.txt").read_text().split() for s in SPLITS}
    assert sorted(sum(split_ids.values(), [])) == ids  # each id in exactly one split
    assert {s: len(v) for s, v in split_ids.items()} == {"train": 2, "val": 1, "test": 1}
    assert card["splits"]["split1"] == {s: len(v) for s, v in split_ids.items()}
    truths = {i: json.loads((root / "truth" / f"{i}.json").read_text()) for i in ids}
    for split, members in split_ids.items():
        assert all(truths[i]["split"] == split for i in members)
    assert card["scenes"] == len(ids)
    assert card["duration_s"] == {"per_scene": CFG.duration_s, "total": CFG.duration_s * len(ids)}
    classes: dict[str, dict[str, int]] = {}
    for truth in truths.values():
        for s in truth["sources"]:
            entry = classes.setdefault(s["class"], {"sounding": 0, "silent": 0})
            entry["silent" if s["silent"] else "sounding"] += 1
    assert card["classes"] == dict(sorted(classes.items()))
    assert card["silent_objects"] == sum(c["silent"] for c in classes.values())
    counts = [sum(not s["silent"] for s in t["sources"]) for t in truths.values()]
    assert card["sources_per_scene"] == {str(k): counts.count(k) for k in sorted(set(counts))}
    assert card["rooms"]["shoebox"] == len(ids) and card["rooms"]["none"] == 0
    rt60 = [t["room"]["rt60_s"] for t in truths.values()]
    assert card["rooms"]["rt60_s"]["min"] == min(rt60)
    for clip_id, kinds in card["content_hashes"].items():
        for kind, folder, suffix in (("video", "videos", ".mp4"),
                                     ("binaural", "binaural_audios", ".wav"),
                                     ("mono", "mono_audios", ".wav"), ("truth", "truth", ".json")):
            assert kinds[kind] == file_sha256(root / folder / f"{clip_id}{suffix}")
    assert "mono track: `omni`" in (root / CARD_MD).read_text().lower()


def test_heads_per_split_and_the_held_out_head_only_in_test(dataset, heads: dict) -> None:
    root, card = dataset
    training = {heads["kemar"].digest, heads["sonicom_1"].digest}
    for clip_id in _ids(root):
        truth = json.loads((root / "truth" / f"{clip_id}.json").read_text())
        if truth["split"] == "test":
            assert truth["hrtf_digest"] == heads["sonicom_2"].digest
        else:
            assert truth["hrtf_digest"] in training
    per_head = {h["digest"]: h for h in card["heads"].values()}
    assert per_head[heads["sonicom_2"].digest]["splits"] == {"train": 0, "val": 0, "test": 1}
    assert sum(h["scenes"] for h in card["heads"].values()) == CFG.scenes


def test_the_held_out_head_is_refused_for_training(tmp_path: Path, heads: dict) -> None:
    heldout = [head_digest(resolve_hrtf(SONICOM_2))]
    assert heldout == [heads["sonicom_2"].digest]
    with pytest.raises(ValueError, match="held-out"):
        write_dataset(CFG, PREPARE, tmp_path / "a", [heads["kemar"], heads["sonicom_2"]],
                      heldout_digests=heldout)
    assert not (tmp_path / "a").exists()
    # A renamed copy is the same head.
    copy = tmp_path / "my_head.sofa"
    shutil.copyfile(resolve_hrtf(SONICOM_2), copy)
    code = cli_main(["synth", str(tmp_path / "b"), "--dataset", "--scenes", "1",
                     "--hrtf", str(copy)])
    assert code == 2 and not (tmp_path / "b").exists()
    assert cli_main(["synth", str(tmp_path / "c"), "--test-hrtf", str(copy)]) == 2


def test_same_seed_same_bytes(tmp_path: Path, dataset, heads: dict, library) -> None:
    _, card = dataset
    again = _write(tmp_path / "again", heads, library)
    assert again["content_hashes"] == card["content_hashes"]
    assert again["dataset_sha256"] == card["dataset_sha256"]
    other = _write(tmp_path / "other", heads, library, replace(CFG, seed=6, scenes=1))
    assert set(other["content_hashes"]).isdisjoint(card["content_hashes"])


def _dirty_the_heap(rng: np.random.Generator) -> None:
    """Leave freed C-heap blocks full of bytes that differ from call to call."""
    libc = ctypes.CDLL(ctypes.util.find_library("c"))
    libc.malloc.restype = ctypes.c_void_p
    libc.free.argtypes = [ctypes.c_void_p]
    blocks = []
    for _ in range(300):
        size = int(rng.integers(16, 200_000))
        block = libc.malloc(size)
        ctypes.memset(block, int(rng.integers(256)), size)
        blocks.append(block)
    for block in blocks:
        libc.free(block)


def test_scene_videos_do_not_depend_on_what_the_heap_held(tmp_path: Path, heads: dict,
                                                          library) -> None:
    """The same scene written again after other work gives the same bytes (x264's
    macroblock tree read uninitialised memory on AVX-512 CPUs)."""
    rng = np.random.default_rng(0)
    for name, seed, sources in scene_specs(CFG):
        scene = render_scene(CFG, heads["kemar"], name, seed, sources, library)
        written = set()
        for i in range(3):
            _dirty_the_heap(rng)
            write_scene_video(scene, tmp_path / f"{name}_{i}.mp4", CFG)
            written.add(file_sha256(tmp_path / f"{name}_{i}.mp4"))
        assert len(written) == 1, name


def test_downmix_mode_is_the_mean_of_the_ears_and_says_so(tmp_path: Path, dataset,
                                                          heads: dict, library) -> None:
    root, card = dataset
    downmix_root = tmp_path / "downmix"
    downmix = _write(downmix_root, heads, library, replace(CFG, mono_mode="downmix"))
    assert downmix["mono"] == "downmix" and "downmix" in downmix["mono_description"]
    assert "mono track: `downmix`" in (downmix_root / CARD_MD).read_text().lower()
    for clip_id in _ids(root):
        truth = json.loads((downmix_root / "truth" / f"{clip_id}.json").read_text())
        assert truth["mono"] == "downmix"
        binaural, _ = read_wav(downmix_root / "binaural_audios" / f"{clip_id}.wav")
        mono, _ = read_wav(downmix_root / "mono_audios" / f"{clip_id}.wav")
        np.testing.assert_array_equal(mono[0], 0.5 * (binaural[0] + binaural[1]))
        # The same target as the omni dataset; only the mono differs.
        kinds, omni_kinds = downmix["content_hashes"][clip_id], card["content_hashes"][clip_id]
        assert kinds["binaural"] == omni_kinds["binaural"] and kinds["mono"] != omni_kinds["mono"]
        omni_mono, _ = read_wav(root / "mono_audios" / f"{clip_id}.wav")
        error = np.sum((omni_mono - mono) ** 2) / np.sum(omni_mono**2)
        assert error > 0.05  # the omni capture is not the downmix


def test_prepare_stage_reads_its_params(tmp_path: Path, library: SourceLibrary) -> None:
    params = yaml.safe_load((PROJECT_ROOT / "params.yaml").read_text())
    params["prepare"].update(scenes=3, duration_s=0.5, max_sources=1,
                             split_fractions=[0.34, 0.33, 0.33], test_hrtf=SONICOM_2)
    params["synth"].update(width=64, height=48, video_fps=5,
                           source_audio=str(Path(library.generic[0]).parent))
    params_file = tmp_path / "params.yaml"
    params_file.write_text(yaml.safe_dump(params))
    out = tmp_path / "dataset"
    assert synth_main(["--params", str(params_file), "prepare", str(out)]) == 0
    card = json.loads((out / CARD_JSON).read_text())
    assert card["scenes"] == 3 and card["mono"] == "omni"
    assert card["splits"]["split1"] == {"train": 1, "val": 1, "test": 1}
    assert card["config"]["synth"]["room"] == "shoebox"
    assert card["source_audio"]["generic_files"] == len(library.generic)
    test_id = (out / "splits/split1/test.txt").read_text().split()[0]
    truth = json.loads((out / "truth" / f"{test_id}.json").read_text())
    assert truth["hrtf"] == "example_sofa_2"
