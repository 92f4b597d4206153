import json

import pytest
import torch

from processing import (
    SampledFrames,
    SummarySentence,
    VideoSummary,
    decode_video,
    grid_to_seconds,
    parse_summary,
    render_answer,
    seconds_to_grid,
)


@pytest.fixture
def timeline():
    return SampledFrames(
        timestamps=tuple(i * 0.5 for i in range(10)), frame_indices=tuple(range(0, 100, 10)), duration=5.0
    )


def test_released_text_style(timeline):
    summary = parse_summary("A man talks to the camera [01, 02, 03]. He pours a liquid [07, 08].", timeline)
    assert [s.text for s in summary.sentences] == ["A man talks to the camera.", "He pours a liquid."]
    assert [s.keyframes for s in summary.sentences] == [[1, 2, 3], [7, 8]]
    assert summary.text == "A man talks to the camera. He pours a liquid."
    assert [(k.index, k.frame_index, k.seconds) for k in summary.keyframes] == [
        (1, 10, 0.5),
        (2, 20, 1.0),
        (3, 30, 1.5),
        (7, 70, 3.5),
        (8, 80, 4.0),
    ]


def test_special_token_style_and_video_only(timeline):
    both = parse_summary("A dog runs [f02][f03]. It jumps [f09].", timeline)
    assert [s.keyframes for s in both.sentences] == [[2, 3], [9]]
    video = parse_summary("[f00][f04][f05]", timeline, task="video")
    assert video.sentences == [] and [k.index for k in video.keyframes] == [0, 4, 5]
    assert video.text == ""


def test_text_only_answer_is_valid(timeline):
    summary = parse_summary("A quiet street at night.", timeline, task="text")
    assert summary.keyframes == [] and summary.text == "A quiet street at night." and summary.warnings == []


def test_malformed_references_dropped_with_warnings(timeline):
    with pytest.warns(UserWarning) as record:
        summary = parse_summary("Cars pass [03, 03, 42]. [f07] People walk [f99][f07]. [oops", timeline)
    assert [k.index for k in summary.keyframes] == [3, 7]
    assert summary.sentences[0].keyframes == [3]
    assert (summary.sentences[1].text, summary.sentences[1].keyframes) == ("People walk.", [7])
    assert summary.sentences[2].text == "[oops"  # unmatched brackets are the model's text, kept as written
    assert any("repeated keyframe 3" in str(w.message) for w in record)
    assert any("dropped keyframe 42: only 10 frames" in str(w.message) for w in record)
    assert len(summary.warnings) == 4


def test_to_dict_is_json_schema(timeline):
    data = parse_summary("A cat sleeps [f01].", timeline).to_dict()
    assert json.loads(json.dumps(data)) == data
    assert set(data) == {"task", "text", "raw_text", "sentences", "keyframes", "warnings", "windows"}
    assert data["keyframes"] == [{"index": 1, "frame_index": 10, "seconds": 0.5}]


@pytest.mark.parametrize("style", ["special", "text"])
def test_render_then_parse_round_trip(timeline, style):
    sentences = [SummarySentence("A man talks", [1, 2]), SummarySentence("He pours water.", [7])]
    answer = render_answer(sentences, style=style)
    parsed = parse_summary(answer, timeline)
    assert [(s.text, s.keyframes) for s in parsed.sentences] == [("A man talks.", [1, 2]), ("He pours water.", [7])]
    assert render_answer(sentences, style=style, task="text") == "A man talks. He pours water."
    video = render_answer(sentences, style=style, task="video")
    assert video == ("[f01][f02][f07]" if style == "special" else "[01, 02, 07]")


def test_timeline_contract(timeline):
    assert timeline.nearest(1.2) == 2 and timeline.nearest(1.25) == 2 and timeline.nearest(99) == 9
    assert timeline.nearest(-3) == 0
    assert timeline.nearest(grid_to_seconds(50, timeline.duration)) == 5  # 2.5 s
    assert seconds_to_grid(timeline.to_seconds(5), timeline.duration) == 50
    with pytest.raises(ValueError, match="grid index"):
        grid_to_seconds(100, timeline.duration)
    with pytest.raises(ValueError, match="strictly increasing"):
        SampledFrames((0.0, 0.0), (0, 1), 1.0)


def test_seconds_equal_decoded_timestamps(videos, tiny_processor):
    decoded = decode_video(videos["long"], num_frames=8)
    summary = tiny_processor.post_process("Bands change [f02][f05].", decoded)
    assert [k.seconds for k in summary.keyframes] == [decoded.timestamps[2], decoded.timestamps[5]]
    assert [k.frame_index for k in summary.keyframes] == [decoded.frame_indices[2], decoded.frame_indices[5]]


def test_post_process_generated_ids(tiny_processor, videos):
    batch = tiny_processor(text=tiny_processor.build_prompt("both"), videos=videos["short"], return_metadata=True)
    tokenizer = tiny_processor.tokenizer
    ids = tokenizer(" A man talks", add_special_tokens=False)["input_ids"]
    ids += tokenizer.convert_tokens_to_ids(["[f01]", "[f04]"]) + tokenizer(".", add_special_tokens=False)["input_ids"]
    ids += [tokenizer.eos_token_id, tokenizer.pad_token_id]
    summary = tiny_processor.post_process(ids, batch["video_metadata"][0])
    assert summary.text == "A man talks."
    assert [(k.index, k.frame_index) for k in summary.keyframes] == [(1, 1), (4, 4)]
    assert [k.seconds for k in summary.keyframes] == pytest.approx([0.1, 0.4])
    with pytest.raises(ValueError, match="2 answers but 1 video metadata"):
        tiny_processor.post_process([ids, ids], [batch["video_metadata"][0]])


def fuzzed_answers(rng, count: int) -> dict[str, list[str]]:
    """Answers a model could write, by class: references with any number (huge ones too), text around them,
    broken brackets, other scripts and control characters, nothing at all."""

    def number():
        return rng.choice([str(rng.randint(0, 120)), str(rng.randint(0, 10**6)), "9" * rng.randint(10, 5000)])

    pieces = ["[f{}]", "[{}]", "[{}, {}]", "[ {} ,{}]", "[f{}", "{}]", "[f-{}]", "[f{}.5]", "[[{}]]"]
    words = ["A man", "cuts", "ça va", "日本語", "émoji 🎬", "\x00\x07", "\n", ".", "!", "?", "<unk>", "</s>", ""]

    def answer():
        parts = []
        for _ in range(rng.randint(0, 12)):
            piece = rng.choice(pieces + words)
            parts.append(piece.format(*(number() for _ in range(piece.count("{}")))) if "{}" in piece else piece)
        return rng.choice([" ", "", ". "]).join(parts)

    return {
        "mixed": [answer() for _ in range(count)],
        "only references": ["".join(f"[f{number()}]" for _ in range(rng.randint(0, 20))) for _ in range(count)],
        "empty or blank": [rng.choice(["", " ", "\n", ".", "[]", "[f]"]) for _ in range(count)],
    }


@pytest.mark.parametrize("style", ["special", "text"])
def test_parsing_never_raises_and_keeps_its_invariants(timeline, style):
    import random
    import warnings

    rng = random.Random(0 if style == "special" else 1)
    for task in ("both", "video", "text"):
        for cls, answers in fuzzed_answers(rng, 10_000 // 3 + 1).items():
            for text in answers:
                if style == "text":
                    text = text.replace("[f", "[")
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    summary = parse_summary(text, timeline, task)
                indices = [k.index for k in summary.keyframes]
                assert indices == sorted(set(indices)) and all(0 <= i < len(timeline) for i in indices), (cls, text)
                assert all(0 <= k.seconds <= timeline.duration for k in summary.keyframes)
                assert all(set(s.keyframes) <= set(indices) for s in summary.sentences)
                assert VideoSummary.from_dict(json.loads(json.dumps(summary.to_dict()))) == summary


def test_post_process_never_raises_on_any_ids(tiny_processor):
    import random
    import warnings

    rng = random.Random(2)
    vocabulary = len(tiny_processor.tokenizer)
    metadata = {
        "frame_timestamps": [i / 10 for i in range(8)],
        "frame_indices": list(range(0, 80, 10)),
        "duration": 8.0,
    }
    cases = [[], [-1], [-(10**12)], [10**12], [vocabulary], [vocabulary - 1]]
    cases += [[rng.randint(-5, vocabulary + 5) for _ in range(rng.randint(0, 30))] for _ in range(10_000)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for ids in cases:
            summary = tiny_processor.post_process(ids, metadata, task="both")
            assert all(0 <= k.index < 8 for k in summary.keyframes)
            if any(not 0 <= t < vocabulary for t in ids):
                assert any("outside the vocabulary" in w for w in summary.warnings)
        assert tiny_processor.post_process(torch.tensor([], dtype=torch.long), metadata).text == ""


def test_an_answer_cut_off_by_max_new_tokens_says_so(tiny_processor, keyframe_model_dir, videos):
    from transformers import pipeline

    tokenizer = tiny_processor.tokenizer
    metadata = {"frame_timestamps": [0.0, 0.5], "frame_indices": [0, 5], "duration": 1.0}
    words = tokenizer("A man talks.", add_special_tokens=False)["input_ids"]
    assert (
        "stopped at max_new_tokens: the answer may be cut off" in tiny_processor.post_process(words, metadata).warnings
    )
    assert not any(
        "max_new_tokens" in w for w in tiny_processor.post_process(words + [tokenizer.eos_token_id], metadata).warnings
    )
    short = pipeline("video-summarization", model=str(keyframe_model_dir))(videos["short"], max_new_tokens=3)
    assert "stopped at max_new_tokens: the answer may be cut off" in short["warnings"]
