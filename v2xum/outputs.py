# Copyright 2026 The V2Xum Authors. Licensed under the Apache License, Version 2.0.
"""Output folders, one set of rules for everything the package writes: a user's files are never replaced silently
(`check_output_dir`); a collection's outputs never collide (`output_names`), are worked on by one run at a time (a
claim, so concurrent runs on one `--out` split the work), appear whole (written aside, then moved into place with
`summary.json` last, so no folder looks complete unless it is), and are recorded (`index.jsonl`, which makes runs
resumable).

Output names: a video's file stem; where stems repeat, its path from the common folder of those videos (`a__clip`,
`b__clip`); a manifest row's `id` as given.
"""

import fcntl
import hashlib
import json
import os
import re
import shutil
import socket
import sys
import threading
import time
import uuid
from collections import Counter, defaultdict
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psutil

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


# Characters that cannot be in a folder name on some system, and Windows' reserved device names.
_UNSAFE = re.compile(r'[\x00-\x1f\x7f<>:"/\\|?*]')
_RESERVED = re.compile(r"(con|prn|aux|nul|com[0-9]|lpt[0-9])(\..*)?", re.IGNORECASE)


def safe_name(name: str, fallback: str = "video") -> str:
    """`name` as one folder name that stays inside its parent on any system: no separators, control or reserved
    characters, no `.`/`..`, no trailing dots or spaces, not a reserved device name, at most 200 characters;
    `fallback` when nothing is left."""
    cleaned = _UNSAFE.sub("_", name).strip().rstrip(". ")
    cleaned = cleaned[:200].rstrip(". ")
    if cleaned in ("", ".", "..") or set(cleaned) <= {"_", "."}:
        return fallback
    return cleaned + "_" if _RESERVED.fullmatch(cleaned) else cleaned


def safe_relative_name(name: str) -> str | None:
    """A manifest `id` as a relative folder path (`b/c` is folder `c` in `b`): each part a `safe_name`, empty parts
    dropped (`a/` is `a`, `b//c` is `b/c`); None when it is absolute or climbs out (`..`)."""
    parts = [part for part in name.replace("\\", "/").split("/") if part not in ("", ".")]
    if not parts or name.startswith(("/", "\\")) or ".." in parts:
        return None
    return "/".join(safe_name(part) for part in parts)


def video_key(video: str) -> str:
    """What makes two inputs one video: a file's resolved path (any spelling of it, links followed), a URL without
    its query and fragment (presigned signatures differ between copies of one link)."""
    if is_url(video):
        parsed = urlsplit(video)
        return urlunsplit((parsed.scheme.lower(), parsed.netloc.lower(), parsed.path, "", ""))
    return os.path.realpath(video)


def output_names(videos: list[str]) -> list[str]:
    """Each video's output folder name (`safe_name`): its file stem; where stems repeat, the path from those
    videos' common folder with `__` for `/` (`a/clip.mp4`, `b/clip.mp4` -> `a__clip`, `b__clip`), the extension
    kept where even that repeats; a name still taken gets `~2`, `~3`, ... (in input order). URLs are named by the
    last part of their path (never their query)."""
    parts = [urlsplit(v).path.rstrip("/").rsplit("/", 1)[-1] if is_url(v) else os.path.abspath(v) for v in videos]
    stems = [safe_name(os.path.splitext(os.path.basename(p))[0]) for p in parts]
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
            names[i] = safe_name(r if repeated[b] > 1 else b)
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


# A claim is a lease: renewed every LEASE_TERM / 4 seconds by its holder (a heartbeat, the claim file's time), it is
# taken over once it has not been renewed for LEASE_TERM seconds, whatever host wrote it.
LEASE_TERM = 120.0
HOLDER = uuid.uuid4().hex[:16]  # this process, among all runs on every host
_PROCESS_START = psutil.Process().create_time()


def _lease() -> dict:
    return {
        "holder": HOLDER,
        "host": socket.gethostname(),
        "pid": os.getpid(),
        "process_start": _PROCESS_START,
        "since": time.time(),
        "term": LEASE_TERM,
    }


def read_lease(path: Path) -> dict | None:
    """A claim file's lease, or None when it is empty or garbled (such a claim holds nothing)."""
    try:
        lease = json.loads(path.read_text())
        return lease if isinstance(lease, dict) and isinstance(lease.get("holder"), str) else None
    except (OSError, ValueError):
        return None


def lease_alive(lease: dict | None, path: Path) -> bool:
    """Whether a lease still holds: on this host, its process lives (its pid, started when the lease says: a reused
    pid is another process); on another host, it was renewed within its term."""
    if lease is None:
        return False
    if lease.get("host") == socket.gethostname():
        try:
            return abs(psutil.Process(int(lease["pid"])).create_time() - float(lease["process_start"])) < 1.0
        except (psutil.Error, KeyError, TypeError, ValueError):
            return False
    try:
        return time.time() - path.stat().st_mtime < float(lease.get("term", LEASE_TERM))
    except OSError:
        return False


class _Heartbeat:
    """Renews the leases this process holds, from a daemon thread, every quarter of their term."""

    def __init__(self):
        self.held: set[Path] = set()
        self.lock = threading.Lock()
        self.thread: threading.Thread | None = None

    def hold(self, path: Path) -> None:
        with self.lock:
            self.held.add(path)
            if self.thread is None:
                self.thread = threading.Thread(target=self._run, name="v2xum-leases", daemon=True)
                self.thread.start()

    def drop(self, path: Path) -> None:
        with self.lock:
            self.held.discard(path)

    def _run(self) -> None:
        while True:
            time.sleep(LEASE_TERM / 4)
            with self.lock:
                held = list(self.held)
            for path in held:
                try:
                    os.utime(path)
                except OSError:
                    pass  # taken over or released meanwhile


HEARTBEAT = _Heartbeat()


class OutputFolder:
    """The claim, the folder being written and the move into place for one job under `out`. Nothing is followed
    through a link: an output path that is a symbolic link is refused."""

    def __init__(self, out: Path, name: str):
        self.final = out / name
        key = hashlib.sha256(name.encode()).hexdigest()[:16]
        self.claim_path = out / STATE_DIR / "claims" / f"{key}.claim"
        self.work = out / STATE_DIR / "work" / f"{key}-{HOLDER}"

    def check_not_linked(self) -> None:
        """Refuses an output path that is, or passes through, a symbolic link inside `out` (where a link leads is
        the user's business: nothing is written through one)."""
        out = self.claim_path.parents[2]
        inside = [self.final, *self.final.parents[: len(self.final.relative_to(out).parts) - 1], out / STATE_DIR]
        for path in inside:
            if path.is_symlink():
                raise OSError(f"output path {path} is a symbolic link; refusing to write through it")

    def claim(self, take_over: bool = False) -> bool:
        """Takes the job; False when another run's lease on it holds (`lease_alive`). An empty, garbled, dead or
        expired claim is taken over; with `take_over` (`--overwrite`) any claim is, with a warning."""
        self.claim_path.parent.mkdir(parents=True, exist_ok=True)
        for _ in range(3):
            mine = self.claim_path.with_name(f"{self.claim_path.name}.{HOLDER}")
            mine.write_text(json.dumps(_lease()))
            try:
                os.link(mine, self.claim_path)  # atomic, and complete: never an empty claim of ours
                HEARTBEAT.hold(self.claim_path)
                return True
            except FileExistsError:
                pass
            finally:
                mine.unlink(missing_ok=True)
            lease = read_lease(self.claim_path)
            if lease_alive(lease, self.claim_path):
                if not take_over:
                    return False
                print(
                    f"warning: taking over {self.final.name} from the run of {lease['host']} pid {lease['pid']} "
                    "(--overwrite)",
                    file=sys.stderr,
                )
            self._remove_claim(lease)
        return False

    def _remove_claim(self, judged: dict | None) -> None:
        """Moves the claim aside (atomic: one taker wins) and drops it, unless what moved is not the lease that was
        judged (renewed or claimed anew meanwhile): that one is put back."""
        aside = self.claim_path.with_name(f"{self.claim_path.name}.{HOLDER}.stale")
        try:
            os.rename(self.claim_path, aside)
        except FileNotFoundError:
            return
        moved = read_lease(aside)
        if moved is not None and (judged is None or moved.get("holder") != judged.get("holder")):
            try:
                os.link(aside, self.claim_path)
            except FileExistsError:
                pass
        aside.unlink(missing_ok=True)

    def release(self) -> None:
        shutil.rmtree(self.work, ignore_errors=True)
        HEARTBEAT.drop(self.claim_path)
        lease = read_lease(self.claim_path)
        if lease is not None and lease.get("holder") == HOLDER:
            self.claim_path.unlink(missing_ok=True)

    def commit(self) -> None:
        """Moves the written files into place. A new folder appears whole (one rename); an existing one (with
        --overwrite) first loses its `summary.json` and the earlier outputs this run does not write, then gets each
        file, `summary.json` last: at no point does it look complete with files of two runs."""
        self.check_not_linked()
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


def sweep_work_folders(out: Path) -> list[Path]:
    """Removes folders being written by runs that are gone (killed, a lost host): a work folder stays only while
    its claim's lease, by its holder, holds. Returns what was removed."""
    removed = []
    for folder in (out / STATE_DIR / "work").glob("*"):
        key, _, holder = folder.name.partition("-")
        claim = out / STATE_DIR / "claims" / f"{key}.claim"
        lease = read_lease(claim)
        if holder != HOLDER and not (lease and lease.get("holder") == holder and lease_alive(lease, claim)):
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(folder)
    return removed


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
    """The last record of each output folder in `out/index.jsonl`. A torn last line (from a kill) is ignored; a line
    that is not one of its records (another tool's, a hand edit) is skipped with a warning naming it."""
    last = {}
    if (out / INDEX).is_file():
        text = (out / INDEX).read_text(encoding="utf-8", errors="replace")
        for number, line in enumerate(text.splitlines(), start=1):
            try:
                record = json.loads(line)
            except ValueError:
                continue
            if not isinstance(record, dict) or not isinstance(record.get("output"), str):
                print(f"warning: {out / INDEX} line {number} is not a v2xum record; skipped", file=sys.stderr)
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
