"""Mesh files: GLB round trip and header."""

from __future__ import annotations

import json
import struct

import numpy as np
import pytest

from flame.mesh_io import read_glb, write_glb


def test_glb_round_trip(tmp_path, standin_model):
    rng = np.random.default_rng(0)
    v = np.asarray(standin_model.v_template, np.float32)
    f = np.asarray(standin_model.faces, np.int64)
    colors = rng.uniform(size=v.shape).astype(np.float32)
    path = write_glb(tmp_path / "head.glb", v, f, colors)
    raw = path.read_bytes()
    magic, version, length = struct.unpack_from("<III", raw)
    assert raw[:4] == b"glTF" and version == 2 and length == len(raw) and length % 4 == 0
    n_json, kind = struct.unpack_from("<II", raw, 12)
    assert kind == 0x4E4F534A and n_json % 4 == 0
    doc = json.loads(raw[20:20 + n_json])
    pos = doc["accessors"][doc["meshes"][0]["primitives"][0]["attributes"]["POSITION"]]
    np.testing.assert_allclose(pos["min"], v.min(0))
    np.testing.assert_allclose(pos["max"], v.max(0))
    back = read_glb(path)
    np.testing.assert_array_equal(back["POSITION"], v)
    np.testing.assert_array_equal(back["faces"], f)
    np.testing.assert_allclose(back["COLOR_0"], colors)
    np.testing.assert_allclose(np.linalg.norm(back["NORMAL"], axis=1), 1.0, atol=1e-5)
    no_color = read_glb(write_glb(tmp_path / "plain.glb", v, f))
    assert "COLOR_0" not in no_color and len(no_color["faces"]) == len(f)
    (tmp_path / "junk.glb").write_bytes(b"not a glb file at all")
    with pytest.raises(ValueError, match="glTF"):
        read_glb(tmp_path / "junk.glb")
