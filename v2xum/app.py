# Copyright 2026 The V2Xum Authors. Licensed under the Apache License, Version 2.0.
"""`v2xum app`: a gradio demo. Upload a video (or generate a StoryBoard sample), choose the task, and see the
summary: sentences whose times seek the player, the keyframe gallery, the timeline, the highlight reel, and the
`v2xum summarize` files to download. Everything runs through `summarize_videos`, as the CLI does."""

import html
import math
import os
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

import gradio as gr
import numpy as np
from PIL import Image, ImageDraw

from processing.video_decoding import check_plain_media, iter_frames

from .collection import collect_jobs
from .export import EXPORT_SHORTEST_EDGE, time_label
from .limits import PUBLIC_LIMITS, Limits
from .resources import demo_model_dir
from .storyboard import make_video_example
from .summarize import ExportOptions, SummarizeSettings, load_pipeline, summarize_videos
from .uploads import RequestFolders, model_name, without_paths


TASKS = {"Both (text and keyframes)": "both", "Text": "text", "Keyframes (video)": "video"}
DEFAULT_MAX_MINUTES = 60.0
# A request's folder outlives its response by this much at most (gradio copies the files it serves at once).
RELEASE_AFTER_SECONDS = 10.0
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
    `timeline` (an image: the keyframes on the video's time axis), `reel` (a path, or None), `files` (downloads),
    the `summary.json` record, and the request's `folder` (removed once the response is delivered)."""

    summary_html: str
    gallery: list[tuple[np.ndarray, str]]
    timeline: np.ndarray | None
    reel: str | None
    files: list[str]
    record: dict
    folder: str | None = None


class SummaryApp:
    """The app's work, without gradio: one loaded pipeline, one folder of outputs per request (removed once the
    response is delivered: `release`), strict limits on what a request may ask (`PUBLIC_LIMITS`), and uploads
    accepted only as plain video files."""

    def __init__(
        self,
        model: str | os.PathLike | None = None,
        device: str = "auto",
        max_minutes: float = DEFAULT_MAX_MINUTES,
        work_dir: str | os.PathLike | None = None,
        limits: Limits = PUBLIC_LIMITS,
    ):
        self.model = os.fspath(model or demo_model_dir())
        self.pipe = load_pipeline(self.model, device=device)
        self.limits = limits.with_overrides(max_video_minutes=max_minutes)
        self.work_dir = Path(work_dir or Path(tempfile.gettempdir()) / "v2xum-app")
        self.requests = RequestFolders(self.work_dir)

    @property
    def model_name(self) -> str:
        """The model as a reader knows it: its Hub id, or its folder's name (never this server's paths)."""
        return model_name(self.model)

    @property
    def num_frames(self) -> int:
        return self.pipe.processor.video_processor.num_frames

    @property
    def max_frames(self) -> int:
        return self.pipe.model.config.num_frame_tokens

    def storyboard_sample(self, seed: int) -> tuple[str, str]:
        """A generated StoryBoard video and its ground truth (Markdown)."""
        folder = self.work_dir / "samples"
        folder.mkdir(parents=True, exist_ok=True)
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
        """Summarizes `video` into a fresh folder under `work_dir`; bad input (not a plain video, over a limit,
        decoding failed) raises ValueError with the package's message, naming no server path."""
        if not video:
            raise ValueError("upload a video or generate a StoryBoard sample first")
        settings = SummarizeSettings(
            task=task,
            query=query.strip() or None,
            num_frames=int(num_frames or 0) or None,
            fps=fps or None,
            window_seconds=window_seconds or None,
        )
        out = self.requests.new()
        try:
            check_plain_media(video)
            self.limits.check_upload(os.path.getsize(video))
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
                extra={"model": self.model_name},
                limits=self.limits,
            )
            if report.failures:
                raise ValueError(next(iter(report.failures.values())))
        except (ValueError, OSError) as error:
            self.requests.release(out)
            message = without_paths(str(error), Path(video).parent, self.work_dir)
            name = Path(video).name
            raise ValueError(message if name in message else f"{name}: {message}") from error
        record = report.records[0]
        folder = out / job.name
        if progress is not None:
            progress(0.9, desc="keyframe gallery")
        return AppResult(
            summary_html=summary_html(record),
            gallery=keyframe_gallery(record),
            timeline=timeline_chart(record),
            reel=_file(folder, record, "highlights"),
            files=[
                str(folder / record["files"][key])
                for key in ("json", "srt", "vtt", "highlights")
                if key in record["files"]
            ],
            record=record,
            folder=str(out),
        )

    def release(self, folder: str | None) -> None:
        """Removes a request's folder once the response is delivered (gradio serves its own copies of the files):
        right after it in the page, and `RELEASE_AFTER_SECONDS` after the summary in any case (API clients)."""
        self.requests.release(folder)

    def release_later(self, folder: str) -> None:
        timer = threading.Timer(RELEASE_AFTER_SECONDS, self.release, [folder])
        timer.daemon = True
        timer.start()


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


TIMELINE_SIZE = (960, 120)  # the page's column width: readable without scaling
_TICK_STEPS = (0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600)


def timeline_chart(record: dict, size: tuple[int, int] = TIMELINE_SIZE) -> np.ndarray:
    """The summary on the video's time axis, drawn at the width the page shows it: ticks with times, time windows
    as shaded bands, each keyframe a red marker with its time."""
    width, height = size
    duration = max(record["video"]["duration"] or 0.0, 1e-6)
    image = Image.new("RGB", size, (250, 250, 250))
    draw = ImageDraw.Draw(image)
    left, right, axis = 40, width - 40, height - 34

    def x_of(seconds: float) -> float:
        return left + (right - left) * min(max(seconds / duration, 0.0), 1.0)

    for k, window in enumerate(record.get("windows") or []):
        if k % 2:
            draw.rectangle((x_of(window["start"]), 8, x_of(window["end"]), axis), fill=(232, 236, 244))
    step = next((s for s in _TICK_STEPS if duration / s <= 10), _TICK_STEPS[-1] * math.ceil(duration / 36000))
    for n in range(int(duration / step) + 1):
        x = x_of(n * step)
        draw.line((x, axis, x, axis + 6), fill=(90, 90, 90))
        draw.text((x, axis + 9), time_label(n * step), fill=(60, 60, 60), anchor="ma")
    draw.line((left, axis, right, axis), fill=(90, 90, 90), width=2)
    for keyframe in record["keyframes"]:
        x = x_of(keyframe["seconds"])
        draw.line((x, 18, x, axis), fill=(220, 40, 40), width=2)
        draw.polygon([(x - 5, 10), (x + 5, 10), (x, 18)], fill=(220, 40, 40))
    return np.asarray(image)


def build_app(app: SummaryApp) -> gr.Blocks:
    """The page: inputs on the left, the summary on the right."""
    # Gradio's copies of what was shown (the files it serves) are removed after an hour.
    with gr.Blocks(title="V2Xum video summarization", delete_cache=(3600, 3600)) as demo:
        gr.Markdown(
            "# V2Xum: cross-modal video summarization\n"
            f"Model: `{app.model_name}`. Upload a video, or generate a StoryBoard sample (a synthetic video whose "
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
                    fps = gr.Number(
                        value=0,
                        minimum=0,
                        maximum=app.limits.max_fps,
                        label="Frames per second (0: spread the frames evenly)",
                    )
                    window = gr.Number(
                        value=0,
                        minimum=0,
                        label=f"Window seconds, long videos (0: one pass; at least {app.limits.min_window_seconds:g})",
                    )
                run = gr.Button("Summarize", variant="primary", elem_id="v2xum-run")
            with gr.Column():
                summary = gr.HTML(elem_id="v2xum-summary")
                gallery = gr.Gallery(label="Keyframes", columns=4, height=200, elem_id="v2xum-gallery")
                timeline = gr.Image(
                    label="Timeline (keyframes in red)", elem_id="v2xum-timeline", show_label=True, height=140
                )
                request = gr.State(None)
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
            app.release_later(result.folder)
            return result.summary_html, result.gallery, result.timeline, result.reel, result.files, result.folder

        results = [summary, gallery, timeline, reel, files]
        sample.click(on_sample, inputs=seed, outputs=[video, truth], api_name="storyboard_sample")
        # A new video clears the last one's summary: nothing on the page describes a video it does not show.
        video.change(lambda: [None] * len(results), outputs=results, api_name=False)
        run.click(
            on_run,
            inputs=[video, task, query, frames, fps, window],
            outputs=[*results, request],
            api_name="summarize",
        ).then(app.release, inputs=request, api_name=False)
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
        allowed_paths=[str(app.work_dir)],  # samples and this request's outputs, until delivered
        head=SEEK_SCRIPT,
        quiet=True,
    )
    if block:
        print(f"V2Xum app on {url} (model {app.model_name}); Ctrl+C to stop", flush=True)
        demo.block_thread()
    return demo, url


__all__ = ["SummaryApp", "AppResult", "build_app", "launch", "summary_html", "keyframe_gallery", "TASKS"]
