"""Media and storage: audio files, video decoding and remuxing, atomic outputs, fsspec/S3
locations, the manifest.

Imports nothing else of the project but binaural.constants.
"""
