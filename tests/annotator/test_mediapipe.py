"""MediaPipe's face mesh: the detector on a real photo, a real-photo video and stand-in renders; the iBUG
index map; the mesh-point embedding format; dense points in captures, the synthetic corpus and the
annotation."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from annotator.capture import Capture, CaptureFormatError
from annotator.detect import DlibDetector, FaceTracker, track_frames
from annotator.mediapipe_mesh import IBUG_FROM_MESH, MESH_POINTS, MediaPipeDetector
from eval.experiments.detectors import STABLE_POINTS
from flame.embedding import MeshPointEmbedding, load_mesh_point_embedding, write_mesh_point_embedding
from flame.errors import ModelFileError


def _regions():
    from mediapipe.python.solutions import face_mesh_connections as c

    from annotator.mediapipe_embedding import mesh_regions

    def pts(s):
        return {i for e in s for i in e}

    return mesh_regions(), pts(c.FACEMESH_FACE_OVAL), pts(c.FACEMESH_LEFT_EYE), pts(c.FACEMESH_RIGHT_EYE)


def test_the_index_map_puts_every_ibug_point_in_its_mesh_region():
    regions, oval, eye_a, eye_b = _regions()
    assert IBUG_FROM_MESH.shape == (68,) and len(set(IBUG_FROM_MESH.tolist())) == 68
    assert IBUG_FROM_MESH.min() >= 0 and IBUG_FROM_MESH.max() < 468  # face points, not irises
    assert set(IBUG_FROM_MESH[:17].tolist()) <= oval  # the contour stays on MediaPipe's face oval
    assert set(IBUG_FROM_MESH[48:68].tolist()) <= set(regions["lips"].tolist())
    right, left = set(IBUG_FROM_MESH[36:42].tolist()), set(IBUG_FROM_MESH[42:48].tolist())
    assert (right <= eye_a and left <= eye_b) or (right <= eye_b and left <= eye_a)  # one eye each


@pytest.fixture(scope="module")
def astronaut():
    from skimage import data

    return data.astronaut()


def test_mediapipe_finds_the_astronaut_and_agrees_with_dlib(astronaut):
    det = MediaPipeDetector(video=False)
    boxes = det.detect(astronaut)
    assert len(boxes) == 1
    box = FaceTracker().choose(boxes)
    dense, lm = det.dense(astronaut, box), det.landmarks(astronaut, box)
    assert dense.shape == (MESH_POINTS, 3) and lm.shape == (68, 3)
    assert np.array_equal(lm, dense[IBUG_FROM_MESH])
    assert (lm[:, 0] >= box[0]).all() and (lm[:, 0] <= box[2]).all()
    dl = DlibDetector()
    ref = dl.landmarks(astronaut, FaceTracker().choose(dl.detect(astronaut)))
    iod = np.linalg.norm(ref[36, :2] - ref[45, :2])
    err = np.linalg.norm(lm[list(STABLE_POINTS), :2] - ref[list(STABLE_POINTS), :2], axis=-1) / iod
    assert err.mean() < 0.05, err  # eye corners, nose tip, mouth corners, chin within 5 % of the eye distance
    with pytest.raises(ValueError, match="box"):
        det.dense(astronaut, box + 1.0)


def test_tracking_keeps_one_face_and_starts_over_for_each_view(face_videos):
    from annotator.sources import capture_from_video

    det = MediaPipeDetector()
    a = capture_from_video(face_videos / "gap.mp4", det, progress=False)
    assert a.metadata["detector"] == "mediapipe" and a.dense.shape == (1, 24, MESH_POINTS, 3)
    assert a.valid[0, :8].all() and not a.valid[0, 8:14].any() and a.valid[0, 14:].all()  # frames without a face
    assert np.isnan(a.dense[0, 8:14, :, :2]).all() and (a.dense[0, 8:14, :, 2] == 0).all()
    assert np.allclose(a.landmarks[0][a.valid[0]], a.dense[0][a.valid[0]][:, IBUG_FROM_MESH])
    b = capture_from_video(face_videos / "gap.mp4", det, progress=False)  # a second track with the same detector
    assert np.array_equal(a.valid, b.valid)
    noface = track_frames([np.full((120, 120, 3), 90, np.uint8)] * 3, det)
    assert not noface.valid.any() and noface.dense.shape == (3, MESH_POINTS, 3)


@pytest.mark.slow  # renders and MediaPipe on six heads
def test_the_stand_ins_embedding_predicts_mediapipe_on_other_renders(layer32, standin_paths):
    from annotator.mediapipe_embedding import check_embedding

    emb = load_mesh_point_embedding(standin_paths.mediapipe_embedding)
    emb.validate(len(layer32.faces), MESH_POINTS)
    check = check_embedding(layer32, emb, n=6, seed=3)
    assert check.found == check.renders == 6  # MediaPipe finds the stand-in's face in every render
    for region in ("lips", "eyelids", "brows", "nose"):  # % of the inter-ocular distance
        assert check.median[region] < 4.0 and check.p90[region] < 9.0, (region, check)


def test_mesh_point_embedding_round_trip_and_malformed_files(tmp_path):
    emb = MeshPointEmbedding(np.array([3, 7, 11]), np.array([[0.2, 0.3, 0.5], [1.0, 0, 0], [0.1, 0.1, 0.8]]),
                             np.array([0, 13, 477]))
    write_mesh_point_embedding(emb, tmp_path / "e.npz", model_sha256="abc")
    back = load_mesh_point_embedding(tmp_path / "e.npz")
    assert np.array_equal(back.faces, emb.faces) and np.array_equal(back.point_ids, emb.point_ids)
    assert np.allclose(back.bary, emb.bary)
    back.validate(20, MESH_POINTS)
    with pytest.raises(ModelFileError, match="different mesh"):
        back.validate(10, MESH_POINTS)
    cases = {"missing": dict(lmk_face_idx=emb.faces, lmk_b_coords=emb.bary),
             "sum": dict(lmk_face_idx=emb.faces, lmk_b_coords=emb.bary * 2, landmark_indices=emb.point_ids),
             "twice": dict(lmk_face_idx=emb.faces, lmk_b_coords=emb.bary, landmark_indices=np.array([1, 1, 2])),
             "shape": dict(lmk_face_idx=emb.faces, lmk_b_coords=emb.bary[:2], landmark_indices=emb.point_ids)}
    for name, arrays in cases.items():
        np.savez(tmp_path / f"{name}.npz", **arrays)
        with pytest.raises(ModelFileError, match=name if name == "missing" else "embedding|barycentric|point|shape"):
            load_mesh_point_embedding(tmp_path / f"{name}.npz").validate(20, MESH_POINTS)
    np.save(tmp_path / "pickled.npy", np.array({"a": 1}, dtype=object), allow_pickle=True)
    (tmp_path / "pickled.npz").write_bytes(b"PK\x03\x04 not a zip")
    with pytest.raises(ModelFileError, match="not a MediaPipe landmark embedding"):
        load_mesh_point_embedding(tmp_path / "pickled.npz")


def test_capture_dense_points_round_trip_and_shape(tmp_path):
    v, t = 2, 5
    rng = np.random.default_rng(0)
    lm = np.concatenate([rng.uniform(0, 100, (v, t, 68, 2)), np.ones((v, t, 68, 1))], -1)
    dense = rng.uniform(0, 100, (v, t, MESH_POINTS, 3)).astype(np.float32)
    cap = Capture(source="x", fps=25.0, view_names=np.array(["a", "b"]), frame_ids=np.arange(t), landmarks=lm,
                  valid=np.ones((v, t), bool), image_size=np.array([[100, 100]] * v), dense=dense)
    back = Capture.load(cap.save(tmp_path / "c.npz"))
    assert np.array_equal(back.dense, dense)
    assert back.frames(slice(1, 3)).dense.shape == (v, 2, MESH_POINTS, 3)
    with pytest.raises(CaptureFormatError, match="dense"):
        cap.replace(dense=dense[:, :3])


def test_the_corpus_simulates_dense_points_with_the_detector_noise(standin_paths, tmp_path):
    from annotator.synthetic.builder import SynthConfig, build_corpus
    from flame.layout import read_corpus

    kw = dict(domain="wild", identities=1, sequences=1, frames=30, model=str(standin_paths.pkl), seed=4,
              split_fractions=(0.0, 0.0, 1.0))
    plain = read_corpus(build_corpus(SynthConfig(out=str(tmp_path / "a"), **kw), progress=False)).sequences[0]
    dense = read_corpus(build_corpus(SynthConfig(out=str(tmp_path / "b"), dense=True, **kw), progress=False)).sequences[0]
    a, b = Capture.load(plain.capture), Capture.load(dense.capture)
    assert a.dense is None and np.array_equal(np.nan_to_num(a.landmarks), np.nan_to_num(b.landmarks))  # 68 unchanged
    emb = load_mesh_point_embedding(standin_paths.mediapipe_embedding)
    assert np.isnan(np.delete(b.dense, emb.point_ids, axis=2)[..., :2]).all()
    # the simulated points scatter around the true projections of the embedded points as the inner 68 do
    from flame.layer import EmbeddedPoints, FlameLayer
    from flame.sequence import FlameSequence, sequence_to_params

    layer = FlameLayer.from_files(standin_paths.pkl, n_shape=100, n_exp=50, dtype=torch.float64)
    gt = FlameSequence.load(dense.gt)
    cams = np.load(dense.cameras)
    with torch.no_grad():
        pts = EmbeddedPoints(layer, emb.faces, emb.bary)(sequence_to_params(gt, layer))[0].numpy()
    cam_pts = (pts + cams["aligned_translation"][0][:, None]) * np.array([1.0, -1.0, -1.0])  # the builder's camera frame
    true_px = np.einsum("tij,tnj->tni", cams["K"][0], cam_pts / cam_pts[..., 2:3])[..., :2]
    ok = b.valid[0]
    iod = np.linalg.norm(gt.landmarks2d[0, ok, 36, :2] - gt.landmarks2d[0, ok, 45, :2], axis=-1)[:, None]
    err_dense = np.median(np.linalg.norm(b.dense[0, ok][:, emb.point_ids, :2] - true_px[ok], axis=-1) / iod)
    err_68 = np.median(np.linalg.norm(b.landmarks[0, ok, 17:, :2] - gt.landmarks2d[0, ok, 17:, :2], axis=-1) / iod)
    assert 0.7 * err_68 < err_dense < 1.5 * err_68, (err_dense, err_68)


@pytest.mark.slow  # the pretrained landmark encoder
def test_the_dense_term_pulls_the_fit_onto_the_dense_points(standin_paths, layer32_small_encoder, tmp_path):
    from annotator.neuface import AnnotateConfig, annotate
    from annotator.synthetic.builder import SynthConfig, build_corpus
    from flame.camera import CROP_SIZE, invert_transform, ndc_to_pixels, transform_points, weak_perspective_project
    from flame.layer import EmbeddedPoints
    from flame.layout import read_corpus
    from flame.sequence import sequence_to_params

    layer, enc, _, _ = layer32_small_encoder
    corpus = build_corpus(SynthConfig(domain="wild", identities=1, sequences=1, frames=24, model=str(standin_paths.pkl),
                                      seed=6, split_fractions=(0.0, 0.0, 1.0), out=str(tmp_path / "c"), dense=True),
                          progress=False)
    cap = Capture.load(read_corpus(corpus).sequences[0].capture)
    emb = load_mesh_point_embedding(standin_paths.mediapipe_embedding)
    points = EmbeddedPoints(layer, emb.faces, emb.bary)

    def dense_error(seq) -> float:  # fitted dense points against the detected ones, pixels
        with torch.no_grad():
            ndc = weak_perspective_project(points(sequence_to_params(seq, layer)), torch.as_tensor(seq.cam))[..., :2]
        px = transform_points(invert_transform(torch.as_tensor(seq.crop_tform)), ndc_to_pixels(ndc, CROP_SIZE)).numpy()
        det = cap.dense[:, :, emb.point_ids, :2]
        return float(np.nanmean(np.linalg.norm(px - det, axis=-1)[cap.valid]))

    # the 68 points switched off: only the dense term ties the fit to the image
    without = annotate(cap, layer, enc, AnnotateConfig(epochs=10, lambda_lmk=0.0))
    with_dense = annotate(cap, layer, enc, AnnotateConfig(epochs=10, lambda_lmk=0.0, lambda_dense=10.0), dense=emb)
    assert "dense" in with_dense.history[-1] and "dense" not in without.history[-1]
    assert dense_error(with_dense.sequence) < 0.7 * dense_error(without.sequence)
    with pytest.raises(ValueError, match="embedding"):
        annotate(cap, layer, enc, AnnotateConfig(epochs=1, lambda_dense=1.0))
    with pytest.raises(ValueError, match="no dense points"):
        annotate(cap.replace(dense=None), layer, enc, AnnotateConfig(epochs=1, lambda_dense=1.0), dense=emb)


@pytest.mark.slow
def test_run_with_the_mediapipe_detector_and_the_dense_term(face_videos, tmp_path, standin_paths, layer32_small_encoder):
    from annotator.neuface import AnnotateConfig
    from annotator.pretrain import PretrainConfig
    from annotator.runner import RunConfig, run
    from flame.sequence import FlameSequence

    cfg = RunConfig(input=str(face_videos / "gap.mp4"), output=str(tmp_path / "out"), model=str(standin_paths.pkl),
                    encoder_cache=str(layer32_small_encoder[3]), detector="mediapipe",
                    annotate=AnnotateConfig(epochs=2, lambda_dense=10.0), pretrain=PretrainConfig(steps=500, batch=128))
    [entry] = run(cfg, progress=False)
    assert entry["status"] == "done", entry
    seq = FlameSequence.load(tmp_path / "out" / entry["output"])
    assert seq.metadata["config"]["lambda_dense"] == 10.0 and "dense" in seq.metadata["history"][-1]
    assert not seq.valid[0, 8:14].any() and seq.valid[0, :8].all()


@pytest.mark.slow
def test_the_detector_and_dense_term_experiments_run_end_to_end(face_videos, tmp_path, standin_paths,
                                                                 layer32_small_encoder):
    import shutil

    from eval.experiments.dense import run_dense_term
    from eval.experiments.detectors import run_detectors

    _, _, pretrain, cache = layer32_small_encoder
    clips = tmp_path / "clips"
    clips.mkdir()
    shutil.copy(face_videos / "face.mp4", clips / "face.mp4")
    rows = run_detectors(str(clips), str(tmp_path / "det"), max_frames=12, model=str(standin_paths.pkl),
                         encoder_cache=str(cache), pretrain=pretrain, sheet_frames=2)
    by = {r["detector"]: r for r in rows}
    assert set(by) == {"dlib", "mediapipe"} and by["dlib"]["vs_dlib_iod_pct"] == 0.0
    assert by["mediapipe"]["found"] == 1.0 and 0 < by["mediapipe"]["vs_dlib_iod_pct"] < 8.0  # the same face
    assert (tmp_path / "det" / "face_detectors.png").stat().st_size > 1000
    dense = run_dense_term(str(tmp_path / "dense"), domains=("wild",), identities=1, frames=20, weights=(0.0, 3.0),
                           model=str(standin_paths.pkl), encoder_cache=str(cache), pretrain=pretrain)
    assert [r["lambda_dense"] for r in dense] == [0.0, 3.0] and all(np.isfinite(r["lips_pa_mm"]) for r in dense)
    assert dense[1]["nme68"] != dense[0]["nme68"]  # the term changed the fit
