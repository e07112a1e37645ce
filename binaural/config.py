"""Typed configuration: one frozen dataclass per params.yaml section.

Only flows/ reads params.yaml (flows/params.py); everything below receives these
objects or plain keyword arguments.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

# Sound-source classes the product knows, with the typical visible height (m)
# the camera model uses to turn a box height into a distance.
DEFAULT_CLASS_HEIGHTS_M: Mapping[str, float] = {
    "person": 1.7,
    "piano": 1.0,
    "guitar": 1.0,
    "violin": 0.6,
    "trumpet": 0.5,
    "drum": 0.6,
    "dog": 0.6,
    "car": 1.5,
}

# Detector class name -> sound-source class. Covers our own detector and COCO
# names (yolo11n.pt) so published weights work unchanged.
DEFAULT_CLASS_MAP: Mapping[str, str] = {
    "person": "person",
    "piano": "piano",
    "guitar": "guitar",
    "violin": "violin",
    "trumpet": "trumpet",
    "drum": "drum",
    "dog": "dog",
    "cat": "dog",
    "car": "car",
    "truck": "car",
    "bus": "car",
    "motorcycle": "car",
}


@dataclass(frozen=True)
class SceneConfig:
    """Scene extraction: how frames and audio are read from a video."""

    fps: float = 5.0
    sample_rate: int = 48000
    chunk_s: float = 10.0
    min_duration_s: float = 0.5
    # Damaged streams are concealed (audio: silence of the lost length; video: skipped);
    # an item fails when a stream lost more than this share of the duration.
    max_lost_fraction: float = 0.2
    # A track whose level (RMS over evaluate.window_s) never reaches this is silent: no
    # direction figure; only windows at or above it count as judged.
    silence_dbfs: float = -55.0


@dataclass(frozen=True)
class DetectorConfig:
    """Ultralytics detector and tracker."""

    weights: str = "models/weights/detector.pt"
    conf: float = 0.3
    iou: float = 0.5
    imgsz: int = 320
    tracker: str = "bytetrack.yaml"
    device: str = "auto"
    threads: int = 1
    # Visual embedding of each track (the generator's visual condition): the detector's
    # class scores and pooled deepest-level features of a box's crop, letterboxed to
    # embed_size, for one detection per track every embed_every_s, at most embed_max.
    embed_size: int = 96
    embed_every_s: float = 0.5
    embed_max: int = 8


@dataclass(frozen=True)
class LocalizeConfig:
    """Camera model and track post-processing."""

    fov_deg: float = 65.0
    class_map: Mapping[str, str] = field(default_factory=lambda: dict(DEFAULT_CLASS_MAP))
    class_heights_m: Mapping[str, float] = field(
        default_factory=lambda: dict(DEFAULT_CLASS_HEIGHTS_M)
    )
    smoothing_s: float = 0.6
    min_track_s: float = 0.4
    max_sources: int = 4


@dataclass(frozen=True)
class RenderConfig:
    """DSP renderer: HRTF convolution along the tracked directions (binaural.scene_render).

    Room-aware rendering (`reverb`): a blind T60 from the mono's free decays (its
    `t60_quantile` times `t60_scale`; below `min_t60_s`: anechoic), the late part per bin
    by Lebart's estimator from `late_onset_ms` (times `late_scale`, plus `floor_scale`
    times the stationary floor), at least `direct_floor` of each bin kept direct; the late
    part rendered `diffuse_mode` "coherent" (the diffuse field's average cues) or
    "decorrelated" (filters of `diffuse_taps` with the diffuse interaural coherence).
    `reverb_model` (.npz; empty: none) decides whether the mono is reverberant at all (its
    mean frame probability >= `reverb_threshold`): if not, the render is anechoic; if so
    and no free decay gave a T60, `fallback_t60_s` is used.
    Activity gate: `activity_model` (.npz; empty: off) gives each visible source's class
    a probability p of sounding; its 1/r^2 share is scaled by max(p, activity_floor) **
    activity_sharpness (an unknown class: activity_unknown), p smoothed over
    activity_smoothing_s.
    """

    hrtf: str = "/usr/share/libmysofa/MIT_KEMAR_normal_pinna.sofa"
    block: int = 512
    neighbours: int = 3
    device: str = "cpu"
    reverb: bool = True
    diffuse_mode: str = "coherent"
    diffuse_taps: int = 1024
    late_onset_ms: float = 50.0
    late_scale: float = 1.0
    floor_scale: float = 0.0
    direct_floor: float = 0.1
    min_t60_s: float = 0.12
    t60_quantile: float = 0.2
    t60_scale: float = 0.9
    reverb_model: str = "models/weights/reverb.npz"
    reverb_threshold: float = 0.5
    fallback_t60_s: float = 0.3
    activity_model: str = "models/weights/activity.npz"
    activity_floor: float = 0.05
    activity_sharpness: float = 2.0
    activity_smoothing_s: float = 0.3
    activity_unknown: float = 0.5

    def __post_init__(self) -> None:
        if self.diffuse_mode not in ("coherent", "decorrelated"):
            raise ValueError(f"render.diffuse_mode: {self.diffuse_mode!r} not in "
                             "('coherent', 'decorrelated')")
        if not 0.0 <= self.direct_floor <= 1.0 or not 0.0 <= self.t60_quantile <= 1.0:
            raise ValueError("render.direct_floor and render.t60_quantile: in [0, 1]")
        if self.activity_floor <= 0 or self.activity_sharpness <= 0:
            raise ValueError("render.activity_floor and render.activity_sharpness: positive")


@dataclass(frozen=True)
class EvaluateConfig:
    """Metrics, in the conventions of shared/research/ANCHORS.md."""

    fairplay_sample_rate: int = 16000
    n_fft: int = 512
    hop: int = 160
    win: int = 400
    window_s: float = 0.25
    hop_s: float = 0.125
    itd_band_hz: tuple[float, float] = (150.0, 1500.0)
    phat_beta: float = 0.75
    max_itd_s: float = 0.001
    energy_floor_db: float = -35.0
    # Richard et al. / BinauralGrad set (48 kHz, STFT 2048, 40 ms window, 10 ms hop); the
    # log-spectral distance and the time-frequency cue errors use the same STFT.
    richard_sample_rate: int = 48000
    richard_n_fft: int = 2048
    richard_win_ms: float = 40.0
    richard_hop_ms: float = 10.0
    phase_energy_threshold: float = 0.2  # phase error over bins above this x mean energy
    # Multi-resolution STFT: (n_fft, hop, win) in samples at richard_sample_rate.
    mrstft_resolutions: tuple[tuple[int, int, int], ...] = (
        (1024, 120, 600),
        (2048, 240, 1200),
        (512, 50, 240),
    )
    tf_ild_min_hz: float = 1500.0
    tf_ipd_band_hz: tuple[float, float] = (100.0, 1500.0)
    # `binaural evaluate` defaults: systems compared, dataset split, clips whose direction
    # over time is plotted, MLflow experiment.
    systems: tuple[str, ...] = ("mono", "dsp", "dsp-oracle")
    split: str = "test"
    plot_clips: int = 4
    mlflow_experiment: str = "evaluate"

    def __post_init__(self) -> None:
        # YAML gives lists of lists; keep the config hashable.
        object.__setattr__(
            self,
            "mrstft_resolutions",
            tuple(tuple(int(v) for v in r) for r in self.mrstft_resolutions),
        )


@dataclass(frozen=True)
class SynthConfig:
    """Synthetic scenes (video + true mono + binaural truth).

    The defaults reproduce synthesis v1 (anechoic, one head, every object sounding all
    along, no beds, no microphone colouration); params.yaml turns the v2 options on.
    Ranges are (low, high) and drawn uniformly per scene; probabilities are per scene
    (silent object, ambience, noise, microphone) or per source (silence gaps).
    """

    scenes: int = 4
    seed: int = 0
    max_sources: int = 2
    duration_s: float = 6.0
    width: int = 640
    height: int = 360
    video_fps: int = 25
    fov_deg: float = 65.0
    sample_rate: int = 48000
    classes: tuple[str, ...] = ("person", "piano", "guitar", "violin", "trumpet")
    distance_m: tuple[float, float] = (1.5, 6.0)
    hrtf: str = "/usr/share/libmysofa/MIT_KEMAR_normal_pinna.sofa"
    soundfont: str = "/usr/share/sounds/sf2/FluidR3_GM.sf2"
    # HRTF sets (SOFA paths or pkg:<package>/<file>) chosen per scene; empty: `hrtf`.
    heads: tuple[str, ...] = ()
    # Camera: the horizontal field of view is drawn from this range; empty: `fov_deg`.
    fov_range_deg: tuple[float, ...] = ()
    # Room: "shoebox" (image-source early reflections + late tail) or "none" (anechoic).
    room: str = "none"
    room_length_m: tuple[float, float] = (4.0, 12.0)  # along the camera's axis
    room_width_m: tuple[float, float] = (3.0, 10.0)
    room_height_m: tuple[float, float] = (2.5, 4.0)
    absorption: tuple[float, float] = (0.15, 0.6)  # energy absorption of the walls
    max_image_order: int = 3  # reflections up to this order are rendered path by path
    early_ms: float = 50.0  # after the direct sound: image paths before, late tail after
    late_fade_ms: float = 10.0  # fade-in of the late tail
    wall_margin_m: float = 0.5  # listener and sources keep this far from the walls
    listener_height_m: tuple[float, float] = (1.2, 1.8)
    # Sources: dry gain range; silent visible objects; silence gaps within a source.
    source_gain: tuple[float, float] = (0.6, 1.0)
    silent_object_prob: float = 0.0
    silence_gap_prob: float = 0.0
    silence_gap_s: tuple[float, float] = (0.5, 1.5)
    max_silence_gaps: int = 2
    # Diffuse beds, levels relative to the sources' mix at the microphone.
    ambience_prob: float = 0.0
    ambience_level_db: tuple[float, float] = (-30.0, -12.0)
    noise_prob: float = 0.0
    noise_level_db: tuple[float, float] = (-50.0, -30.0)
    # Microphone colouration (the mono only): filters, peak EQ, self-noise re its level.
    mic_colour_prob: float = 0.0
    mic_highpass_hz: tuple[float, float] = (40.0, 200.0)
    mic_lowpass_hz: tuple[float, float] = (6000.0, 20000.0)
    mic_peak_hz: tuple[float, float] = (300.0, 5000.0)
    mic_peak_db: tuple[float, float] = (-6.0, 6.0)
    mic_noise_db: tuple[float, float] = (-70.0, -45.0)
    # The video's mono: "omni" (the capture at the camera) or "downmix" ((L+R)/2 of the
    # binaural target: only for the control experiment, never the default).
    mono_mode: str = "omni"
    # A folder of WAV/FLAC files used as source material (<class>/ subfolders pin the
    # class); empty: the built-in instruments and speech.
    source_audio: str = ""

    def __post_init__(self) -> None:
        if self.room not in ROOM_KINDS:
            raise ValueError(f"synth.room: {self.room!r} not in {ROOM_KINDS}")
        if self.mono_mode not in MONO_MODES:
            raise ValueError(f"synth.mono_mode: {self.mono_mode!r} not in {MONO_MODES}")
        fov = self.fov_range_deg
        if len(fov) not in (0, 2) or (fov and not 0 < fov[0] <= fov[1] < 180):
            raise ValueError(f"synth.fov_range_deg: empty or [low, high] in (0, 180), got {fov}")
        for name in ("silent_object_prob", "silence_gap_prob", "ambience_prob", "noise_prob",
                     "mic_colour_prob"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"synth.{name}: a probability in [0, 1]")
        for name in _SYNTH_RANGES:
            low, high = getattr(self, name)
            if low > high:
                raise ValueError(f"synth.{name}: range ({low}, {high}) has low > high")


_SYNTH_RANGES = (
    "distance_m", "room_length_m", "room_width_m", "room_height_m", "absorption",
    "listener_height_m", "source_gain", "silence_gap_s", "ambience_level_db", "noise_level_db",
    "mic_highpass_hz", "mic_lowpass_hz", "mic_peak_hz", "mic_peak_db", "mic_noise_db",
)


ROOM_KINDS = ("shoebox", "none")
MONO_MODES = ("omni", "downmix")


@dataclass(frozen=True)
class PrepareConfig:
    """The training dataset (DVC stage `prepare`, FAIR-Play layout of docs/formats.md).

    scenes, seed, duration_s and max_sources override the synth section's.
    """

    out: str = "data/dataset"
    scenes: int = 60
    seed: int = 0
    duration_s: float = 4.0
    max_sources: int = 3
    split_fractions: tuple[float, float, float] = (0.8, 0.1, 0.1)  # train, val, test
    split_name: str = "split1"
    # The test split's HRTF set (e.g. the held-out head); empty: the synth heads.
    test_hrtf: str = ""
    # Never used for train or val (matched by content, so a renamed copy is refused too).
    heldout_heads: tuple[str, ...] = ("pkg:spatialaudiometrics/example_sofa_2.sofa",)

    def __post_init__(self) -> None:
        fractions = self.split_fractions
        if len(fractions) != 3 or min(fractions) < 0 or abs(sum(fractions) - 1) > 1e-6:
            raise ValueError(f"prepare.split_fractions: three shares summing to 1, "
                             f"got {fractions}")


@dataclass(frozen=True)
class SampleConfig:
    """The bundled sample archive (DVC stage `sample`)."""

    scenes: int = 3
    seed: int = 7
    sources: int = 2
    duration_s: float = 6.0


@dataclass(frozen=True)
class DetectorDataConfig:
    """Frames rendered for training the project's own detector."""

    train_images: int = 600
    val_images: int = 150
    seed: int = 1
    width: int = 640
    height: int = 360


@dataclass(frozen=True)
class TrainDetectorConfig:
    """Training of the project's own small YOLO."""

    model: str = "models/yolo_tiny.yaml"
    epochs: int = 30
    imgsz: int = 320
    batch: int = 16
    seed: int = 0
    workers: int = 0


@dataclass(frozen=True)
class RemasterConfig:
    """Orchestration of a remaster run."""

    shard_size: int = 64
    actors: int = 1
    concurrency: int = 2
    lease_s: float = 3600.0
    cpus_per_actor: float = 1.0
    gpus_per_actor: float = 0.0
    max_restarts: int = 2
    max_task_retries: int = 2
    mlflow_experiment: str = "remaster"
    progress_every_s: float = 60.0  # a renderer logs each item's audio done this often


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

    def __post_init__(self) -> None:
        if self.steps < 1:
            raise ValueError("generator.steps: at least 1")
        if self.sampler not in GENERATOR_SAMPLERS:
            raise ValueError(f"generator.sampler: {self.sampler!r} not in {GENERATOR_SAMPLERS}")
        if not 0 <= self.crossfade_s < self.chunk_s / 2:
            raise ValueError("generator.crossfade_s: in [0, chunk_s / 2)")


@dataclass(frozen=True)
class GeneratorDataConfig:
    """The generator's scene sets (DVC stage `generator_data`,
    scripts/make_generator_data.py): train and val on the training heads, test on the
    held-out head with per-source stems for the separated-source oracle."""

    out: str = "data/generator"
    train_scenes: int = 500
    val_scenes: int = 32
    test_scenes: int = 200
    train_seed: int = 11
    val_seed: int = 12
    test_seed: int = 13


@dataclass(frozen=True)
class TrainConfig:
    """Training of the generator (DVC stage `train`, flow `retrain`).

    Data: `data` is a dataset folder read by binaural.datasets.load_dataset (FAIR-Play
    layout with splits, or a paired/`binaural synth` folder); `val_data` and `eval_data`
    default to the same folder's val and test splits. `mono: downmix` trains on (L+R)/2 of
    the binaural target instead of the true mono (the control experiment only).
    Promotion: the new model becomes `champion` when, on the held-out evaluation group
    `promote_group` (number of sources), every metric of `promote_metrics` (lower is
    better) is below the champion's by at least the fraction `promote_min_improvement`.
    Visual condition (`visual`): the detector's embeddings of the true sources
    (truth/<id>.visual.json, scripts/embed_truth.py) enter the model when the data has
    them. `init`: a checkpoint to warm-start from (same shapes; layers it lacks, such as
    the visual encoder, start as new) instead of random weights.
    """

    size: str = "small"
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
    p_drop_visual: float = 0.15  # per source: class, box and embedding become null
    p_drop_all: float = 0.05  # per example: every condition null (guidance's null branch)
    jitter_azimuth_deg: float = 3.0
    jitter_elevation_deg: float = 2.0
    jitter_distance: float = 0.2  # log-normal factor on distances
    checkpoint_every: int = 100
    log_every: int = 25
    val_every: int = 250
    val_crops: int = 24
    registry_name: str = "binaural-generator"
    promote_group: str = "2"
    promote_metrics: tuple[str, ...] = ("tf_ild_error_db", "tf_ipd_error_rad")
    promote_min_improvement: float = 0.0
    mlflow_experiment: str = "generator"

    def __post_init__(self) -> None:
        if self.mono not in MONO_TRAINING_SOURCES:
            raise ValueError(f"train.mono: {self.mono!r} not in {MONO_TRAINING_SOURCES}")
        if self.batch < 1 or self.steps < 1 or self.crop_s <= 0:
            raise ValueError("train: batch, steps and crop_s must be positive")


@dataclass(frozen=True)
class Params:
    """All sections of params.yaml."""

    scene: SceneConfig = field(default_factory=SceneConfig)
    detector: DetectorConfig = field(default_factory=DetectorConfig)
    localize: LocalizeConfig = field(default_factory=LocalizeConfig)
    render: RenderConfig = field(default_factory=RenderConfig)
    evaluate: EvaluateConfig = field(default_factory=EvaluateConfig)
    synth: SynthConfig = field(default_factory=SynthConfig)
    prepare: PrepareConfig = field(default_factory=PrepareConfig)
    sample: SampleConfig = field(default_factory=SampleConfig)
    detector_data: DetectorDataConfig = field(default_factory=DetectorDataConfig)
    train_detector: TrainDetectorConfig = field(default_factory=TrainDetectorConfig)
    remaster: RemasterConfig = field(default_factory=RemasterConfig)
    generator: GeneratorConfig = field(default_factory=GeneratorConfig)
    generator_data: GeneratorDataConfig = field(default_factory=GeneratorDataConfig)
    train: TrainConfig = field(default_factory=TrainConfig)


def section_from_mapping(cls: type, values: Mapping[str, Any], where: str) -> Any:
    """Build a config dataclass from a mapping, refusing unknown keys.

    Lists become tuples where the field's default is a tuple, so configs stay hashable
    and comparable.
    """
    known = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - set(known))
    if unknown:
        raise ValueError(f"{where}: unknown keys {unknown}; known: {sorted(known)}")
    defaults = cls()
    kwargs = {}
    for name, value in values.items():
        if isinstance(getattr(defaults, name), tuple) and isinstance(value, list):
            value = tuple(value)
        kwargs[name] = value
    return cls(**kwargs)


def params_from_mapping(data: Mapping[str, Any], where: str = "params") -> Params:
    """Build Params from a parsed params.yaml mapping."""
    fields = {f.name: f for f in dataclasses.fields(Params)}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise ValueError(f"{where}: unknown sections {unknown}")
    kwargs = {}
    for name in fields:
        section_cls = type(getattr(Params(), name))
        kwargs[name] = section_from_mapping(section_cls, data.get(name) or {}, f"{where}:{name}")
    return Params(**kwargs)
