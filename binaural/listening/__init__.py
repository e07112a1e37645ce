"""The listening test: blind trials and their store.

Imports nothing else of the project.
"""
