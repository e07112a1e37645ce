"""Measuring binaural outputs: direction cues, FAIR-Play and Richard et al. distances, interaural
cue errors, the
metric sets reports compute, evaluation systems, the suite, its report and plots, datasets and
truth.

Imports binaural.spatial and binaural.io.
"""
