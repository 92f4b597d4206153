# Copyright 2026 The V2Xum Authors. Licensed under the Apache License, Version 2.0.
"""Files the package ships and reads at run time, found with `importlib.resources` so that they are there after a
wheel install as in a checkout: the metric modules and the StoryBoard demo model."""

from importlib.resources import files
from pathlib import Path


def _installed_path(package: str, *parts: str) -> Path:
    # pip installs packages unzipped: every shipped file has a real path (evaluate.load and from_pretrained need one).
    return Path(str(files(package).joinpath(*parts)))


def metric_dir(name: str) -> Path:
    """The folder of the `evaluate` module `name` (`evaluate.load(str(metric_dir("fclip")))`)."""
    return _installed_path("evaluate_metrics", name)


def demo_model_dir() -> Path:
    """The committed StoryBoard demo checkpoint."""
    return _installed_path("v2xum", "storyboard_demo")


__all__ = ["metric_dir", "demo_model_dir"]
