# Copyright 2026 The V2Xum Authors. Licensed under the Apache License, Version 2.0.
"""`python -m evaluate_metrics`: refreshes each module folder's copies of the shared files (`SHARED_FILES`)."""

from pathlib import Path

from . import SHARED_FILES, shared_copy


def main() -> None:
    root = Path(__file__).parent
    for module, names in SHARED_FILES.items():
        for name in names:
            target = root / module / name
            if target.is_symlink():
                target.unlink()
            target.write_text(shared_copy(name), encoding="utf-8")
            print(f"wrote {target}")


if __name__ == "__main__":
    main()
