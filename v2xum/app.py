# Copyright 2026 The V2Xum Authors. Licensed under the Apache License, Version 2.0.
"""`v2xum app`: a gradio demo. Upload a video (or generate a StoryBoard sample), choose the task, and see the
summary: sentences whose times seek the player, the keyframe gallery, the timeline, the highlight reel, and the
`v2xum summarize` files to download. Everything runs through `summarize_videos`, as the CLI does."""

import html
import os
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path

import gradio as gr
import numpy as np

from processing import VideoDecodingError
from processing.video_decoding import announced_duration, iter_frames, video_timeline

from .collection import collect_jobs
from .export import EXPORT_SHORTEST_EDGE, time_label
from .resources import demo_model_dir
from .storyboard import make_video_example
from .summarize import ExportOptions, SummarizeSettings, load_pipeline, summarize_videos


TASKS = {"Both (text and keyframes)": "both", "Text": "text", "Keyframes (video)": "video"}
DEFAULT_MAX_MINUTES = 60.0
# Clicking an element with `data-seek` (a sentence's time) seeks the uploaded video's player.
SEEK_SCRIPT = """<script>
document.addEventListener("click", (event) => {
  const link = event.target.closest("[data-seek]");
  const player = document.querySelector("#v2xum-video video");
  if (!link || !player) return;
  event.preventDefault();
  player.currentTime = parseFloat(link.dataset.seek);
  player.play();
});
</script>"""


@dataclass
class AppResult:
    """What one summary shows: `summary_html` (sentences with seek links), `gallery` ((image, caption) pairs),
    `timeline` and `reel` (paths, or None), `files` (downloads) and the `summary.json` record."""

    summary_html: str
    gallery: list[tuple[np.ndarray, str]]
    timeline: str | None
    reel: str | None
    files: list[str]
    record: dict


class SummaryApp:
    """The app's work, without gradio: one loaded pipeline, one folder of outputs per request."""

    def __init__(
        self,
        model: str | os.PathLike | None = None,
        device: str = "auto",
        max_minutes: float = DEFAULT_MAX_MINUTES,
        work_dir: str | os.PathLike | None = None,
    ):
        self.model = os.fspath(model or demo_model_dir())
        self.pipe = load_pipeline(self.model, device=device)
        self.max_minutes = max_minutes
        self.work_dir = Path(work_dir or tempfile.mkdtemp(prefix="v2xum-app-"))
        self.work_dir.mkdir(parents=True, exist_ok=True)

    @property
    def num_frames(self) -> int:
        return self.pipe.processor.video_processor.num_frames

    @property
    def max_frames(self) -> int:
        return self.pipe.model.config.num_frame_tokens

    def storyboard_sample(self, seed: int) -> tuple[str, str]:
        """A generated StoryBoard video and its ground truth (Markdown)."""
        folder = self.work_dir / "samples"
        folder.mkdir(exist_ok=True)
        name = f"storyboard_{int(seed)}"
        truth = make_video_example(str(folder / f"{name}.mp4"), np.random.default_rng(int(seed)), name)
        lines = [f"- {s['seconds'][0]:.1f} s: {s['text']}" for s in truth["sentences"]]
        return str(folder / f"{name}.mp4"), "**Ground truth** (what the generator drew)\n\n" + "\n".join(lines)

    def summarize(
        self,
        video: str | None,
        task: str = "both",
        query: str = "",
        num_frames: int | None = None,
        fps: float | None = None,
        window_seconds: float | None = None,
        progress=None,
    ) -> AppResult:
        """Summarizes `video` into a fresh folder under `work_dir`; bad input raises ValueError with the
        package's message (not a video, too long, decoding failed)."""
        if not video:
            raise ValueError("upload a video or generate a StoryBoard sample first")
        try:
            duration = announced_duration(video) or video_timeline(video).duration
        except VideoDecodingError as error:
            raise ValueError(str(error)) from error
        if duration > self.max_minutes * 60:
            raise ValueError(
                f"{Path(video).name} is {duration / 60:.1f} minutes long; this app takes videos up to "
                f"{self.max_minutes:g} minutes (start it with a larger --max-minutes)"
            )
        settings = SummarizeSettings(
            task=task,
            query=query.strip() or None,
            num_frames=int(num_frames or 0) or None,
            fps=fps or None,
            window_seconds=window_seconds or None,
        )
        out = self.work_dir / uuid.uuid4().hex
        if progress is not None:
            progress(0.1, desc="decoding and summarizing")
        (job,) = collect_jobs([video])
        # A TEXT summary names no keyframes: no reel to cut.
        report = summarize_videos(
            self.pipe,
            [job],
            out,
            settings,
            ExportOptions(highlights=task != "text"),
            progress=False,
            extra={"model": self.model},
        )
        if report.failures:
            raise ValueError(next(iter(report.failures.values())))
        record = report.records[0]
        folder = out / job.name
        if progress is not None:
            progress(0.9, desc="keyframe gallery")
        return AppResult(
            summary_html=summary_html(record),
            gallery=keyframe_gallery(record),
            timeline=_file(folder, record, "timeline"),
            reel=_file(folder, record, "highlights"),
            files=[
                str(folder / record["files"][key])
                for key in ("json", "srt", "vtt", "highlights")
                if key in record["files"]
            ],
            record=record,
        )


def _file(folder: Path, record: dict, key: str) -> str | None:
    return str(folder / record["files"][key]) if key in record["files"] else None


def summary_html(record: dict) -> str:
    """The summary as HTML: each sentence with its keyframe times as links (`data-seek`) that seek the player, then
    the keyframes no sentence names (all of a VIDEO summary's); warnings (a cut-off answer, a damaged file) follow."""
    seconds = {k["index"]: k["seconds"] for k in record["keyframes"]}

    def links(indices):
        return " ".join(
            f'<a href="#" class="v2xum-seek" data-seek="{seconds[i]:.3f}">{time_label(seconds[i])}</a>'
            for i in indices
        )

    items = [f"<li>{links(s['keyframes'])} {html.escape(s['text'])}</li>" for s in record["sentences"]]
    named = {i for s in record["sentences"] for i in s["keyframes"]}
    others = [k["index"] for k in record["keyframes"] if k["index"] not in named]  # VIDEO task: all of them
    if others:
        items.append(f"<li>Keyframes: {links(others)}</li>")
    if not items:
        items = ["<li>(the model returned an empty summary)</li>"]
    warnings = "".join(f'<p class="v2xum-warning">Warning: {html.escape(w)}</p>' for w in record["warnings"])
    return f'<div id="v2xum-summary-text"><ul>{"".join(items)}</ul>{warnings}</div>'


def keyframe_gallery(record: dict) -> list[tuple[np.ndarray, str]]:
    """Each keyframe's source frame (decoded again at thumbnail size, so windowed summaries work too) and its
    time."""
    by_source = {k["frame_index"]: k for k in record["keyframes"]}
    frames = iter_frames(record["video"]["path"], sorted(by_source), EXPORT_SHORTEST_EDGE)
    return [(image, f"{time_label(by_source[index]['seconds'])} (frame {index})") for index, image in frames]


def build_app(app: SummaryApp) -> gr.Blocks:
    """The page: inputs on the left, the summary on the right."""
    with gr.Blocks(title="V2Xum video summarization") as demo:
        gr.Markdown(
            "# V2Xum: cross-modal video summarization\n"
            f"Model: `{app.model}`. Upload a video, or generate a StoryBoard sample (a synthetic video whose "
            "ground truth is known), and summarize it as text, keyframes or both. Click a time to seek."
        )
        with gr.Row():
            with gr.Column():
                video = gr.Video(label="Video", sources=["upload"], elem_id="v2xum-video", height=320)
                with gr.Row():
                    seed = gr.Number(value=7, precision=0, label="StoryBoard sample seed", minimum=0)
                    sample = gr.Button("Generate a StoryBoard sample", elem_id="v2xum-sample")
                truth = gr.Markdown(elem_id="v2xum-truth")
                task = gr.Radio(list(TASKS), value=next(iter(TASKS)), label="Task")
                query = gr.Textbox(label="Query (optional): focus the summary on a topic")
                with gr.Accordion("Sampling", open=False):
                    frames = gr.Slider(
                        1, app.max_frames, value=app.num_frames, step=1, label="Frames per video (or per window)"
                    )
                    fps = gr.Number(value=0, minimum=0, label="Frames per second (0: spread the frames evenly)")
                    window = gr.Number(value=0, minimum=0, label="Window seconds for long videos (0: one pass)")
                run = gr.Button("Summarize", variant="primary", elem_id="v2xum-run")
            with gr.Column():
                summary = gr.HTML(elem_id="v2xum-summary")
                gallery = gr.Gallery(label="Keyframes", columns=4, height=200, elem_id="v2xum-gallery")
                timeline = gr.Image(label="Timeline (keyframes in red)", elem_id="v2xum-timeline")
                reel = gr.Video(label="Highlight reel", elem_id="v2xum-reel", interactive=False, height=240)
                files = gr.File(label="Downloads", file_count="multiple", elem_id="v2xum-files")

        def on_sample(seed_value):
            return app.storyboard_sample(seed_value or 0)

        def on_run(
            video_path,
            task_label,
            query_text,
            num_frames,
            fps_value,
            window_value,
            progress=gr.Progress(track_tqdm=True),
        ):
            try:
                result = app.summarize(
                    video_path,
                    TASKS.get(task_label, task_label),
                    query_text or "",
                    num_frames,
                    fps_value,
                    window_value,
                    progress,
                )
            except (ValueError, OSError) as error:  # the package's message in the page, not a traceback
                raise gr.Error(str(error)) from error
            return result.summary_html, result.gallery, result.timeline, result.reel, result.files

        sample.click(on_sample, inputs=seed, outputs=[video, truth], api_name="storyboard_sample")
        run.click(
            on_run,
            inputs=[video, task, query, frames, fps, window],
            outputs=[summary, gallery, timeline, reel, files],
            api_name="summarize",
        )
    return demo


def launch(
    model: str | None = None,
    host: str = "127.0.0.1",
    port: int | None = None,
    share: bool = False,
    device: str = "auto",
    max_minutes: float = DEFAULT_MAX_MINUTES,
    block: bool = True,
):
    """Starts the app on `host:port` (gradio picks a free port from 7860 when `port` is None). Returns
    `(blocks, url)`; with `block`, serves until interrupted."""
    app = SummaryApp(model, device=device, max_minutes=max_minutes)
    demo = build_app(app)
    demo.queue()
    _, url, _ = demo.launch(
        server_name=host,
        server_port=port,
        share=share,
        prevent_thread_lock=True,
        allowed_paths=[str(app.work_dir)],
        head=SEEK_SCRIPT,
        quiet=True,
    )
    if block:
        print(f"V2Xum app on {url} (model {app.model}); Ctrl+C to stop", flush=True)
        demo.block_thread()
    return demo, url


__all__ = ["SummaryApp", "AppResult", "build_app", "launch", "summary_html", "keyframe_gallery", "TASKS"]
