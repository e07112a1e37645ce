"""tasks/lineage.py: the code version and the worker that made an item."""

from __future__ import annotations

import os
import subprocess

from tasks.lineage import code_version, worker_lineage


def test_code_version_of_this_checkout():
    described = subprocess.run(["git", "describe", "--always", "--dirty", "--tags"],
                               capture_output=True, text=True, check=True).stdout.strip()
    assert code_version() == f"git:{described}"


def test_code_version_outside_a_checkout(tmp_path):
    version = code_version(tmp_path)
    assert version == "unknown" or version.startswith("binaural==")


def test_worker_lineage_names_the_process():
    info = worker_lineage()
    assert info["pid"] == os.getpid() and info["host"]
