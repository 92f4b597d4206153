# Copyright 2026 The V2Xum Authors. Licensed under the Apache License, Version 2.0.
"""What a V2Xum folder ships as remote code: the files that let `trust_remote_code=True` users load the model, the
processor and the `video-summarization` pipeline without this package. They import each other with flat relative
imports and otherwise only installed libraries, so they run side by side in one Hub repository. This file is one of
them: a model saved from remote code ships the same files.

Every folder the package writes gets them from `save_remote_code`, as real files (a copied folder loads anywhere);
`config.json` declares them (`V2XumConfig.to_diff_dict`: `auto_map`, `custom_pipelines`), whatever is imported.
"""

import shutil
from importlib.resources import files
from pathlib import Path

from .configuration_v2xum import CUSTOM_PIPELINES


REMOTE_CODE_MODULES = {
    "modeling_v2xum": (
        "configuration_v2xum.py",
        "modeling_v2xum.py",
        "generation_v2xum.py",
        "pipeline_v2xum.py",
        "remote_code.py",
    ),
    "processing": (
        "processing_v2xum.py",
        "video_processing_v2xum.py",
        "video_decoding.py",
        "summary.py",
        "timeline.py",
    ),
}


def remote_code_files() -> dict[str, Path]:
    """`{file name in a V2Xum folder: its source}`: the files beside this one when it runs as remote code (all of
    them in one folder), else those of the installed packages."""
    here = Path(__file__).resolve().parent
    names = [name for group in REMOTE_CODE_MODULES.values() for name in group]
    if all((here / name).is_file() for name in names):
        return {name: here / name for name in names}
    return {
        name: Path(str(files(package).joinpath(name)))
        for package, group in REMOTE_CODE_MODULES.items()
        for name in group
    }


def save_remote_code(folder) -> list[Path]:
    """Writes the remote-code files into `folder` as real files (a link in their place is replaced, never followed);
    returns their paths."""
    written = []
    for name, source in remote_code_files().items():
        target = Path(folder) / name
        if target.is_symlink() or target.exists() and not target.samefile(source):
            target.unlink()
        if not target.exists():
            shutil.copyfile(source, target)
        written.append(target)
    return written


def save_v2xum_folder(folder, model, processor, card: str | None = None) -> Path:
    """The one way a loadable V2Xum folder is written: the model (weights, config declaring its remote code,
    generation config), the processor, the remote-code files (`save_remote_code`) and, when given, the model card
    (`README.md`). The folder loads with this package or without it (`trust_remote_code=True`), wherever it is
    copied."""
    folder = Path(folder)
    model.save_pretrained(folder)
    processor.save_pretrained(folder)
    save_remote_code(folder)
    if card is not None:
        (folder / "README.md").write_text(card, encoding="utf-8")
    return folder


__all__ = ["remote_code_files", "save_remote_code", "save_v2xum_folder", "CUSTOM_PIPELINES", "REMOTE_CODE_MODULES"]
