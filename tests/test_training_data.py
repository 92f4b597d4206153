"""Training data: target rendering, converters, dataset loading, the collator, cached features."""

import json

import pytest
import torch

from processing import SampledFrames, decode_video
from v2xum.collator import V2XumDataCollator
from v2xum.feature_cache import VideoFeatureCache, build_feature_cache, cache_settings
from v2xum.testing import write_numbered_video
from v2xum.training_data import (
    MissingVideosError,
    convert_v2xum_conversations,
    convert_videoxum,
    load_training_examples,
    render_target,
)


TIMELINE = SampledFrames(tuple(i * 0.5 for i in range(8)), tuple(range(0, 80, 10)), 4.0)


def example(task="both", **extra):
    return {
        "video": "v.mp4",
        "task": task,
        "duration": 4.0,
        "sentences": [
            {"text": "A red square appears.", "seconds": [0.4, 0.6, 1.1]},  # 0.4 and 0.6 both go to frame 1
            {"text": "It turns blue.", "grid": [75]},  # 75 / 100 * 4 s = 3.0 s: frame 6
            {"text": "It moves back", "seconds": [0.9]},  # frame 2 is not after frame 6: dropped
        ],
        **extra,
    }


def test_render_target_maps_times_to_the_frames_seen():
    assert render_target(example("both"), TIMELINE) == (
        "A red square appears[f01][f02]. It turns blue[f06]. It moves back."
    )
    assert render_target(example("video"), TIMELINE) == "[f01][f02][f06]"
    assert render_target(example("text"), TIMELINE) == "A red square appears. It turns blue. It moves back."
    assert render_target(example("both"), TIMELINE, style="text") == (
        "A red square appears [01, 02]. It turns blue [06]. It moves back."
    )


def test_videoxum_converter_exact(tmp_path):
    annotation = [
        {
            "video_id": "v_abc",
            "duration": 10.0,
            "sampled_frames": 10,
            "timestamps": [[0.0, 4.0], [3.0, 9.5]],
            "tsum": ["A man enters. ", "He sits down."],
            # 4 annotators; frames 1, 2 (3 votes), 4 (2 votes = 0.5) and 7 (4 votes) pass; frame 5 (1 vote) does not.
            "vsum_onehot": [
                [0, 1, 1, 0, 1, 0, 0, 1, 0, 0],
                [0, 1, 1, 0, 1, 1, 0, 1, 0, 0],
                [0, 1, 1, 0, 0, 0, 0, 1, 0, 0],
                [0, 0, 0, 0, 0, 0, 0, 1, 0, 0],
            ],
        }
    ]
    (tmp_path / "v_abc.mkv").write_bytes(b"")
    path = tmp_path / "test_videoxum.json"
    path.write_text(json.dumps(annotation))
    examples = convert_videoxum(path, video_root=tmp_path, tasks=("both", "text"))
    sentences = [
        {"text": "A man enters.", "seconds": [1.0, 2.0, 4.0], "grid": []},  # frame 4 is in both segments: first wins
        {"text": "He sits down.", "seconds": [7.0], "grid": []},
    ]
    base = {"video": "v_abc.mkv", "sentences": sentences, "duration": 10.0, "query": None}
    assert examples == [{**base, "task": "both"}, {**base, "task": "text"}]


def test_v2xum_conversation_converter_exact():
    conversations = [
        {
            "id": "vid1",
            "conversations": [
                {
                    "from": "human",
                    "value": "<video>\n Please generate BOTH video and text summarization for this video.",
                },
                {"from": "gpt", "value": "A man talks [03, 04]. He pours water [15]."},
                {"from": "human", "value": "Please generate a VIDEO summarization for this video."},
                {"from": "gpt", "value": "<s0> <e0>"},
            ],
            "meta": {"duration": 20.0, "token": {"<s0>": 2.0, "<e0>": 19.9}},
        }
    ]
    both, video = convert_v2xum_conversations(conversations)
    assert both == {
        "video": "vid1.mp4",
        "task": "both",
        "sentences": [
            {"text": "A man talks.", "seconds": [], "grid": [3, 4]},
            {"text": "He pours water.", "seconds": [], "grid": [15]},
        ],
        "duration": 20.0,
        "query": None,
    }
    assert video["task"] == "video" and video["sentences"] == [{"text": "", "seconds": [], "grid": [10, 99]}]
    with pytest.raises(ValueError, match="unknown instruction"):
        convert_v2xum_conversations([{"id": "x", "conversations": [{"value": "Describe."}, {"value": "[01]"}]}])


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("data")
    write_numbered_video(root / "a.mp4", 7, fps=10)
    write_numbered_video(root / "b.mp4", 40, fps=10)
    rows = [
        {"video": "a.mp4", "task": "both", "sentences": [{"text": "Short one.", "seconds": [0.3]}]},
        {"video": "b.mp4", "task": "video", "sentences": [{"text": "Long one.", "seconds": [1.0, 3.9]}]},
    ]
    (root / "train.jsonl").write_text("\n".join(json.dumps(r) for r in rows))
    return root


def test_missing_videos_are_listed_up_front(data_dir, tmp_path):
    rows = [json.loads(line) for line in (data_dir / "train.jsonl").read_text().splitlines()]
    rows += [{**rows[0], "video": "gone1.mp4"}, {**rows[1], "video": "gone2.mp4"}]
    path = tmp_path / "train.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows))
    with pytest.raises(MissingVideosError, match="2 video\\(s\\)") as error:
        load_training_examples(path, video_root=data_dir)
    assert error.value.paths == [str(data_dir / "gone1.mp4"), str(data_dir / "gone2.mp4")]
    assert len(load_training_examples(path, video_root=data_dir, skip_missing=True)) == 2


def test_collator_batches_lengths_and_labels_only_the_answer(data_dir, tiny_processor):
    dataset = load_training_examples(data_dir / "train.jsonl")
    batch = V2XumDataCollator(tiny_processor, num_frames=8)([dataset[0], dataset[1]])
    assert batch["pixel_values_videos"].shape[:2] == (2, 8)
    assert batch["video_frame_mask"].sum(dim=1).tolist() == [7, 8]
    tokenizer = tiny_processor.tokenizer
    for row, expected in zip(batch["labels"], ["Short one[f03].", "[f02][f07]"]):
        answer = row[row != -100].tolist()
        assert answer[-1] == tokenizer.eos_token_id
        assert tokenizer.decode(answer[:-1]).strip() == expected
    with pytest.raises(ValueError, match="longer than max_length=20"):
        V2XumDataCollator(tiny_processor, num_frames=8, max_length=20)([dataset[0]])


def test_training_labels_mask_everything_but_answer(tiny_processor, videos):
    def example(video, task, *sentences):
        return {
            "video": video,
            "task": task,
            "duration": None,
            "query": None,
            "sentences": [{"text": text, "seconds": seconds, "grid": []} for text, seconds in sentences],
        }

    # long: 8 of 300 frames at 30 fps (0, 1.43, 2.83, ..., 9.97 s); short: all 7 frames at 10 fps
    examples = [
        example(videos["long"], "both", ("A man talks.", [1.4, 2.8]), ("He pours water.", [7.1])),
        example(videos["short"], "video", ("", [0.0, 0.3])),
    ]
    batch = V2XumDataCollator(tiny_processor)(examples)
    answers = ["A man talks[f01][f02]. He pours water[f05].", "[f00][f03]"]
    assert [
        render_target(e, SampledFrames.from_metadata(decode_video(e["video"], num_frames=8))) for e in examples
    ] == answers
    tokenizer = tiny_processor.tokenizer
    for row, labels, answer in zip(batch["input_ids"], batch["labels"], answers):
        kept = labels[labels != -100]
        assert kept[-1] == tokenizer.eos_token_id
        assert tokenizer.decode(kept[:-1]).strip() == answer
        length = int((row != tokenizer.pad_token_id).sum())
        assert torch.equal(row[length - len(kept) : length], kept)  # labels sit on the answer positions
    assert batch["attention_mask"][1, -1] == 0  # right padding for training
    with pytest.raises(
        ValueError,
        match=r"Training example 0 of the batch \(.*long.mp4\) is \d+ tokens .* longer "
        r"than max_length=50",
    ):
        V2XumDataCollator(tiny_processor, max_length=50)(examples[:1])


def test_cached_features_give_the_same_loss_and_stale_caches_are_refused(data_dir, tiny_dir, tmp_path):
    from transformers import AutoModelForImageTextToText, AutoProcessor

    model = AutoModelForImageTextToText.from_pretrained(tiny_dir).eval()
    processor = AutoProcessor.from_pretrained(tiny_dir)
    dataset = load_training_examples(data_dir / "train.jsonl")
    cache = build_feature_cache(model, processor, dataset["video"], tmp_path / "cache", num_frames=8, progress=False)
    examples = [dataset[0], dataset[1]]
    pixels = V2XumDataCollator(processor, num_frames=8)(examples)
    cached = V2XumDataCollator(processor, num_frames=8, feature_cache=cache)(examples)
    assert torch.equal(pixels["input_ids"], cached["input_ids"]) and torch.equal(pixels["labels"], cached["labels"])
    assert cached["video_tower_features"].shape == (2, 8, 1, model.config.vision_feature_dim)
    with torch.no_grad():
        loss_pixels = model(**pixels).loss
        loss_cached = model(**cached).loss
    assert loss_cached.item() == pytest.approx(loss_pixels.item(), abs=1e-5)

    assert VideoFeatureCache(tmp_path / "cache", cache_settings(model, processor, 8, "exact"))
    with pytest.raises(ValueError, match="Stale feature cache .*num_frames: cache has 8, training uses 6"):
        VideoFeatureCache(tmp_path / "cache", cache_settings(model, processor, 6, "exact"))
    with torch.no_grad():
        model.model.vision_tower.vision_model.post_layernorm.weight.add_(0.1)
    with pytest.raises(ValueError, match="vision_tower_sha256"):
        VideoFeatureCache(tmp_path / "cache", cache_settings(model, processor, 8, "exact"))


def test_decoded_timeline_drives_the_target(data_dir):
    video = decode_video(data_dir / "b.mp4", num_frames=8)  # 40 frames at 10 fps: samples 0, 6, 11, ..., 39
    timeline = SampledFrames.from_metadata(video)
    row = {"task": "video", "duration": None, "sentences": [{"text": "", "seconds": [1.0, 3.9], "grid": []}]}
    assert render_target(row, timeline) == f"[f{timeline.nearest(1.0):02d}][f{timeline.nearest(3.9):02d}]"
    assert render_target(row, timeline) == "[f02][f07]"
