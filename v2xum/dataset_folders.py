# Copyright 2026 The V2Xum Authors. Licensed under the Apache License, Version 2.0.
"""Data folders that `datasets.load_dataset(folder)` loads: the split files of the training format
(`train.jsonl`, `val.jsonl`, `test.jsonl`), the stage-1 captions (`align.jsonl`, the `align` config) and the videos
they name (relative paths). A `README.md` dataset card declares them (the Hub's `configs` metadata), so a folder
loads the same from disk and, pushed as a dataset repository, from the Hub.

    datasets.load_dataset("storyboard")                  # train / validation / test
    datasets.load_dataset("storyboard", "align")         # the alignment captions
    python train_sft.py --dataset_name storyboard ...    # a folder or a Hub dataset id
    v2xum evaluate --dataset storyboard --split test ...
"""

import os
from pathlib import Path

from huggingface_hub import DatasetCard, DatasetCardData

from .alignment_data import prepare_alignment_rows
from .training_data import prepare_examples


# File of each split the training format uses, under the name `datasets` gives the split.
SPLIT_FILES = {"train": "train.jsonl", "validation": "val.jsonl", "test": "test.jsonl"}
ALIGNMENT_FILE = "align.jsonl"


def write_dataset_card(folder: str | os.PathLike, title: str, description: str, license: str = "apache-2.0") -> Path:
    """`README.md` declaring the folder's data files as `datasets` configurations: `default` with the split files
    present, `align` with the alignment captions when present. Returns its path."""
    folder = Path(folder)
    present = {split: name for split, name in SPLIT_FILES.items() if _has_rows(folder / name)}
    splits = [{"split": split, "path": name} for split, name in present.items()]
    configs = [{"config_name": "default", "data_files": splits, "default": True}]
    if _has_rows(folder / ALIGNMENT_FILE):
        configs.append({"config_name": "align", "data_files": [{"split": "train", "path": ALIGNMENT_FILE}]})
    data = DatasetCardData(
        license=license, configs=configs, task_categories=["video-text-to-text"], tags=["video-summarization", "v2xum"]
    )
    content = f"---\n{data.to_yaml()}\n---\n\n# {title}\n\n{description}\n\n" + _usage(folder.name)
    card = DatasetCard(content)
    card.save(folder / "README.md")
    return folder / "README.md"


def _has_rows(path: Path) -> bool:
    return path.is_file() and path.stat().st_size > 0  # `datasets` refuses a configured split without rows


def _usage(name: str) -> str:
    return (
        "```python\nimport datasets\n\n"
        f'summaries = datasets.load_dataset("{name}")  # train / validation / test: one row per video and task\n'
        f'captions = datasets.load_dataset("{name}", "align")  # stage-1 alignment: one caption per clip\n```\n\n'
        "Rows name their video by a path relative to this folder. Train on it with `python train_sft.py "
        f"--dataset_name {name}`; evaluate with `v2xum evaluate --dataset {name} --split test`.\n"
    )


def local_dataset_folder(name: str, revision: str | None = None) -> Path:
    """Where a dataset's videos are: the folder itself, or a Hub dataset repository downloaded whole (its rows
    name video files, which `load_dataset` does not fetch)."""
    if os.path.isdir(name):
        return Path(name)
    from huggingface_hub import snapshot_download

    return Path(snapshot_download(name, repo_type="dataset", revision=revision))


def load_dataset_rows(
    name: str, split: str, config: str | None = None, video_root: str | None = None, skip_missing: bool = False
):
    """Validated rows of one split of a dataset folder or Hub id: training examples (`config` default) or alignment
    captions (`config="align"`); relative videos start from the dataset's folder unless `video_root`."""
    import datasets

    folder = local_dataset_folder(name)
    loaded = datasets.load_dataset(str(folder), config)
    if split not in loaded:
        raise ValueError(f"{name} has no '{split}' split (it has {sorted(loaded)})")
    prepare = prepare_alignment_rows if config == "align" else prepare_examples
    return prepare(list(loaded[split]), video_root or folder, skip_missing, f"{name}[{split}]")


__all__ = ["write_dataset_card", "load_dataset_rows", "local_dataset_folder", "SPLIT_FILES", "ALIGNMENT_FILE"]
