"""Where sounds are and how they reach the ears: camera geometry, HRTF sets, rendering, the
room-aware renderer,
reverberation analysis, the diffuse field, the activity gate, tracks, localization, the Generator
protocol.

Imports binaural.io and binaural.constants; never binaural.synth or binaural.eval.
"""
