# Copyright 2026 The V2Xum Authors. Licensed under the Apache License, Version 2.0.
"""Output folders, one set of rules for everything the package writes: a user's files are never replaced silently
(`check_output_dir`); a collection's outputs never collide (`output_names`), are worked on by one run at a time (a
claim, so concurrent runs on one `--out` split the work), appear whole (written aside, then moved into place with
`summary.json` last, so no folder looks complete unless it is), and are recorded (`index.jsonl`, which makes runs
resumable).

Output names: a video's file stem; where stems repeat, its path from the common folder of those videos (`a__clip`,
`b__clip`); a manifest row's `id` as given.
"""

import errno
import fcntl
import hashlib
import json
import os
import re
import shutil
import socket
import time
from collections import Counter, defaultdict
from pathlib import Path

from processing.video_decoding import is_url


STATE_DIR = ".v2xum"  # inside --out: claims and outputs being written
INDEX = "index.jsonl"
# Everything `export_summary` may write into a video's output folder.
OUTPUT_FILES = ("summary.json", "summary.srt", "summary.vtt", "contact_sheet.png", "timeline.png", "highlights.mp4")


def is_occupied(path: str | os.PathLike) -> bool:
    """True when `path` is a file, or a folder that holds anything."""
    path = Path(path)
    return path.exists() and (not path.is_dir() or any(path.iterdir()))


def check_output_dir(path: str | os.PathLike, overwrite: bool = False) -> Path:
    """`path` as a `Path`, or `FileExistsError` when it is occupied and `overwrite` (`--overwrite`) was not given."""
    if is_occupied(path) and not overwrite:
        raise FileExistsError(f"{path} exists and is not empty; pass --overwrite to write there")
    return Path(path)


def is_output_file(name: str) -> bool:
    """Whether a file name is one `export_summary` writes (other files in an output folder are the user's)."""
    return name in OUTPUT_FILES or re.fullmatch(r"contact_sheet-\d+\.png", name) is not None


def output_names(videos: list[str]) -> list[str]:
    """Each video's output folder name: its file stem; where stems repeat, the path from those videos' common
    folder with `__` for `/` (`a/clip.mp4`, `b/clip.mp4` -> `a__clip`, `b__clip`), the extension kept where even
    that repeats; a name still taken gets `~2`, `~3`, ... (in input order). URLs are named by their last part."""
    parts = [v.rstrip("/").rsplit("/", 1)[-1] if is_url(v) else os.path.abspath(v) for v in videos]
    stems = [os.path.splitext(os.path.basename(p))[0] or "video" for p in parts]
    names, groups = list(stems), defaultdict(list)
    for i, stem in enumerate(stems):
        groups[stem].append(i)
    for group in [g for g in groups.values() if len(g) > 1]:
        root = (
            os.path.commonpath([os.path.dirname(parts[i]) for i in group])
            if all(os.path.isabs(parts[i]) for i in group)
            else ""
        )
        relative = [os.path.relpath(parts[i], root).replace(os.sep, "__") if root else parts[i] for i in group]
        bare = [os.path.splitext(r)[0] for r in relative]
        repeated = Counter(bare)
        for i, r, b in zip(group, relative, bare):
            names[i] = r if repeated[b] > 1 else b
    used, unique = set(), []
    for name in names:
        candidate, n = name, 1
        while candidate in used:
            n += 1
            candidate = f"{name}~{n}"
        used.add(candidate)
        unique.append(candidate)
    return unique


def settings_hash(settings: dict) -> str:
    """What makes two runs' outputs interchangeable (model and settings), as a short hash."""
    return hashlib.sha256(json.dumps(settings, sort_keys=True, default=str).encode()).hexdigest()[:16]


class OutputFolder:
    """The claim, the folder being written and the move into place for one job under `out`."""

    def __init__(self, out: Path, name: str):
        self.final = out / name
        key = hashlib.sha256(name.encode()).hexdigest()[:16]
        self.claim_path = out / STATE_DIR / "claims" / f"{key}.claim"
        self.work = out / STATE_DIR / "work" / f"{key}-{os.getpid()}"

    def claim(self) -> bool:
        """Takes the job, or False when another live run holds it (a claim whose process is gone is taken over)."""
        self.claim_path.parent.mkdir(parents=True, exist_ok=True)
        for _ in range(2):
            try:
                fd = os.open(self.claim_path, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
            except FileExistsError:
                if _holder_alive(self.claim_path):
                    return False
                self.claim_path.unlink(missing_ok=True)
                continue
            with os.fdopen(fd, "w") as f:
                json.dump({"pid": os.getpid(), "host": socket.gethostname(), "since": time.time()}, f)
            return True
        return False

    def release(self) -> None:
        shutil.rmtree(self.work, ignore_errors=True)
        self.claim_path.unlink(missing_ok=True)

    def commit(self) -> None:
        """Moves the written files into place. A new folder appears whole (one rename); an existing one (with
        --overwrite) first loses its `summary.json` and the earlier outputs this run does not write, then gets each
        file, `summary.json` last: at no point does it look complete with files of two runs."""
        self.final.parent.mkdir(parents=True, exist_ok=True)
        if not self.final.exists():
            os.rename(self.work, self.final)
            return
        (self.final / "summary.json").unlink(missing_ok=True)
        written = {path.name for path in self.work.iterdir()}
        for stale in [p for p in self.final.iterdir() if is_output_file(p.name) and p.name not in written]:
            stale.unlink()  # an earlier run's output this run does not write (the user's own files stay)
        for path in sorted(self.work.iterdir(), key=lambda p: p.name == "summary.json"):
            os.replace(path, self.final / path.name)
        self.work.rmdir()


def _holder_alive(claim: Path) -> bool:
    try:
        holder = json.loads(claim.read_text())
    except (OSError, ValueError):
        return True  # being written right now
    if holder.get("host") != socket.gethostname():
        return True  # another machine's process cannot be checked: respect it
    try:
        os.kill(int(holder["pid"]), 0)
    except OSError as error:
        return error.errno == errno.EPERM
    return True


def append_index(out: Path, record: dict) -> None:
    """One line in `out/index.jsonl`, appended under a lock so that concurrent runs never interleave lines."""
    line = json.dumps(record, ensure_ascii=False) + "\n"
    with open(out / INDEX, "a", encoding="utf-8") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            f.write(line)
            f.flush()
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def read_index(out: Path) -> dict[str, dict]:
    """The last record of each output folder in `out/index.jsonl` (a torn last line, from a kill, is ignored)."""
    last = {}
    if (out / INDEX).is_file():
        for line in (out / INDEX).read_text(encoding="utf-8").splitlines():
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                continue
            last[record["output"]] = record
    return last


def is_complete(folder: Path, settings_digest: str) -> bool:
    """Whether `folder` holds a finished output of runs with these settings."""
    try:
        return json.loads((folder / "summary.json").read_text()).get("settings_hash") == settings_digest
    except (OSError, ValueError):
        return False


__all__ = [
    "is_occupied",
    "check_output_dir",
    "is_output_file",
    "OUTPUT_FILES",
    "output_names",
    "settings_hash",
    "OutputFolder",
    "append_index",
    "read_index",
    "is_complete",
    "STATE_DIR",
    "INDEX",
]
