"""A tiny trained prior and a running demo app (once per session)."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

CONFIGS = Path(__file__).resolve().parents[2] / "configs"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def demo_prior(tmp_path_factory, standin_paths, tiny_prior_args, tiny_diffusion_args) -> dict:
    """A wild corpus (6 identities x 40 frames) and a prior trained on it for seconds."""
    from annotator.synthetic.builder import SynthConfig, build_corpus
    from motionprior.train import fit_or_resume

    root = tmp_path_factory.mktemp("demo_prior")
    corpus = build_corpus(SynthConfig(domain="wild", identities=6, sequences=1, frames=40, out=str(root / "wild"),
                                      model=str(standin_paths.pkl), seed=21, split_fractions=(0.5, 0.2, 0.3)),
                          progress=False)
    prior = fit_or_resume(CONFIGS / "motionprior" / "quick.yaml", root / "prior",
                          ["--data.data", str(corpus), "--model.head.flame_model", str(standin_paths.pkl), *tiny_prior_args])
    diffusion = fit_or_resume(CONFIGS / "motionprior" / "diffusion.yaml", root / "diffusion",
                              ["--data.data", str(corpus), "--model.head.flame_model", str(standin_paths.pkl),
                               *tiny_diffusion_args])
    return {"prior": prior, "diffusion": diffusion, "data": corpus, "root": root}



@pytest.fixture(scope="session")
def demo_server(demo_prior, layer32_small_encoder, tmp_path_factory):
    """The app served on a free local port; yields ``(url, backend)``."""
    from demos.app import DemoConfig, build_app
    from demos.backend import DemoBackend, Limits

    work = tmp_path_factory.mktemp("demo_work")
    limits = Limits(max_samples=6, max_seconds=4.0, max_video_seconds=6.0, max_video_frames=80, max_upload_mb=5.0)
    cfg = DemoConfig(prior=f"{demo_prior['prior']},{demo_prior['diffusion']}", data=str(demo_prior["data"]), workdir=str(work), port=free_port(),
                     limits=limits)
    backend = DemoBackend(cfg.prior, cfg.data, workdir=work, limits=limits, encoder=layer32_small_encoder[1])
    app = build_app(backend, cfg)
    app.launch(server_name="127.0.0.1", server_port=cfg.port, prevent_thread_lock=True, quiet=True, show_error=True,
               allowed_paths=[str(work)], max_file_size=f"{limits.max_upload_mb:g}mb")
    yield f"http://127.0.0.1:{cfg.port}/", backend
    app.close()
