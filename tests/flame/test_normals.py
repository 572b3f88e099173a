"""Vertex normals on hand-made meshes."""

from __future__ import annotations

import torch

from flame.normals import vertex_normals


def test_vertex_normals_of_a_flat_square_and_their_orientation():
    square = torch.tensor([[[0, 0, 0], [1, 0, 0], [1, 1, 0], [0, 1, 0]]], dtype=torch.float64)
    faces = torch.tensor([[0, 1, 2], [0, 2, 3]])  # counter-clockwise seen from +z
    torch.testing.assert_close(vertex_normals(square, faces)[0], torch.tensor([[0, 0, 1.0]] * 4, dtype=torch.float64))
    torch.testing.assert_close(vertex_normals(square, faces.flip(1))[0],
                               torch.tensor([[0, 0, -1.0]] * 4, dtype=torch.float64))


def test_area_weighting_at_a_cube_corner():
    # three unit faces meeting at the origin, outward normals -x, -y, -z: the corner normal is their mean
    v = torch.tensor([[[0, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1]]], dtype=torch.float64)
    faces = torch.tensor([[0, 2, 1], [0, 1, 3], [0, 3, 2]])
    n = vertex_normals(v, faces)[0, 0]
    torch.testing.assert_close(n, -torch.ones(3, dtype=torch.float64) / 3 ** 0.5)
