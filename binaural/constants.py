"""Physical constants and conventions shared by every module.

Coordinates follow SOFA (AES69): azimuth 0 deg straight ahead, +90 deg to the
listener's left; elevation +90 deg up. The left of the image is the listener's left.
Ear index 0 is the left ear, 1 the right ear.
"""

SPEED_OF_SOUND_M_S = 343.0
LEFT, RIGHT = 0, 1
# Distances closer than this are clamped so that 1/r gains stay finite.
MIN_DISTANCE_M = 0.25
# Gains are relative to a source at this distance (the synthesizer's reference level).
REFERENCE_DISTANCE_M = 1.0
# Each ear's distance from the head centre (where the omni microphone stands).
HEAD_RADIUS_M = 0.0875
# A reverberation time is the time of a decay by this much.
DECAY_DB = 60.0
