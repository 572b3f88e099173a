"""The Gradio demo (``neuface-demo`` / ``make demo``): sample long facial motion from a start frame, and
annotate a clip.

Out of the box it uses the quickstart's prior and annotated ``wild`` test split (running the
quickstart first if they are missing, with progress in the terminal); ``--prior`` / ``--data`` point it
to any checkpoint and data. Binds 127.0.0.1 unless ``--host`` says otherwise, no share link unless
``--share true``, no analytics; one queue with a concurrency limit and per-request limits
(:class:`demos.backend.Limits`).
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from annotator.pretrain import DEFAULT_ENCODER_CACHE
from demos.backend import SAMPLES_ROW, DemoBackend, DemoError, Limits
from eval.motion import METRIC_MEANINGS, REAL_ROW, REFERENCE_ROW
from flame.sequence import MOTION_FPS

log = logging.getLogger(__name__)

__all__ = ["DemoConfig", "default_prior", "build_app", "main"]

#: column names of the evaluator's sets in the sample tab's table
SHORT_NAMES = {REFERENCE_ROW: "real, other identities", REAL_ROW: "real test clips"}


def _number(v) -> float | None:
    return round(float(v), 4) if v is not None and np.isfinite(v) else None


@dataclass
class DemoConfig:
    """Settings of the demo.

    Attributes:
        prior / data: a trained prior and the data whose ``split`` gives start frames (default: the
            quickstart's, built by running the quickstart if missing).
        quickstart: the quickstart config used for the default.
        host / port / share: where to serve (local only by default; ``share`` makes a public link).
        workdir: request outputs (``workdir/requests``, the oldest deleted) and the example clip.
        flame_model / encoder_cache: head model override and landmark-encoder cache.
        split: the split offering start frames.
        concurrency / queue_size: requests run at once, and waiting at most.
        limits: per-request limits.
    """

    prior: str | None = None
    data: str | None = None
    quickstart: str = "configs/demos/quickstart.yaml"
    host: str = "127.0.0.1"
    port: int = 7860
    share: bool = False
    workdir: str = "runs/demo"
    flame_model: str | None = None
    encoder_cache: str = DEFAULT_ENCODER_CACHE
    split: str = "test"
    concurrency: int = 1
    queue_size: int = 8
    limits: Limits = field(default_factory=Limits)


def default_prior(quickstart_config: str | os.PathLike) -> tuple[Path, Path]:
    """``(prior, data)`` of the quickstart described by ``quickstart_config``, running it if needed."""
    import yaml

    from demos.quickstart import training_data

    cfg = yaml.safe_load(Path(quickstart_config).read_text()) or {}
    out = Path(cfg.get("out", "runs/quickstart"))
    data = training_data(out)
    summary = out / "summary.json"
    if summary.is_file():
        prior = Path(json.loads(summary.read_text()).get("prior", ""))
        if prior.is_file():
            return prior, data
    log.warning("no trained prior in %s: running the quickstart first (about 10 minutes on 2 cores)", out)
    from demos.quickstart import main as quickstart_main

    quickstart_main(["--config", str(quickstart_config)])
    return Path(json.loads(summary.read_text())["prior"]), data


def _refusals_as_errors(gr):
    """``shown(call, ...)``: a backend call whose refusal (DemoError) becomes the page's error message."""
    def shown(call, *args, **kwargs):
        try:
            return call(*args, **kwargs)
        except DemoError as e:
            raise gr.Error(str(e)) from None
    return shown


def _sample_tab(gr, backend: DemoBackend, cfg: DemoConfig, shown) -> None:
    """Sample long motion from a start frame: inputs, renders, curves, the evaluator's table, downloads."""
    import pandas as pd

    lim, names = backend.limits, backend.sequence_names()

    def on_sequence(name):
        n = shown(backend.n_frames, name)
        return gr.Slider(value=0, label=f"start frame (0..{n - 1}, {backend.fps(name):g} fps)")

    def preview(name, frame):
        return shown(backend.preview, name, frame)

    def sample(generator, name, frame, samples, seconds, seed, use_mean, mesh_second, progress=gr.Progress()):
        progress(0.05, desc="generating and rendering")
        r = shown(backend.sample, name, frame, samples, seconds, seed, use_mean=bool(use_mean), mesh_second=mesh_second,
                  generator=generator)
        sets = list(r.metrics)  # the samples, the reference rows, the real clips themselves
        rows = [[k, *(_number(r.metrics[s].get(k)) for s in sets), meaning] for k, meaning in METRIC_MEANINGS.items()]
        names = [SHORT_NAMES.get(s, s) for s in sets]
        m = r.metrics[SAMPLES_ROW]
        summary = (f"{r.samples} samples x {r.horizon_frames / MOTION_FPS:g} s in {r.seconds:.1f} s. APD "
                   f"{m['apd_mean_world']:.2f} cm (head-canonical {m['apd_mean_head_canonical']:.2f} cm); frames out of "
                   f"the real range {m['out_of_range']:.0%}. Scored by the motion evaluator against the real "
                   f"{backend.split} clips; the other columns are real motion scored the same way. Head model: "
                   f"{backend.model_label}.")
        table = pd.DataFrame(rows, columns=["metric", *names, "what it says"])
        return (str(r.video), str(r.plot), table, summary,
                [str(r.sequence), str(r.obj)], str(r.glb))

    with gr.Tab("Sample"):
        with gr.Row():
            with gr.Column(scale=1):
                generators = backend.generator_names()
                generator = gr.Dropdown(generators, value=generators[0], label="generator")
                seq = gr.Dropdown(names, value=names[0], label=f"{cfg.split} sequence")
                n0 = backend.n_frames(names[0])
                # the widget's server-side bound is the longest sequence; the backend checks the chosen one
                frame = gr.Slider(0, max(backend.n_frames(n) for n in names) - 1, value=0, step=1,
                                  label=f"start frame (0..{n0 - 1}, {backend.fps(names[0]):g} fps)")
                start_img = gr.Image(value=backend.preview(names[0], 0), label="start frame", height=256)
                samples = gr.Slider(1, lim.max_samples, value=min(9, lim.max_samples), step=1, label="samples")
                seconds = gr.Slider(0.5, lim.max_seconds, value=min(5.0, lim.max_seconds), step=0.5,
                                    label="horizon (s)")
                seed = gr.Number(0, precision=0, label="seed")
                use_mean = gr.Checkbox(False, label="deterministic (HuMoR-Face: the prior's mean; diffusion: no "
                                                          "noise) instead of sampling")
                mesh_second = gr.Slider(0, lim.max_seconds, value=0, step=0.1, label="mesh download / 3D view at (s)")
                go = gr.Button("Sample", variant="primary", elem_id="sample-button")
            with gr.Column(scale=2):
                video = gr.Video(label="samples (first 9)", elem_id="sample-video", autoplay=True)
                curves = gr.Image(label="head yaw / pitch / roll and jaw opening (black: the real clip)",
                                  elem_id="sample-curves")
                summary = gr.Markdown(elem_id="sample-summary")
                metrics = gr.Dataframe(label="the samples next to real motion (python -m eval motion)", interactive=False)
                files = gr.File(label="downloads: FlameSequence (.npz), mesh of sample 0 (.obj)", file_count="multiple")
                model3d = gr.Model3D(label="sample 0 (GLB)", height=320)
        seq.change(on_sequence, seq, frame, api_name="frames").then(preview, [seq, frame], start_img)
        frame.release(preview, [seq, frame], start_img, api_name="preview")
        go.click(sample, [generator, seq, frame, samples, seconds, seed, use_mean, mesh_second],
                 [video, curves, metrics, summary, files, model3d], api_name="sample")


def _inpaint_tab(gr, backend: DemoBackend, cfg: DemoConfig, shown, painters: list[str]) -> None:
    """Remove a stretch of a clip and complete it with a long-context generator, next to interpolation."""
    import pandas as pd

    lim, names = backend.limits, backend.sequence_names()

    def inpaint(generator, name, gap_start, gap_seconds, samples, seed, progress=gr.Progress()):
        progress(0.05, desc="completing the gap and rendering")
        r = shown(backend.inpaint, name, gap_start, gap_seconds, samples, seed, generator=generator)
        a, b = r.gap_frames
        summary = (f"Frames {a}..{b - 1} ({(b - a) / MOTION_FPS:.2f} s at {MOTION_FPS:g} Hz) removed and completed in "
                   f"{r.seconds:.1f} s. Tiles: the real clip, linear interpolation, the completions. Errors over the "
                   f"removed frames against what was removed. Head model: {backend.model_label}.")
        table = pd.DataFrame(r.table).round(4)
        return str(r.video), str(r.plot), table, summary, str(r.sequence)

    with gr.Tab("Inpaint"):
        with gr.Row():
            with gr.Column(scale=1):
                painter = gr.Dropdown(painters, value=painters[0], label="generator (long-context family)")
                clip_name = gr.Dropdown(names, value=names[0], label=f"{cfg.split} sequence")
                gap_start = gr.Slider(0.1, 20.0, value=2.0, step=0.1, label="gap starts at (s)")
                gap_seconds = gr.Slider(0.1, 3.0, value=1.0, step=0.1, label="gap length (s)")
                paint_samples = gr.Slider(1, lim.max_samples, value=min(4, lim.max_samples), step=1,
                                          label="completions")
                paint_seed = gr.Number(0, precision=0, label="seed")
                paint = gr.Button("Remove and complete", variant="primary")
            with gr.Column(scale=2):
                paint_video = gr.Video(label="real | linear interpolation | completions", autoplay=True)
                paint_curves = gr.Image(label="head yaw and jaw opening (grey: the gap; black: the real clip)")
                paint_summary = gr.Markdown()
                paint_table = gr.Dataframe(label="errors over the removed frames", interactive=False)
                paint_file = gr.File(label="completed FlameSequence (.npz)")
        paint.click(inpaint, [painter, clip_name, gap_start, gap_seconds, paint_samples, paint_seed],
                    [paint_video, paint_curves, paint_table, paint_summary, paint_file], api_name="inpaint")


def _annotate_tab(gr, backend: DemoBackend, shown, example: Path) -> None:
    """Annotate an uploaded clip with NeuFace and the per-frame encoder; overlay, stability table, file."""
    import pandas as pd

    lim = backend.limits

    def annotate(video, progress=gr.Progress()):
        r = shown(backend.annotate, video, progress=lambda f, text: progress(f, desc=text))
        table = pd.DataFrame(r.table).round(4)
        summary = (f"{r.frames} frames, face found in {r.valid_fraction:.0%}, {r.seconds:.1f} s. Red: fitted landmarks, "
                   f"green: detections. Head model: {backend.model_label}.")
        return str(r.overlay), str(r.sequence), table, summary

    with gr.Tab("Annotate"):
        with gr.Row():
            with gr.Column(scale=1):
                clip = gr.Video(label=f"face video (up to {lim.max_video_seconds:g} s, {lim.max_upload_mb:g} MB)",
                                sources=["upload"])
                gr.Examples([[str(example)]], inputs=[clip], label="example (a real photo, moving)")
                run = gr.Button("Annotate", variant="primary")
            with gr.Column(scale=2):
                overlay = gr.Video(label="overlay: fitted mesh and landmarks", autoplay=True)
                ann_summary = gr.Markdown()
                table = gr.Dataframe(label="stability: NeuFace vs per-frame regression", interactive=False)
                seq_file = gr.File(label="fitted FlameSequence (.npz)")
        run.click(annotate, clip, [overlay, seq_file, table, ann_summary], api_name="annotate")


def build_app(backend: DemoBackend, cfg: DemoConfig):
    """The Gradio Blocks app over ``backend``: the sample tab, the inpainting tab (when a loaded generator can
    inpaint) and the annotate tab."""
    import gradio as gr

    from demos.examples import ensure_example_video

    example = ensure_example_video(Path(cfg.workdir) / "examples")
    shown = _refusals_as_errors(gr)
    with gr.Blocks(title="NeuFace Motion Suite", analytics_enabled=False) as app:
        gr.Markdown(f"# NeuFace Motion Suite\nLong facial motion from a start frame (HuMoR-Face or the long-context "
                    f"diffusion family) and video annotation (NeuFace).  \n**Head model: {backend.model_label}.**")
        _sample_tab(gr, backend, cfg, shown)
        painters = backend.inpainting_names()
        if painters:
            _inpaint_tab(gr, backend, cfg, shown, painters)
        _annotate_tab(gr, backend, shown, example)
    app.queue(default_concurrency_limit=cfg.concurrency, max_size=cfg.queue_size)
    return app


def make_backend(cfg: DemoConfig) -> DemoBackend:
    prior, data = cfg.prior, cfg.data
    if prior is None:
        prior, default_data = default_prior(cfg.quickstart)
        data = data or default_data
    elif data is None:
        raise DemoError("--prior needs --data: the annotated sequences (or corpus) whose test split gives start frames")
    return DemoBackend(prior, data, workdir=cfg.workdir, flame_model=cfg.flame_model, encoder_cache=cfg.encoder_cache,
                       split=cfg.split, limits=cfg.limits)


def launch(cfg: DemoConfig, block: bool = True):
    """Build and serve the app; returns it (``block=False`` returns at once, for tests)."""
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    backend = make_backend(cfg)
    app = build_app(backend, cfg)
    app.launch(server_name=cfg.host, server_port=cfg.port, share=cfg.share, prevent_thread_lock=not block, show_error=True,
               max_file_size=f"{cfg.limits.max_upload_mb:g}mb", allowed_paths=[str(Path(cfg.workdir).resolve())],
               quiet=not block)
    return app


def main(argv: list[str] | None = None) -> int:
    """``neuface-demo`` / ``python -m demos app``."""
    import sys

    from flame.cli import guarded, parse_settings

    argv = sys.argv[1:] if argv is None else argv

    def run() -> None:
        cfg = parse_settings(DemoConfig, argv, "neuface-demo", __doc__.split("\n\n")[0])
        print(f"NeuFace demo on http://{cfg.host}:{cfg.port} (Ctrl+C to stop)")
        launch(cfg)

    return guarded(run)


if __name__ == "__main__":
    raise SystemExit(main())
