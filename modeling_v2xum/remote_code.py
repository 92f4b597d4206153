# Copyright 2026 The V2Xum Authors. Licensed under the Apache License, Version 2.0.
"""What a checkpoint ships as remote code: the files that let `trust_remote_code=True` users load the model, the
processor and the `video-summarization` pipeline without this package. They import each other with flat relative
imports and otherwise only installed libraries, so they run side by side in one Hub repository."""

from importlib.resources import files
from pathlib import Path

from .configuration_v2xum import CUSTOM_PIPELINES


REMOTE_CODE_MODULES = {
    "modeling_v2xum": ("configuration_v2xum.py", "modeling_v2xum.py", "generation_v2xum.py", "pipeline_v2xum.py"),
    "processing": (
        "processing_v2xum.py",
        "video_processing_v2xum.py",
        "video_decoding.py",
        "summary.py",
        "timeline.py",
    ),
}


def remote_code_files() -> dict[str, Path]:
    """`{file name in the repository: installed source file}`."""
    return {
        name: Path(str(files(package).joinpath(name)))
        for package, names in REMOTE_CODE_MODULES.items()
        for name in names
    }


__all__ = ["remote_code_files", "CUSTOM_PIPELINES", "REMOTE_CODE_MODULES"]
