# Copyright 2026 The V2Xum Authors. Licensed under the Apache License, Version 2.0.
"""StoryBoard: procedurally generated videos with exact summarization ground truth.

A video is 3-7 scenes. An *event* scene shows one distinct object (shape, colour, size) that stays still or moves
in one direction; a *filler* scene shows only the background, nearly static. Ground truth per video, in the
package's training format: one sentence per event describing only what is visible ("A large red circle moves
left."), its keyframe (the middle of the scene), scene boundaries, and 1-fps importance from several simulated
annotators who mostly, but not always, agree. Splits never share an event combination between train and test.
Everything is decided by the seed; videos are H.264 written with PyAV.

The StoryBoard demo model (`write_storyboard_base`, trained with `train_sft.py --config configs/storyboard_tiny.yaml`)
is a small V2Xum with a word-level tokenizer over the prompts and the generator's vocabulary.
"""

import hashlib
import json
import os
import re
import tempfile
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import av
import numpy as np
import torch
from PIL import Image, ImageDraw
from tokenizers import Tokenizer, models, pre_tokenizers
from transformers import PreTrainedTokenizerFast

from modeling_v2xum.composition import compose_v2xum, v2xum_processor_for
from modeling_v2xum.remote_code import save_v2xum_folder
from processing import SYSTEM_PROMPT, TASK_INSTRUCTIONS

from .dataset_folders import ALIGNMENT_FILE, write_dataset_card
from .tiny_models import write_tiny_parts


SHAPES = ("circle", "square", "triangle")
COLOURS = {"red": (220, 40, 40), "green": (40, 190, 60), "blue": (50, 90, 230), "yellow": (235, 215, 40)}
SIZES = {"small": 14, "large": 26}
MOTIONS = {
    "stays still": (0, 0),
    "moves left": (-1, 0),
    "moves right": (1, 0),
    "moves up": (0, -1),
    "moves down": (0, 1),
}
FPS = 10
SIZE = 64
NUM_ANNOTATORS = 5
DEMO_NUM_FRAMES = 32
SPLITS = {"train": 0.7, "val": 0.1, "test": 0.2}
FILLER_CAPTION = "Only the background is visible."
# 2: each video its own random stream, splits by content (1 drew videos from one stream and split them by position,
# so a smaller set's test videos were a larger set's training videos).
GENERATOR_VERSION = 2
_WORDS = re.compile(r"\w+|[^\w\s]+")


@dataclass
class Scene:
    start: float
    end: float
    kind: str  # "event" or "filler"
    shape: str | None = None
    colour: str | None = None
    size: str | None = None
    motion: str | None = None

    @property
    def sentence(self) -> str | None:
        if self.kind != "event":
            return None
        return f"A {self.size} {self.colour} {self.shape} {self.motion}."

    @property
    def caption(self) -> str:
        """What the scene shows, event or filler (alignment data)."""
        return self.sentence or FILLER_CAPTION


def vocabulary() -> list[str]:
    """Every word a StoryBoard sentence or alignment caption can use (for a word-level tokenizer)."""
    words = {"a", "."} | set(SHAPES) | set(COLOURS) | set(SIZES) | set(_WORDS.findall(FILLER_CAPTION.lower()))
    for motion in MOTIONS:
        words |= set(motion.split())
    return sorted(words)


def _draw(image: Image.Image, scene: Scene, progress: float) -> None:
    size = SIZES[scene.size]
    dx, dy = MOTIONS[scene.motion]
    travel = (SIZE - size) / 2 - 4
    cx = SIZE / 2 + dx * travel * (2 * progress - 1)
    cy = SIZE / 2 + dy * travel * (2 * progress - 1)
    box = (cx - size / 2, cy - size / 2, cx + size / 2, cy + size / 2)
    draw, colour = ImageDraw.Draw(image), COLOURS[scene.colour]
    if scene.shape == "circle":
        draw.ellipse(box, fill=colour)
    elif scene.shape == "square":
        draw.rectangle(box, fill=colour)
    else:
        draw.polygon([(cx, box[1]), (box[2], box[3]), (box[0], box[3])], fill=colour)


def _scenes(rng: np.random.Generator) -> list[Scene]:
    count = int(rng.integers(3, 8))
    kinds = ["event" if rng.random() < 0.6 else "filler" for _ in range(count)]
    if "event" not in kinds:
        kinds[int(rng.integers(count))] = "event"
    scenes, start = [], 0.0
    for kind in kinds:
        length = int(rng.integers(15, 36)) / FPS
        scene = Scene(round(start, 3), round(start + length, 3), kind)
        if kind == "event":
            scene.shape = SHAPES[int(rng.integers(len(SHAPES)))]
            scene.colour = list(COLOURS)[int(rng.integers(len(COLOURS)))]
            scene.size = list(SIZES)[int(rng.integers(len(SIZES)))]
            scene.motion = list(MOTIONS)[int(rng.integers(len(MOTIONS)))]
        scenes.append(scene)
        start += length
    return scenes


def _annotations(scenes: list[Scene], duration: float, rng: np.random.Generator) -> tuple[list, list]:
    """Per annotator, 1-fps importance in [0, 1] and the 0/1 selection (importance > 0.5). Annotators agree on
    events most of the time; each overlooks an event with probability 0.15 and picks a filler second rarely."""
    seconds = np.arange(int(np.ceil(duration)))
    importance = []
    for _ in range(NUM_ANNOTATORS):
        row = np.full(len(seconds), 0.1)
        for scene in scenes:
            inside = (seconds >= scene.start) & (seconds < scene.end)
            if scene.kind == "event":
                row[inside] = 0.2 if rng.random() < 0.15 else rng.uniform(0.7, 1.0)
        row = np.clip(row + rng.normal(0, 0.08, len(row)), 0, 1)
        importance.append(row.round(3).tolist())
    selections = [[int(v > 0.5) for v in row] for row in importance]
    return importance, selections


def _write_video(path: str, stories: list[tuple[list[Scene], tuple[int, int, int]]], rng: np.random.Generator) -> None:
    """Encodes stories (scenes and a background each) one after another."""
    with av.open(path, mode="w") as container:
        stream = container.add_stream("libx264", rate=FPS)
        stream.width = stream.height = SIZE
        stream.pix_fmt = "yuv420p"
        stream.options = {"crf": "18", "preset": "veryfast", "bf": "0", "threads": "1"}
        index = 0
        for scene, background in ((scene, background) for scenes, background in stories for scene in scenes):
            frames = int(round((scene.end - scene.start) * FPS))
            for n in range(frames):
                image = Image.new("RGB", (SIZE, SIZE), background)
                if scene.kind == "event":
                    _draw(image, scene, n / max(frames - 1, 1))
                pixels = np.asarray(image, dtype=np.int16) + rng.integers(-3, 4, (SIZE, SIZE, 3))  # near-static
                frame = av.VideoFrame.from_ndarray(np.clip(pixels, 0, 255).astype(np.uint8), format="rgb24")
                frame.pts = index
                index += 1
                container.mux(stream.encode(frame))
        container.mux(stream.encode())


def make_video_example(path: str, rng: np.random.Generator, name: str, stories: int = 1) -> dict:
    """Writes one video and returns its training example (paths relative to the StoryBoard folder). With
    `stories > 1`, that many stories (each its own scenes and background) are chained into one long video, the
    ground truth concatenated in real seconds."""
    parts, offset = [], 0.0
    for _ in range(stories):
        story = [
            replace(scene, start=round(scene.start + offset, 3), end=round(scene.end + offset, 3))
            for scene in _scenes(rng)
        ]
        parts.append((story, tuple(int(v) for v in rng.integers(10, 70, 3))))
        offset = story[-1].end
    scenes = [scene for story, _ in parts for scene in story]
    _write_video(path, parts, rng)
    duration = scenes[-1].end
    importance, selections = _annotations(scenes, duration, rng)
    events = [s for s in scenes if s.kind == "event"]
    return {
        "video": f"videos/{name}.mp4",
        "task": "both",
        "duration": duration,
        "query": None,
        "sentences": [{"text": s.sentence, "seconds": [round((s.start + s.end) / 2, 3)], "grid": []} for s in events],
        "scenes": [asdict(s) for s in scenes],
        "annotations": {"fps": 1, "scores": selections, "importance": importance},
    }


def combination(example: dict) -> tuple[str, ...]:
    """What must not repeat between train and test: the video's sequence of event sentences."""
    return tuple(s["text"] for s in example["sentences"])


def split_of(events: tuple[str, ...]) -> str:
    """A video's split, a function of its content (its event sentences) alone: the same video lands in the same
    split in every set, whatever its size, and no event combination is in two splits."""
    digest = hashlib.sha256("\n".join(events).encode()).digest()
    share, bound = int.from_bytes(digest[:8], "big") / 2**64, 0.0
    for split, fraction in SPLITS.items():
        bound += fraction
        if share < bound:
            return split
    return "test"


def _video_rng(seed: int, index: int) -> np.random.Generator:
    """Video `index`'s own random stream: its content depends on the seed and its index, not on the set's size."""
    return np.random.default_rng([seed, index])


def planned_splits(n_videos: int, seed: int = 0, stories: int = 1) -> list[tuple[str, tuple[str, ...]]]:
    """`(split, event sentences)` of each video `make_storyboard` writes, without writing any (the scenes are
    drawn first from each video's stream, so they are known before it is encoded)."""
    plan = []
    for index in range(n_videos):
        rng = _video_rng(seed, index)
        events = []
        for _ in range(stories):
            events += [scene.sentence for scene in _scenes(rng) if scene.kind == "event"]
            rng.integers(10, 70, 3)  # the story's background, drawn as make_video_example draws it
        plan.append((split_of(tuple(events)), tuple(events)))
    return plan


def make_storyboard(
    out_dir: str | os.PathLike, n_videos: int = 200, seed: int = 0, stories: int = 1
) -> dict[str, list[dict]]:
    """Writes `out_dir/videos/*.mp4`, `{train,val,test}.jsonl` (one example per video and task) and
    `storyboard.json` (generator version, seed, counts, vocabulary). Video k is the same in every set of a seed
    (its own random stream), and its split is `split_of` its content (about 70/10/20), so sets of any size never
    put one set's training video in another's test split. The same seed gives the same files byte for byte. With
    `stories > 1` every video chains that many stories (long videos for windowed summaries)."""
    out_dir = os.fspath(out_dir)
    os.makedirs(os.path.join(out_dir, "videos"), exist_ok=True)
    splits: dict[str, list[dict]] = {name: [] for name in SPLITS}
    for index, (split, events) in enumerate(planned_splits(n_videos, seed, stories)):
        name = f"{split}_{index:05d}"
        example = make_video_example(
            os.path.join(out_dir, "videos", f"{name}.mp4"), _video_rng(seed, index), name, stories
        )
        assert combination(example) == events, "the plan and the video must draw the same scenes"
        splits[split].append(example)
    for split, examples in splits.items():
        with open(os.path.join(out_dir, f"{split}.jsonl"), "w", encoding="utf-8") as f:
            for example in examples:
                for task in ("both", "video", "text"):
                    f.write(json.dumps({**example, "task": task}) + "\n")
    with open(os.path.join(out_dir, ALIGNMENT_FILE), "w", encoding="utf-8") as f:
        for row in alignment_rows(splits["train"]):
            f.write(json.dumps(row) + "\n")
    info = {
        "generator": "storyboard",
        "generator_version": GENERATOR_VERSION,
        "seed": seed,
        "n_videos": n_videos,
        "stories_per_video": stories,
        "split_rule": "sha256 of the event sentences",
        "fps": FPS,
        "size": SIZE,
        "vocabulary": vocabulary(),
        "counts": {split: len(examples) for split, examples in splits.items()},
        "alignment": f"{ALIGNMENT_FILE}: one caption per scene of the train split's videos",
    }
    with open(os.path.join(out_dir, "storyboard.json"), "w", encoding="utf-8") as f:
        json.dump(info, f, indent=2)
    write_dataset_card(out_dir, f"StoryBoard (seed {seed}, {n_videos} videos)", _card_description(info))
    return splits


def _card_description(info: dict) -> str:
    counts = ", ".join(f"{count} {split}" for split, count in info["counts"].items())
    return (
        f"Generated by `v2xum storyboard make` (generator version {info['generator_version']}, seed {info['seed']}): "
        f"{info['n_videos']} videos ({counts}) of {info['stories_per_video']} story each, 64x64 H.264 at "
        f"{info['fps']} fps. Each video is 3-7 scenes; an event scene shows one object that stays still or moves, "
        "a filler scene only the background. Ground truth per video: one sentence per event with its keyframe (the "
        "scene's middle), the scenes, and 1-fps importance from five simulated annotators. A video's split is a "
        "function of its content (a hash of its event sentences), so no set's test video is another's training "
        "video. `align.jsonl`: one caption per scene of the train split (stage 1)."
    )


def alignment_rows(examples: list[dict]) -> list[dict]:
    """Stage-1 rows (`v2xum.alignment_data`) for StoryBoard examples: one per scene, filler scenes included, its
    clip `[start, end)` and what it shows."""
    return [
        {"video": example["video"], "start": scene["start"], "end": scene["end"], "caption": Scene(**scene).caption}
        for example in examples
        for scene in example["scenes"]
    ]


def storyboard_tokenizer() -> PreTrainedTokenizerFast:
    """Word level: every word of the prompts and of StoryBoard sentences is one token."""
    corpus = [
        SYSTEM_PROMPT,
        *TASK_INSTRUCTIONS.values(),
        "USER: ASSISTANT: A a .",
        FILLER_CAPTION,
        " ".join([*SHAPES, *COLOURS, *SIZES, *MOTIONS]),
    ]
    words = sorted({w for text in corpus for w in _WORDS.findall(text)})
    specials = ["<unk>", "<s>", "</s>", "<pad>"]
    vocab = {token: i for i, token in enumerate(specials + words)}
    tokenizer = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
    return PreTrainedTokenizerFast(
        tokenizer_object=tokenizer, bos_token="<s>", eos_token="</s>", unk_token="<unk>", pad_token="<pad>"
    )


def write_storyboard_base(
    out_dir: str | os.PathLike, seed: int = 0, image_size: int = 32, pooled_patch_grid: int = 2
) -> Path:
    """The untrained demo model: a frozen random CLIP-style tower on `image_size` px frames (8 px patches, pooled
    to `pooled_patch_grid` x `pooled_patch_grid` tokens per frame, so position and motion are visible; standardized
    features, without which the decoder never found the object in the mostly-background tokens) and a 4-layer
    Llama-style decoder, composed like any V2Xum, with its processor."""
    torch.manual_seed(seed)
    out_dir = Path(out_dir)
    with tempfile.TemporaryDirectory() as parts:
        vision_dir, text_dir = write_tiny_parts(
            parts,
            tokenizer=storyboard_tokenizer(),
            vision={
                "hidden_size": 64,
                "intermediate_size": 128,
                "num_hidden_layers": 3,
                "num_attention_heads": 4,
                "image_size": image_size,
                "patch_size": 8,
                "projection_dim": 64,
            },
            text={
                "hidden_size": 128,
                "intermediate_size": 256,
                "num_hidden_layers": 4,
                "num_attention_heads": 4,
                "num_key_value_heads": 4,
                "max_position_embeddings": 1024,
            },
        )
        model, tokenizer = compose_v2xum(
            str(vision_dir),
            str(text_dir),
            vision_feature_mode="patch_pooled",
            vision_feature_layer=-1,
            pooled_patch_grid=pooled_patch_grid,
            projector_type="mlp2x_gelu",
            projector_feature_norm=True,
        )
    model.generation_config.max_new_tokens = 64
    processor = v2xum_processor_for(model.config, tokenizer, num_frames=DEMO_NUM_FRAMES)
    save_v2xum_folder(out_dir, model, processor)
    return out_dir


__all__ = [
    "make_storyboard",
    "make_video_example",
    "alignment_rows",
    "ALIGNMENT_FILE",
    "FILLER_CAPTION",
    "vocabulary",
    "combination",
    "split_of",
    "planned_splits",
    "GENERATOR_VERSION",
    "storyboard_tokenizer",
    "write_storyboard_base",
    "Scene",
    "SHAPES",
    "COLOURS",
    "DEMO_NUM_FRAMES",
]
