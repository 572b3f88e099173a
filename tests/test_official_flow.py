"""The official NeuFace dataset end to end, as a user runs it from the README's commands: exports in the
official layout (``<data_name>/flame_params/params.npz``, no frame rate, views or model hash) -> ``split``
-> ``pack`` -> ``fit`` (both families, tiny) -> ``eval sample`` (which scores the samples with the motion
evaluator) -> the demo backend's sample and inpaint on the same data; for each official preset."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import yaml

from flame.official import MEAD_VIEWS, to_neuface_params
from flame.sequence import FlameSequence

pytestmark = pytest.mark.slow  # the whole official flow
CONFIGS = Path(__file__).resolve().parents[1] / "configs" / "motionprior"
#: preset -> (dataset folder, data_name of (actor, take), views, frame rates of the takes, takes per actor)
PRESETS = {
    "mead": ("MEAD", "{actor}_angry_level_1_00{take}", list(MEAD_VIEWS), (30.0,), (1,)),
    "voxceleb2": ("VoxCeleb2", "id0001{actor_index}_21Uxsk56VDQ_0000{take}", ["front"], (25.0,), (1, 2)),
    "celebv_hq": ("celebv_hq", "{actor}Yt{actor_index}_{take}", ["front"], (24.0, 25.0, 30.0), (1, 2)),
}
ACTORS = ("M003", "M005", "W009", "W011", "M012")


def _export(root: Path, preset: str, seconds: float = 3.0, seed: int = 0) -> list[Path]:
    """Takes of smooth talking-head motion per actor, written as the official exporter does."""
    folder, pattern, views, rates, takes = PRESETS[preset]
    rng = np.random.default_rng(seed)
    files = []
    for a, actor in enumerate(ACTORS):
        for take in takes:
            fps = rates[(a + take) % len(rates)]
            t = int(seconds * fps)
            time = np.arange(t) / fps
            pose = np.zeros((len(views), t, 15))
            for k, amp in ((0, 0.15), (1, 0.3), (2, 0.05)):  # pitch, yaw, roll
                pose[..., k] = amp * np.sin(2 * np.pi * rng.uniform(0.2, 0.6) * time + rng.uniform(0, 6))
            pose[..., 6] = 0.12 * (1 + np.sin(2 * np.pi * 4.0 * time + rng.uniform(0, 6)))  # jaw at a syllable rate
            expr = 0.5 * np.sin(2 * np.pi * rng.uniform(0.1, 1.0, 50) * time[:, None] + rng.uniform(0, 6, 50))
            expr = np.broadcast_to(expr, (len(views), t, 50))
            seq = FlameSequence.from_params(shape=rng.normal(size=100), expression=expr, pose=pose, fps=fps, model="x",
                                            model_sha256="unknown", view_names=views)
            name = pattern.format(actor=actor, actor_index=a, take=take)
            files.append(to_neuface_params(seq, root / folder / name / "flame_params" / "params.npz"))
    return files


@pytest.mark.parametrize("preset", list(PRESETS))
def test_official_flow(preset, tmp_path, standin_paths, tiny_prior_args, tiny_diffusion_args, caplog, monkeypatch):
    import flame.head
    from demos.backend import DemoBackend
    from eval.__main__ import main as eval_main
    from motionprior.__main__ import main as prior_main

    monkeypatch.setattr(flame.head, "_warned_unrecorded", set())  # the warnings of this flow only
    root = tmp_path / "neuface_output"
    _export(root, preset)
    splits = tmp_path / "splits.yaml"
    assert prior_main(["split", "--root", str(root), "--preset", preset, "--out", str(splits),
                       "--fractions", "[0.4, 0.2, 0.4]"]) == 0
    if preset == "celebv_hq":  # the clips' frame rates differ: the user states each entry's
        table = yaml.safe_load(splits.read_text())
        for split in ("train", "val", "test"):
            table[split] = [{"path": p, "fps": _fps_of(tmp_path / p, preset)} for p in table[split]]
        splits.write_text(yaml.safe_dump(table))
    packed = tmp_path / "pack"
    model = str(standin_paths.pkl)
    assert prior_main(["pack", "--data", str(splits), "--out", str(packed), "--flame_model", model,
                       "--min_seconds", "0"]) == 0
    priors = {}
    once = ["--trainer.max_epochs", "1", "--trainer.check_val_every_n_epoch", "2"]
    for family, config, extra in (("humor-face", "quick.yaml", [*tiny_prior_args, *once]),
                                  ("long-context", "diffusion.yaml", tiny_diffusion_args)):
        run = tmp_path / family
        # HuMoR-Face: one epoch, validation every second: no best checkpoint, the last one is exported
        assert prior_main(["fit", "--config", str(CONFIGS / config), "--data.data", str(packed),
                           "--model.head.flame_model", model, "--trainer.default_root_dir", str(run), *extra]) == 0
        priors[family] = run / "lightning_logs" / "version_0" / "checkpoints" / "prior.pt"
        assert priors[family].is_file(), family

    test_clips = sum(len(_views(preset)) for p in yaml.safe_load(splits.read_text())["test"])
    for family, prior in priors.items():
        out = tmp_path / f"samples_{family}"
        assert eval_main(["sample", "--checkpoint", str(prior), "--data", str(splits), "--out", str(out),
                          "--starts", str(test_clips), "--samples", "2", "--seconds", "1", "--render", "0", "--plots", "1",
                          "--reference_split", "train"]) == 0
        written = sorted(out.glob("*.npz"))
        info = json.loads((out / "samples.json").read_text())
        # every start clip (two actors, the same views) has its own file, named by its data_name and view
        assert len(written) == len(info["starts"]) == test_clips == len(set(info["starts"]))
        assert all("flame_params" not in s and "params" not in s.split("/")[0] for s in info["starts"])
        for f in written:  # the sampler reads its own output back
            seq = FlameSequence.load(f)
            assert seq.n_views == 2 and seq.metadata["start"] in info["starts"]
        report = json.loads((out / "motion.json").read_text())
        assert {r["set"] for r in report["rows"]} >= {f"{_family_label(prior)} samples"}

    assert "not recorded" in caplog.text  # the official files' head model is assumed, and said so
    demo = DemoBackend([str(p) for p in priors.values()], splits, workdir=tmp_path / "demo", flame_model=model)
    names = list(demo.starts)
    assert len(names) == test_clips and len(set(names)) == len(names)
    for gen in demo.generator_names():
        result = demo.sample(names[-1], frame=0, samples=2, seconds=1.0, seed=0, generator=gen, size=64)
        assert FlameSequence.load(result.sequence).n_views == 2
    filled = demo.inpaint(names[0], gap_start=1.0, gap_seconds=0.5, samples=2, seed=0,
                          generator=demo.inpainting_names()[0], size=64)
    assert filled.sequence.is_file()


def _views(preset: str) -> list[str]:
    return PRESETS[preset][2]


def _fps_of(path: Path, preset: str) -> float:
    """The frame rate a take was exported at (what the user knows of their clips)."""
    _, pattern, _, rates, takes = PRESETS[preset]
    name = path.parent.parent.name
    for a, actor in enumerate(ACTORS):
        for take in takes:
            if pattern.format(actor=actor, actor_index=a, take=take) == name:
                return rates[(a + take) % len(rates)]
    raise AssertionError(name)


def _family_label(prior: Path) -> str:
    from motionprior.generator import read_generator_file

    return read_generator_file(prior).family
