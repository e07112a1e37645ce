"""What is handed to the user beside the render: loudness mastering (BS.1770-4, true-peak
limiter) and the first-order ambisonics deliverable.

Imports binaural.spatial and binaural.io.
"""
