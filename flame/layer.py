"""The FLAME layer: a stateless ``nn.Module`` over any leading batch dimensions."""

from __future__ import annotations

import os

import numpy as np
import torch
from torch import Tensor, nn

from flame import lbs
from flame.embedding import LandmarkEmbedding, find_landmark_embedding, load_landmark_embedding
from flame.model import FlameModelData, load_model
from flame.rotations import axis_angle_to_matrix
from flame.types import N_EXP, N_JOINTS, N_POSE, N_SHAPE, FlameOutput, FlameParams

__all__ = ["FlameLayer", "VertexSubset"]


class FlameLayer(nn.Module):
    """FLAME as a stateless layer: parameters in, :class:`~flame.types.FlameOutput` out.

    The model arrays are buffers (``.to(device / dtype)`` moves them); nothing is created on a
    default device. Shape and expression blendshapes, pose correctives and the joint regression are
    folded into two precomputed matrices so one forward is a single GEMM plus skinning.

    Args:
        model: model arrays from :func:`flame.model.load_model` (FLAME or the stand-in).
        embedding: landmark embedding (DECA or RingNet format).
        n_shape: leading identity components used (FLAME files have 300).
        n_exp: leading expression components used (FLAME files have 100).
        dtype: dtype of the buffers (float32 or float64).
    """

    def __init__(
        self,
        model: FlameModelData,
        embedding: LandmarkEmbedding,
        n_shape: int = N_SHAPE,
        n_exp: int = N_EXP,
        dtype: torch.dtype = torch.float32,
    ) -> None:
        super().__init__()
        if not 0 <= n_shape <= model.shapedirs.shape[2]:
            raise ValueError(f"n_shape={n_shape} but {model.name} has {model.shapedirs.shape[2]} shape components")
        if not 0 <= n_exp <= model.exprdirs.shape[2]:
            raise ValueError(f"n_exp={n_exp} but {model.name} has {model.exprdirs.shape[2]} expression components")
        embedding.validate(len(model.faces), source=f"landmark embedding for {model.name}")
        self.n_shape, self.n_exp = n_shape, n_exp
        self.model_name, self.model_label = model.name, model.label
        self.is_standin, self.model_sha256 = model.is_standin, model.sha256
        self.parents = tuple(int(p) for p in model.parents)
        n_v = model.n_vertices

        dirs = np.concatenate([model.shapedirs[:, :, :n_shape], model.exprdirs[:, :, :n_exp]], axis=2)  # (V,3,K)
        # J = Jreg (v_template + dirs beta) = J_template + beta @ J_dirs
        j_template = model.j_regressor @ model.v_template
        j_dirs = np.einsum("jv,vck->kjc", model.j_regressor, dirs).reshape(n_shape + n_exp, N_JOINTS * 3)
        # Blendshapes in planar order (all x, all y, all z) so skinning runs on contiguous rows.
        planar = lambda a: np.ascontiguousarray(a.transpose(1, 0, 2).reshape(3 * n_v, -1).T)  # noqa: E731
        blend = np.concatenate([planar(dirs), planar(model.posedirs)], axis=0)

        def buf(name: str, a: np.ndarray, dt: torch.dtype = dtype) -> None:
            self.register_buffer(name, torch.as_tensor(np.ascontiguousarray(a), dtype=dt), persistent=False)

        buf("faces", model.faces, torch.long)
        buf("v_template", model.v_template)
        buf("v_template_planar", model.v_template.T.reshape(1, -1))
        buf("blend_dirs", blend)  # (n_shape + n_exp + 36, 3 V), planar
        buf("j_template", j_template)
        buf("j_dirs", j_dirs)
        buf("lbs_weights", model.weights)
        buf("static_faces", embedding.static_faces, torch.long)
        buf("static_bary", embedding.static_bary)
        buf("dynamic_faces", embedding.dynamic_faces, torch.long)
        buf("dynamic_bary", embedding.dynamic_bary)
        buf("full_faces", embedding.full_faces, torch.long)
        buf("full_bary", embedding.full_bary)
        # Landmark-only path: the vertices any landmark can touch (static, every contour row, full).
        lm_faces = np.concatenate([embedding.static_faces, embedding.dynamic_faces.ravel(), embedding.full_faces])
        subset = np.unique(model.faces[lm_faces].ravel())
        remap = np.full(n_v, -1, dtype=np.int64)
        remap[subset] = np.arange(len(subset))
        cols = np.concatenate([subset, subset + n_v, subset + 2 * n_v])  # planar columns of the subset
        buf("lm_subset_faces", remap[model.faces], torch.long)  # faces re-indexed into the subset (-1: unused)
        buf("lm_blend_dirs", blend[:, cols])
        buf("lm_template_planar", model.v_template.T.reshape(1, -1)[:, cols])
        buf("lm_weights", model.weights[subset])
        buf("vertex_colors", model.albedo())  # (V, 3) albedo for renders

    @classmethod
    def from_files(
        cls,
        model_path: str | os.PathLike,
        embedding_path: str | os.PathLike | None = None,
        **kwargs,
    ) -> "FlameLayer":
        """Load a model file and its landmark embedding (found next to the model if not given)."""
        model = load_model(model_path)
        emb = load_landmark_embedding(embedding_path) if embedding_path else find_landmark_embedding(model_path)
        return cls(model, emb, **kwargs)

    @property
    def n_vertices(self) -> int:
        return self.v_template.shape[0]

    def extra_repr(self) -> str:
        return f"{self.model_label}, n_shape={self.n_shape}, n_exp={self.n_exp}, V={self.n_vertices}"

    def _check(self, name: str, t: Tensor, size: int) -> None:
        if t.shape[-1] != size:
            raise ValueError(f"FlameParams.{name} ends in {t.shape[-1]} values; this layer uses {size} "
                             f"({self.model_name}, n_shape={self.n_shape}, n_exp={self.n_exp})")
        if t.dtype != self.v_template.dtype or t.device != self.v_template.device:
            raise ValueError(f"FlameParams.{name} is {t.dtype} on {t.device} but the layer is "
                             f"{self.v_template.dtype} on {self.v_template.device}; move one with .to()")

    def forward(self, params: FlameParams) -> FlameOutput:
        """Pose the model. Any leading batch shape; see :class:`~flame.types.FlameOutput`."""
        return self._run(params, landmarks_only=False)

    def landmarks(self, params: FlameParams) -> FlameOutput:
        """Like :meth:`forward` but only the landmarks and joints are computed (the vertices any
        landmark can touch are blended and skinned, a few times faster); ``vertices`` is ``None``."""
        return self._run(params, landmarks_only=True)

    def _run(self, params: FlameParams, landmarks_only: bool) -> FlameOutput:
        self._check("shape", params.shape, self.n_shape)
        self._check("expression", params.expression, self.n_exp)
        self._check("pose", params.pose, N_POSE)
        if params.translation is not None:
            self._check("translation", params.translation, 3)
        batch = params.batch_shape
        n = int(np.prod(batch)) if len(batch) else 1
        flat = lambda t, k: t.expand(*batch, k).reshape(n, k)  # noqa: E731
        coeffs = torch.cat([flat(params.shape, self.n_shape), flat(params.expression, self.n_exp)], dim=1)
        rot = axis_angle_to_matrix(flat(params.pose, N_POSE).view(n, N_JOINTS, 3))  # (n, 5, 3, 3)

        joints_rest = (self.j_template.reshape(1, -1) + coeffs @ self.j_dirs).view(n, N_JOINTS, 3)
        features = torch.cat([coeffs, lbs.pose_features(rot)], dim=1)
        if landmarks_only:
            template, dirs, weights, faces = self.lm_template_planar, self.lm_blend_dirs, self.lm_weights, self.lm_subset_faces
        else:
            template, dirs, weights, faces = self.v_template_planar, self.blend_dirs, self.lbs_weights, self.faces
        v_posed = torch.addmm(template, features, dirs).view(n, 3, -1)
        joints, transforms = lbs.rigid_chain(rot, joints_rest, self.parents)
        verts = lbs.skin(v_posed, weights, transforms)
        if params.translation is not None:
            tr = flat(params.translation, 3).unsqueeze(1)
            verts, joints = verts + tr, joints + tr

        head_rot = rot[:, 0] @ rot[:, 1]  # global * neck, the chain DECA uses for the contour
        rows = lbs.yaw_to_contour_row(lbs.contour_yaw_degrees(head_rot))
        contour = lbs.barycentric_interpolate(verts, faces, self.dynamic_faces[rows], self.dynamic_bary[rows])
        static = lbs.barycentric_interpolate(verts, faces, self.static_faces, self.static_bary)
        full = lbs.barycentric_interpolate(verts, faces, self.full_faces, self.full_bary)

        def unflat(t: Tensor) -> Tensor:
            return t.view(*batch, *t.shape[1:])

        return FlameOutput(
            vertices=None if landmarks_only else unflat(verts),
            joints=unflat(joints),
            landmarks2d_3d=unflat(torch.cat([contour, static], dim=1)),
            landmarks3d=unflat(full),
        )

    def landmark_embedding(self, pose: Tensor) -> tuple[Tensor, Tensor]:
        """Faces ``(..., 68)`` and barycentrics ``(..., 68, 3)`` of ``landmarks2d_3d`` for poses
        ``(..., 15)`` (the contour rows depend on the head yaw), to interpolate any per-vertex
        attribute (normals, visibility) at the landmarks."""
        rot = axis_angle_to_matrix(pose[..., 0:6].reshape(-1, 2, 3))
        rows = lbs.yaw_to_contour_row(lbs.contour_yaw_degrees(rot[:, 0] @ rot[:, 1]))
        faces = torch.cat([self.dynamic_faces[rows], self.static_faces.expand(len(rows), -1)], dim=1)
        bary = torch.cat([self.dynamic_bary[rows], self.static_bary.expand(len(rows), -1, -1)], dim=1)
        return faces.view(*pose.shape[:-1], 68), bary.view(*pose.shape[:-1], 68, 3)

    def rest_joints(self, shape: Tensor, expression: Tensor) -> Tensor:
        """``(..., 5, 3)`` joints of ``shape (..., n_shape)`` and ``expression (..., n_exp)`` before posing (metres);
        the global rotation turns the head about the first (the root), which posing leaves in place."""
        batch = torch.broadcast_shapes(shape.shape[:-1], expression.shape[:-1])
        coeffs = torch.cat([shape.expand(*batch, -1), expression.expand(*batch, -1)], -1)
        return (self.j_template.reshape(-1) + coeffs @ self.j_dirs).view(*batch, N_JOINTS, 3)

    def canonical_vertices(self, params: FlameParams) -> Tensor:
        """``(..., V, 3)`` vertices with the global rotation and translation removed (the frame of
        NeuFace's multi-view loss and of the CVD metric)."""
        pose = params.pose.clone()
        pose[..., 0:3] = 0
        return self.forward(FlameParams(params.shape, params.expression, pose)).vertices


class VertexSubset(nn.Module):
    """Posed positions of a fixed subset of a layer's vertices - blending and skinning only those
    (e.g. the face region for a multi-view loss). Shares the layer's conventions and batching."""

    def __init__(self, layer: FlameLayer, vertex_ids: Tensor) -> None:
        super().__init__()
        self.layer = layer
        ids = torch.as_tensor(vertex_ids, dtype=torch.long)
        n_v = layer.n_vertices
        cols = torch.cat([ids, ids + n_v, ids + 2 * n_v])
        self.register_buffer("ids", ids, persistent=False)
        self.register_buffer("template", layer.v_template_planar[:, cols], persistent=False)
        self.register_buffer("dirs", layer.blend_dirs[:, cols], persistent=False)
        self.register_buffer("weights", layer.lbs_weights[ids], persistent=False)

    def forward(self, params: FlameParams) -> Tensor:
        """``(..., len(ids), 3)`` metres (translation included when given)."""
        lay = self.layer
        batch = params.batch_shape
        n = int(np.prod(batch)) if len(batch) else 1
        flat = lambda t, k: t.expand(*batch, k).reshape(n, k)  # noqa: E731
        coeffs = torch.cat([flat(params.shape, lay.n_shape), flat(params.expression, lay.n_exp)], dim=1)
        rot = axis_angle_to_matrix(flat(params.pose, N_POSE).view(n, N_JOINTS, 3))
        joints_rest = (lay.j_template.reshape(1, -1) + coeffs @ lay.j_dirs).view(n, N_JOINTS, 3)
        features = torch.cat([coeffs, lbs.pose_features(rot)], dim=1)
        v_posed = torch.addmm(self.template, features, self.dirs).view(n, 3, -1)
        _, transforms = lbs.rigid_chain(rot, joints_rest, lay.parents)
        verts = lbs.skin(v_posed, self.weights, transforms)
        if params.translation is not None:
            verts = verts + flat(params.translation, 3).unsqueeze(1)
        return verts.view(*batch, *verts.shape[1:])


class EmbeddedPoints(nn.Module):
    """Posed points fixed on the surface by a barycentric embedding (faces ``(K,)``, barycentrics ``(K, 3)``;
    e.g. a detector's dense points, :class:`flame.embedding.MeshPointEmbedding`): only the corners of
    their faces are blended and skinned (:class:`VertexSubset`)."""

    def __init__(self, layer: FlameLayer, faces: Tensor | np.ndarray, bary: Tensor | np.ndarray) -> None:
        super().__init__()
        corners = layer.faces[torch.as_tensor(np.asarray(faces), dtype=torch.long)]  # (K, 3)
        ids, local = torch.unique(corners, return_inverse=True)
        self.subset = VertexSubset(layer, ids)
        self.register_buffer("local", local, persistent=False)
        self.register_buffer("bary", torch.as_tensor(np.asarray(bary), dtype=layer.v_template.dtype), persistent=False)

    def forward(self, params: FlameParams) -> Tensor:
        """``(..., K, 3)`` metres."""
        verts = self.subset(params)  # (..., U, 3)
        return (verts[..., self.local, :] * self.bary[..., None]).sum(-2)
