"""Keyframes survive the ordinary decode path (batch_decode / decode / post_process_image_text_to_text with
skip_special_tokens=True, TextStreamer) and stream with their times from the pipeline and `v2xum summarize`."""

import json
import re

import pytest
import torch
from transformers import AutoProcessor, TextStreamer, pipeline

from processing import SampledFrames
from processing.summary import annotate_keyframe_times
from v2xum.cli import main as v2xum


@pytest.fixture(scope="module")
def processor(keyframe_model_dir):
    return AutoProcessor.from_pretrained(keyframe_model_dir)


def _answer_ids(processor) -> list[int]:
    """A generated-looking answer: text, two keyframe tokens, a placeholder, padding and EOS."""
    tokenizer = processor.tokenizer
    words = tokenizer("a square appears", add_special_tokens=False)["input_ids"]
    f03, f07 = tokenizer.convert_tokens_to_ids(["[f03]", "[f07]"])
    return [*words, f03, f07, processor.frame_placeholder_id, tokenizer.eos_token_id, tokenizer.pad_token_id]


def test_skip_special_tokens_keeps_keyframes_only(processor):
    ids = _answer_ids(processor)
    tokenizer = processor.tokenizer
    # Reference: the tokenizer's own decode of the ids a reader should see (everything but the removed specials).
    removed = {processor.frame_placeholder_id, tokenizer.eos_token_id, tokenizer.pad_token_id}
    expected = tokenizer.decode([t for t in ids if t not in removed], skip_special_tokens=False)
    assert "[f03]" in expected and "[f07]" in expected
    assert tokenizer.decode(ids, skip_special_tokens=True).count("[f0") == 0  # what the plain tokenizer does
    assert processor.decode(ids, skip_special_tokens=True) == expected
    assert processor.decode(torch.tensor(ids), skip_special_tokens=True) == expected
    assert processor.batch_decode(torch.tensor([ids, ids]), skip_special_tokens=True) == [expected, expected]
    assert processor.post_process_image_text_to_text(torch.tensor([ids])) == [expected]
    assert processor.decode(ids) == tokenizer.decode(ids)  # without skipping, unchanged
    assert processor.decode(ids[-5], skip_special_tokens=True) == "[f03]"  # one id, as TextStreamer may pass


def test_text_streamer_shows_keyframes(processor, capsys):
    ids = _answer_ids(processor)
    streamer = TextStreamer(processor, skip_special_tokens=True)
    for token in ids:
        streamer.put(torch.tensor([token]))
    streamer.end()
    assert capsys.readouterr().out.strip() == processor.decode(ids, skip_special_tokens=True).strip()


@pytest.mark.parametrize(
    "text, expected",
    [
        ("A cat [f03] sits [f07].", "A cat [f03 @ 1.5 s] sits [f07 @ 3.5 s]."),
        ("Frames [03, 07] then [9].", "Frames [03, 07 @ 1.5 s, 3.5 s] then [9]."),  # 9 is outside the 8 frames
        ("[f12] nothing", "[f12] nothing"),
    ],
)
def test_annotate_keyframe_times(text, expected):
    timeline = SampledFrames(tuple(0.5 * i for i in range(8)), tuple(range(0, 16, 2)), 4.0)
    assert annotate_keyframe_times(text, timeline) == expected


def test_pipeline_streams_what_it_returns(keyframe_model_dir, videos):
    summarize = pipeline("video-summarization", model=str(keyframe_model_dir))
    pieces = []
    result = summarize(
        videos["medium"], task="video", num_frames=8, max_new_tokens=10, stream=lambda text, end: pieces.append(text)
    )
    streamed = "".join(pieces)
    assert result["keyframes"]
    for keyframe in result["keyframes"]:
        assert f"[f{keyframe['index']:02d} @ {keyframe['seconds']:.1f} s]" in streamed
    assert re.sub(r" @ [^\]]*\]", "]", streamed).split() == result["raw_text"].split()
    with pytest.raises(ValueError, match="batch_size=1"):
        summarize([videos["medium"], videos["short"]], batch_size=2, num_frames=4, stream=True)


def test_summarize_stream_flag(keyframe_model_dir, videos, tmp_path, capsys):
    assert (
        v2xum(
            [
                "summarize",
                videos["medium"],
                "--model",
                str(keyframe_model_dir),
                "--out",
                str(tmp_path / "s"),
                "--task",
                "video",
                "--num-frames",
                "8",
                "--max-new-tokens",
                "10",
                "--stream",
                "--device",
                "cpu",
            ]
        )
        == 0
    )
    printed = capsys.readouterr().out
    record = json.loads((tmp_path / "s" / "medium" / "summary.json").read_text())
    assert printed.startswith(f"{videos['medium']}:\n")
    assert all(f"@ {k['seconds']:.1f} s]" in printed for k in record["keyframes"]) and record["keyframes"]
    assert (
        v2xum(
            [
                "summarize",
                videos["medium"],
                "--model",
                str(keyframe_model_dir),
                "--out",
                str(tmp_path / "b"),
                "--stream",
                "--batch-size",
                "2",
            ]
        )
        == 2
    )
