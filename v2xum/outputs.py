# Copyright 2026 The V2Xum Authors. Licensed under the Apache License, Version 2.0.
"""The one rule for folders the package writes: a user's files are never replaced silently."""

import os
from pathlib import Path


def is_occupied(path: str | os.PathLike) -> bool:
    """True when `path` is a file, or a folder that holds anything."""
    path = Path(path)
    return path.exists() and (not path.is_dir() or any(path.iterdir()))


def check_output_dir(path: str | os.PathLike, overwrite: bool = False) -> Path:
    """`path` as a `Path`, or `FileExistsError` when it is occupied and `overwrite` (`--overwrite`) was not given."""
    if is_occupied(path) and not overwrite:
        raise FileExistsError(f"{path} exists and is not empty; pass --overwrite to write there")
    return Path(path)


__all__ = ["is_occupied", "check_output_dir"]
