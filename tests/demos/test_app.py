"""The demo through its API (gradio_client): both tabs, the bad-input cases, the stand-in label."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pytest
from gradio_client.exceptions import AppError

pytestmark = pytest.mark.slow  # a trained prior and a running demo

gradio_client = pytest.importorskip("gradio_client")


@pytest.fixture(scope="module")
def client(demo_server):
    url, _ = demo_server
    return gradio_client.Client(url, verbose=False)


def _path(value) -> Path:
    """A file output of the client: a path, or a dict with ``video`` / ``path``."""
    if isinstance(value, dict):
        value = value.get("video") or value.get("path") or value.get("value")
        return _path(value)
    return Path(value)


def test_page_says_the_head_model_is_the_stand_in(demo_server):
    import urllib.request

    url, backend = demo_server
    html = urllib.request.urlopen(url, timeout=30).read().decode()
    assert "STAND-IN" in html and "not FLAME" in html
    assert "stand-in" in backend.model_label.lower()


def test_sample_tab(client, demo_server, capsys):
    _, backend = demo_server
    name = backend.sequence_names()[0]
    t = time.perf_counter()
    gen = backend.generator_names()[0]
    assert gen.startswith("humor-face") and backend.generator_names()[1].startswith("motion-diffusion")
    video, curves, metrics, summary, files, glb = client.predict(gen, name, 3, 4, 2.0, 7, False, 1.0,
                                                                 api_name="/sample")
    took = time.perf_counter() - t
    with capsys.disabled():
        print(f"\n[demo] sample 4 x 2 s via the API: {took:.1f} s")
    v = _path(video)
    assert v.suffix == ".mp4" and v.stat().st_size > 1000
    assert _path(curves).stat().st_size > 1000
    head = metrics["headers"]
    assert head == ["metric", "these samples", "real, other identities", "real test clips", "what it says"]
    rows = {r[0]: dict(zip(head, r)) for r in metrics["data"]}
    assert rows["apd_mean_world"]["these samples"] > 0 and rows["nonfinite_fraction"]["these samples"] == 0
    assert rows["fd_expression"]["real test clips"] == 0  # the real clips judged against themselves
    assert rows["jaw_3-6Hz"]["real, other identities"] > 0
    assert "4 samples x 2 s" in summary and "STAND-IN" in summary
    paths = sorted(_path(f) for f in files)
    assert {p.suffix for p in paths} == {".npz", ".obj"}
    from flame.mesh_io import read_glb
    from flame.sequence import FlameSequence

    seq = FlameSequence.load(next(p for p in paths if p.suffix == ".npz"))
    assert seq.n_views == 4 and seq.n_frames == 61 and "stand-in" in seq.model
    mesh = read_glb(_path(glb))
    assert len(mesh["faces"]) == len(backend.layer.faces)
    # same seed, same motion; the prior mean is deterministic
    again = client.predict(gen, name, 3, 4, 2.0, 7, False, 1.0, api_name="/sample")
    a, b = (FlameSequence.load(next(_path(f) for f in r[4] if _path(f).suffix == ".npz"))
            for r in ((video, curves, metrics, summary, files), again))
    np.testing.assert_array_equal(a.pose, b.pose)


@pytest.mark.parametrize("args,message", [
    (("<first>", 3, 99, 2.0, 0, False, 0.0), "greater than maximum value 6"),  # the slider's own check
    (("<first>", 3, 2, 60.0, 0, False, 0.0), "greater than maximum value 4"),
    (("<first>", 10_000, 2, 1.0, 0, False, 0.0), "greater than maximum value"),
    (("no/such/sequence", 0, 2, 1.0, 0, False, 0.0), "not in the list of choices"),
    (("<first>", 0, 2, 1.0, 0, False, 3.0), "mesh time must be within the horizon"),
])
def test_sample_tab_rejects_bad_input(client, demo_server, args, message):
    _, backend = demo_server
    args = (backend.generator_names()[0], backend.sequence_names()[0] if args[0] == "<first>" else args[0], *args[1:])
    with pytest.raises(AppError, match=message):
        client.predict(*args, api_name="/sample")


def test_sample_tab_with_the_long_context_family(client, demo_server):
    from flame.sequence import FlameSequence

    _, backend = demo_server
    gen = backend.generator_names()[1]
    name = backend.sequence_names()[0]
    out = client.predict(gen, name, 20, 3, 1.0, 0, False, 0.0, api_name="/sample")
    seq = FlameSequence.load(next(_path(f) for f in out[4] if _path(f).suffix == ".npz"))
    assert seq.n_views == 3 and seq.n_frames == 31 and seq.metadata["generator"] == "motion-diffusion"
    with pytest.raises(AppError, match="not in the list of choices"):
        client.predict("no such generator", name, 0, 2, 1.0, 0, False, 0.0, api_name="/sample")


def test_inpaint_tab(client, demo_server):
    """A 0.4 s gap in a test clip, completed: the known frames come back unchanged, the errors are finite, and
    linear interpolation is the row to beat."""
    from flame.sequence import FlameSequence

    _, backend = demo_server
    name = backend.sequence_names()[0]
    video, curves, table, summary, completed = client.predict(backend.inpainting_names()[0], name, 0.5, 0.4, 2, 3,
                                                              api_name="/inpaint")
    assert _path(video).stat().st_size > 1000 and _path(curves).stat().st_size > 1000
    rows = {r[0]: dict(zip(table["headers"], r)) for r in table["data"]}
    assert set(rows) == {"linear interpolation", "completion 1", "completion 2"}
    assert all(np.isfinite(r["landmarks_cm"]) and r["landmarks_cm"] >= 0 for r in rows.values())
    assert "Frames 15..26" in summary
    seq = FlameSequence.load(_path(completed))
    start = backend.start(name)
    assert seq.n_views == 2 and seq.fps == 30.0
    # the frames before the gap are the clip's own (frame 0 at 30 Hz = frame 0 of the 25 fps clip)
    np.testing.assert_allclose(seq.pose[:, 0, 6:9], np.broadcast_to(start.sequence.pose[start.view, 0, 6:9], (2, 3)),
                               atol=1e-5)
    with pytest.raises(AppError, match="inside the clip"):
        client.predict(backend.inpainting_names()[0], name, 0.5, 3.0, 2, 3, api_name="/inpaint")


def test_backend_validates_what_the_widgets_cannot(demo_server):
    from demos.backend import DemoError

    _, backend = demo_server
    name = backend.sequence_names()[0]
    for kwargs, message in ((dict(samples=0), "samples must be between 1 and 6"),
                            (dict(samples=7), "samples must be between 1 and 6"),
                            (dict(seconds=float("nan")), "horizon must be between"),
                            (dict(seconds=5.0), "horizon must be between 0 and 4"),
                            (dict(seed=-1), "seed must be between"),
                            (dict(samples="many"), "must be numbers"),
                            (dict(frame=backend.n_frames(name)), "outside sequence"),
                            (dict(frame=float("nan")), "outside sequence"),
                            (dict(name="no/such/sequence"), "unknown sequence")):
        args = dict(name=name, frame=0, samples=2, seconds=1.0, seed=0) | kwargs
        with pytest.raises(DemoError, match=message):
            backend.sample(**args)


def test_preview_and_frame_range(client, demo_server):
    _, backend = demo_server
    name = backend.sequence_names()[-1]
    assert _path(client.predict(name, 2, api_name="/preview")).stat().st_size > 1000
    slider = client.predict(name, api_name="/frames")
    assert (slider.get("maximum") if isinstance(slider, dict) else None) in (backend.n_frames(name) - 1, None)


def test_annotate_tab(client, demo_server, tmp_path):
    from gradio_client import handle_file

    from demos.examples import ensure_example_video

    clip = ensure_example_video(tmp_path)
    overlay, seq_file, table, summary = client.predict(handle_file(str(clip)), api_name="/annotate")
    assert _path(overlay).stat().st_size > 1000
    from flame.sequence import FlameSequence

    seq = FlameSequence.load(_path(seq_file))
    assert seq.n_frames == 40 and seq.valid.mean() > 0.9
    methods = [r[0] for r in table["data"]]
    assert methods == ["regress (per frame)", "NeuFace"]
    nme = table["headers"].index("NME vs detections %")
    assert all(0 < r[nme] < 20 for r in table["data"])
    assert "face found in" in summary


def test_annotate_tab_rejects_bad_input(client, tmp_path):
    from gradio_client import handle_file

    from demos.examples import face_frames
    from flame.media import write_video

    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"this is not a video" * 100)
    with pytest.raises(AppError, match="not a readable video"):
        client.predict(handle_file(str(junk)), api_name="/annotate")
    blank = tmp_path / "wall.mp4"
    write_video(blank, [np.full((160, 160, 3), 90, np.uint8)] * 8, fps=10)
    with pytest.raises(AppError, match="wall.mp4: no face was detected in any frame"):
        client.predict(handle_file(str(blank)), api_name="/annotate")
    long = tmp_path / "long.mp4"
    write_video(long, face_frames(90), fps=10)  # 9 s, over the 6 s limit
    with pytest.raises(AppError, match="too long"):
        client.predict(handle_file(str(long)), api_name="/annotate")


def test_default_binding_is_local_and_config_is_typed(tmp_path):
    from demos.app import DemoConfig, main

    assert DemoConfig().host == "127.0.0.1" and DemoConfig().share is False
    bad = tmp_path / "demo.yaml"
    bad.write_text(json.dumps({"prot": 7000}))
    with pytest.raises(SystemExit):
        main(["--config", str(bad)])
