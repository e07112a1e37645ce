"""One video's generation, evaluation and outputs (WAV, MP4, JSON, PNG).

Imports binaural.delivery, binaural.eval, binaural.spatial and binaural.io.
"""
