# Copyright 2026 The V2Xum Authors. Licensed under the Apache License, Version 2.0.
"""Files that requests from other people bring (the app's and the server's uploads): one folder per request under
this process's own folder, removed once the response is delivered; folders of processes that are gone are swept at
start; messages sent back name no folder of this machine."""

import os
import shutil
import tempfile
import uuid
from pathlib import Path

import psutil

from modeling_v2xum.model_card import is_hub_id


class RequestFolders:
    """`work_dir/requests-<pid>-<process start>/<request id>` folders: `new()` makes one, `release(folder)` removes it
    (only a folder this object made: a request can never name another path to remove). The process's start time in
    the name tells this process's folder from a dead one's that had the same pid."""

    def __init__(self, work_dir: str | os.PathLike):
        self.work_dir = Path(work_dir)
        self.root = self.work_dir / f"requests-{os.getpid()}-{_process_start(os.getpid())}"
        remove_stale_requests(self.work_dir)
        self.root.mkdir(parents=True, exist_ok=True)

    def new(self) -> Path:
        folder = self.root / uuid.uuid4().hex
        folder.mkdir(parents=True)
        return folder

    def release(self, folder: str | os.PathLike | None) -> None:
        if folder and Path(folder).resolve().parent == self.root.resolve():
            shutil.rmtree(folder, ignore_errors=True)


def _process_start(pid: int) -> int | None:
    try:
        return int(psutil.Process(pid).create_time())
    except psutil.Error:
        return None


def remove_stale_requests(work_dir: Path) -> None:
    """Request folders of processes that are gone (a crash, a restart): nobody will deliver them. A folder is a
    live process's when its pid runs and started when the name says (a reused pid is another process)."""
    for folder in work_dir.glob("requests-*"):
        pid, _, start = folder.name.removeprefix("requests-").partition("-")
        alive = pid.isdigit() and start.isdigit() and _process_start(int(pid)) == int(start)
        if not alive:
            shutil.rmtree(folder, ignore_errors=True)


def without_paths(message: str, *folders: str | os.PathLike) -> str:
    """`message` for the person who sent the request: files named by their names, no folder of this machine (the
    given ones and the temporary folder)."""
    for folder in sorted({*map(os.fspath, folders), tempfile.gettempdir()}, key=len, reverse=True):
        message = message.replace(folder + os.sep, "")
    return message


def model_name(model: str | os.PathLike) -> str:
    """A served model as the people who send requests know it: its Hub id, or its folder's name (never a path of
    this machine)."""
    return os.fspath(model) if is_hub_id(model) else Path(model).name


__all__ = ["RequestFolders", "model_name", "remove_stale_requests", "without_paths"]
