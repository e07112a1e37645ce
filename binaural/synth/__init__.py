"""Synthetic scenes for training and testing: sprites, source audio, silences, beds, rooms,
microphone, the dataset
writer, the detector's frames, edge-case media.

Imports binaural.spatial and binaural.io; never binaural.eval.
"""
