"""Metrics of facial motion on FLAME features (numpy / scipy, float64): FD, APD, long-horizon health and
motion spectra. The features (:class:`MotionFeatures`) come from motion files through the head model
(:mod:`eval.motion_features`), so any generator's output, ground truth or annotations are scored alike;
no metric reads a model's internal state.

Conventions (``docs/evaluation.md``); every set is at the same rate (30 Hz):

* **FD** - Fréchet distance between Gaussian fits of *pooled per-frame* features,
  ``|mu_r - mu_g|^2 + Tr(S_r + S_g - 2 (S_r S_g)^(1/2))``, covariances with ``N - 1``; the trace of the
  square root is ``Tr((A^½ B A^½)^½)`` from symmetric eigendecompositions (exact for PSD matrices).
  Variants (:data:`FD_VARIANTS`): ``expression`` (the leading :data:`FD_EXPRESSION` FLAME expression
  coefficients, zero-padded), ``pose`` (axis-angle head rotation + jaw, 6, radians; Learning2Listen's
  raw DECA pose), ``landmarks`` (the 68 head-canonical landmarks, 204, cm) and ``combined``: the four
  blocks head rotation, jaw, expression, head-canonical landmarks, each divided by a fixed scale
  (:data:`COMBINED_SCALES`: 0.1 rad, 0.05 rad, 1 coefficient, 0.1 cm) times the square root of its
  width, so a block whose every channel is off by one scale unit adds 1 - fixed numbers, never a
  model's or a data set's statistics.
* **APD** - samples of one start (a *group*), the shared start frame excluded: ``apd_mean`` is the mean
  over pairs, frames and landmarks of the per-landmark distance (cm; NeuFace's wording); ``apd_flat``
  the mean over pairs of the L2 norm of the flattened difference (DLow's ``pdist``). World and
  head-canonical landmarks, and head-canonical with each clip's mean face removed
  (:func:`remove_mean_face`): the distance of motion, not of identity - between real clips of different
  people most of the plain distance is their faces.
* **Health** against real clips: ``nonfinite_fraction``; ``out_of_range`` (frames with any world
  landmark coordinate outside the real min/max); ``drift_z`` (last-second mean offset of the
  head-canonical landmarks in real std); ``freeze_rate`` (1 s windows whose mean head-canonical landmark
  speed is below the real 5th percentile); ``variance_ratio`` (generated / real variance of the
  head-canonical landmarks); ``speed_ratio`` / ``acceleration_ratio`` (world landmarks);
  ``head_speed_deg_s`` / ``jaw_speed_deg_s`` (mean angular speed) and their ratios;
  ``rotation_invalid`` (frames with a head turned more than :data:`MAX_HEAD_DEG` from the camera or a jaw
  rotated more than :data:`MAX_JAW_DEG` - beyond a face).
* **Spectra** - Welch power spectra (Hann windows of :data:`SPECTRUM_WINDOW` frames = 4.3 s at 30 Hz, half
  overlap, each window's linear trend removed, zero-padded to :data:`SPECTRUM_NFFT`) of the jaw opening (the jaw's rotation
  about x) and of the head rotation (its three axis-angle components, powers summed), averaged over
  clips; the share of power in each band of :data:`BANDS` (of the power in 0-15 Hz), and the dominant
  jaw frequency: the highest local maximum of the spectrum above 1 Hz (below is posture, not
  articulation; speech syllables are 3-6 Hz).
* **Continuity** - the step from a known frame to the next generated one (a sample's start frame to its
  first generated frame; a gap's edges): the head and jaw rotation between the two frames (deg) and the
  L2 distance of their expression coefficients (:func:`frame_steps`), against the same steps between
  consecutive real frames (:attr:`RealMotion.step_median`, :attr:`RealMotion.step_p95`). ``<part>_jump``
  is the mean step, ``<part>_jump_over_p95`` the fraction of clips whose step exceeds the real 95th
  percentile (0.05 for real clips, by construction).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
from scipy.signal import welch
from scipy.spatial.transform import Rotation

__all__ = ["MotionFeatures", "RealMotion", "real_motion", "frechet_distance", "fd_features", "apd", "remove_mean_face", "motion_health", "spectrum", "band_shares",
           "dominant_frequency", "angular_speed", "rotation_angle_deg", "frame_steps", "continuity", "STEP_PARTS", "FD_VARIANTS",
           "FD_EXPRESSION", "COMBINED_SCALES", "BANDS",
           "MAX_HEAD_DEG", "MAX_JAW_DEG", "SPECTRUM_WINDOW", "SPECTRUM_NFFT"]

FD_VARIANTS = ("expression", "pose", "landmarks", "combined")
#: expression coefficients compared by FD (the official NeuFace export's 50)
FD_EXPRESSION = 50
#: fixed per-block scales of the combined FD (head rad, jaw rad, expression, landmarks cm)
COMBINED_SCALES = {"head": 0.1, "jaw": 0.05, "expression": 1.0, "landmarks": 0.1}
#: spectrum bands (Hz)
BANDS = ((0.0, 1.0), (1.0, 3.0), (3.0, 6.0), (6.0, 15.0))
MAX_HEAD_DEG, MAX_JAW_DEG = 90.0, 45.0
SPECTRUM_WINDOW, SPECTRUM_NFFT = 128, 1024
#: the parts whose frame-to-frame steps the continuity metrics compare (head / jaw deg, expression L2)
STEP_PARTS = ("head", "jaw", "expr")


@dataclass(frozen=True, eq=False)
class MotionFeatures:
    """Per-frame features of one clip (one view of a sequence) at ``fps``.

    Attributes:
        name: ``<file>/<view>``; group: the start the clip was generated from (APD pairs clips of a group).
        head: ``(T, 3)`` axis-angle head rotation relative to the camera, radians.
        jaw: ``(T, 3)`` axis-angle jaw rotation, radians.
        expression: ``(T, E)`` FLAME expression coefficients.
        landmarks: ``(T, 68, 3)`` the 68 3D landmarks, cm, camera-aligned FLAME frame.
        canonical: ``(T, 68, 3)`` the landmarks with the head rotation removed about their centroid, cm.
        fps: frames per second.
    """

    name: str
    group: str
    head: np.ndarray
    jaw: np.ndarray
    expression: np.ndarray
    landmarks: np.ndarray
    canonical: np.ndarray
    fps: float

    def __len__(self) -> int:
        return len(self.head)

    def frames(self, start: int, stop: int | None = None) -> "MotionFeatures":
        s = slice(start, stop)
        return MotionFeatures(self.name, self.group, self.head[s], self.jaw[s], self.expression[s], self.landmarks[s],
                              self.canonical[s], self.fps)

    @cached_property
    def finite(self) -> bool:
        return all(np.isfinite(a).all() for a in (self.head, self.jaw, self.expression, self.landmarks))


def _sqrt_psd(a: np.ndarray) -> np.ndarray:
    w, v = np.linalg.eigh(0.5 * (a + a.T))
    return (v * np.sqrt(np.clip(w, 0.0, None))) @ v.T


def frechet_distance(real: np.ndarray, generated: np.ndarray) -> float:
    """FD between Gaussian fits of feature sets ``real (N, D)`` and ``generated (M, D)`` (float64)."""
    a = np.asarray(real, np.float64)
    b = np.asarray(generated, np.float64)
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[1]:
        raise ValueError(f"FD needs (N, D) and (M, D) features, got {a.shape} and {b.shape}")
    if len(a) < 2 or len(b) < 2:
        raise ValueError("FD needs at least 2 samples per set")
    if not (np.isfinite(a).all() and np.isfinite(b).all()):
        raise ValueError("FD of non-finite features (a rollout diverged?); check the health metrics first")
    mu_a, mu_b = a.mean(0), b.mean(0)
    s_a = np.atleast_2d(np.cov(a, rowvar=False))
    s_b = np.atleast_2d(np.cov(b, rowvar=False))
    r = _sqrt_psd(s_a)
    cross = np.sqrt(np.clip(np.linalg.eigvalsh(r @ s_b @ r), 0.0, None)).sum()
    fd = ((mu_a - mu_b) ** 2).sum() + np.trace(s_a) + np.trace(s_b) - 2.0 * cross
    return float(max(fd, 0.0))  # >= 0; rounding leaves about -1e-10 for identical sets


def _expression(clip: MotionFeatures) -> np.ndarray:
    e = np.asarray(clip.expression, np.float64)[:, :FD_EXPRESSION]
    return np.pad(e, ((0, 0), (0, FD_EXPRESSION - e.shape[1])))


def fd_features(clips: list[MotionFeatures], variant: str) -> np.ndarray:
    """Pooled per-frame FD features ``(N, D)`` of ``clips`` (see the module docstring)."""
    if variant not in FD_VARIANTS:
        raise ValueError(f"FD variant must be one of {FD_VARIANTS}, got {variant!r}")
    blocks = {
        "head": lambda c: c.head, "jaw": lambda c: c.jaw, "expression": _expression,
        "landmarks": lambda c: c.canonical.reshape(len(c), -1),
    }
    use = {"expression": ["expression"], "pose": ["head", "jaw"], "landmarks": ["landmarks"],
           "combined": list(COMBINED_SCALES)}[variant]
    out = []
    for c in clips:
        parts = [np.asarray(blocks[b](c), np.float64) for b in use]
        if variant == "combined":
            parts = [p / (COMBINED_SCALES[b] * np.sqrt(p.shape[1])) for p, b in zip(parts, use)]
        out.append(np.concatenate(parts, 1))
    return np.concatenate(out) if out else np.zeros((0, 0))


def remove_mean_face(landmarks: np.ndarray) -> np.ndarray:
    """Landmarks ``(..., T, L, 3)`` minus each clip's mean over its frames (identity and mean expression):
    the same motion on two faces becomes the same array (exactly, for head-canonical landmarks of a motion
    without jaw rotation, where identity only adds a constant)."""
    x = np.asarray(landmarks, np.float64)
    return x - x.mean(-3, keepdims=True)


def apd(landmarks: np.ndarray) -> dict[str, float]:
    """APD of ``K`` samples ``(K, T, L, 3)`` (cm; drop the shared start frame before calling).

    Returns ``{"apd_mean": ..., "apd_flat": ...}`` (see the module docstring); NaN for ``K < 2``.
    """
    x = np.asarray(landmarks, np.float64)
    if x.ndim != 4 or x.shape[-1] != 3:
        raise ValueError(f"APD needs (K, T, L, 3) landmarks, got {x.shape}")
    k = x.shape[0]
    if k < 2:
        return {"apd_mean": float("nan"), "apd_flat": float("nan")}
    i, j = np.triu_indices(k, 1)
    per_point, flat = 0.0, 0.0
    for a, b in zip(i, j):  # pairs one at a time: K = 50 x 300 frames stays small in memory
        d = x[a] - x[b]
        per_point += np.linalg.norm(d, axis=-1).mean()
        flat += np.sqrt((d ** 2).sum())
    n = len(i)
    return {"apd_mean": float(per_point / n), "apd_flat": float(flat / n)}


def rotation_angle_deg(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Geodesic angle (deg) between axis-angle rotations ``a, b (..., 3)``: ``(...)``."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    rel = Rotation.from_rotvec(a.reshape(-1, 3)).inv() * Rotation.from_rotvec(b.reshape(-1, 3))
    return np.degrees(rel.magnitude()).reshape(a.shape[:-1])


def angular_speed(axis_angle: np.ndarray, fps: float) -> np.ndarray:
    """``(T - 1,)`` deg/s: the angle of the rotation between consecutive frames of ``(T, 3)`` axis-angles."""
    if len(axis_angle) < 2:
        return np.zeros(0)
    return rotation_angle_deg(axis_angle[:-1], axis_angle[1:]) * fps


def frame_steps(clip: MotionFeatures) -> np.ndarray:
    """``(T - 1, 3)`` steps between consecutive frames of a clip, per :data:`STEP_PARTS`: the head's and the
    jaw's rotation (deg) and the L2 distance of the expression coefficients."""
    if len(clip) < 2:
        return np.zeros((0, len(STEP_PARTS)))
    rotation = lambda aa: angular_speed(aa, 1.0)  # noqa: E731  (deg per frame)
    expression = np.linalg.norm(np.diff(clip.expression, axis=0), axis=-1)
    return np.stack([rotation(clip.head), rotation(clip.jaw), expression], -1)


def continuity(jumps: np.ndarray, reference: "RealMotion") -> dict[str, float]:
    """Continuity of ``jumps (N, 3)`` - one step per known-to-generated boundary, per :data:`STEP_PARTS`
    (:func:`frame_steps` at the boundary) - against the real steps: ``<part>_jump`` (mean),
    ``<part>_jump_over_p95`` (fraction above the real 95th percentile) and that percentile, ``<part>_step_p95``."""
    out = {}
    for i, part in enumerate(STEP_PARTS):
        j = jumps[:, i] if len(jumps) else np.zeros(0)
        out[f"{part}_jump"] = _mean(j)
        out[f"{part}_step_p95"] = float(reference.step_p95[i])
        out[f"{part}_jump_over_p95"] = float((j > reference.step_p95[i]).mean()) if len(j) else float("nan")
    return out


def _window_speed(lm: np.ndarray, fps: float, window: int) -> np.ndarray:
    """Mean landmark speed (cm/s) of consecutive ``window``-frame windows of ``lm (T, L, 3)``."""
    speed = np.linalg.norm(np.diff(lm, axis=0), axis=-1).mean(-1) * fps  # (T-1,)
    n = len(speed) // window
    return speed[:n * window].reshape(n, window).mean(1) if n else np.zeros(0)


def _speed_acceleration(lm: np.ndarray, fps: float) -> tuple[np.ndarray, np.ndarray]:
    """Per-frame mean landmark speed (cm/s) and acceleration (cm/s^2) of ``lm (T, L, 3)``."""
    v = np.diff(lm, axis=0) * fps
    a = np.diff(v, axis=0) * fps
    return np.linalg.norm(v, axis=-1).mean(-1), np.linalg.norm(a, axis=-1).mean(-1)


def _cat(arrays) -> np.ndarray:
    arrays = [a for a in arrays if len(a)]
    return np.concatenate(arrays) if arrays else np.zeros(0)


@dataclass(frozen=True)
class RealMotion:
    """What the health metrics compare with, computed once per real set (:func:`real_motion`): the world
    landmarks' per-coordinate range, the head-canonical landmarks' mean / std / variance, the 5th
    percentile of the 1 s window speeds, the mean landmark speed, acceleration and head / jaw
    angular speeds (NaN where the clips are too short), and the median and 95th percentile of the
    frame-to-frame steps ``(3,)`` per :data:`STEP_PARTS` (:func:`frame_steps`)."""

    lo: np.ndarray
    hi: np.ndarray
    canonical_mean: np.ndarray
    canonical_std: np.ndarray
    canonical_var: np.ndarray
    window_speed_p5: float
    speed: float
    acceleration: float
    head_speed: float
    jaw_speed: float
    step_median: np.ndarray
    step_p95: np.ndarray


def _mean(x: np.ndarray) -> float:
    return float(x.mean()) if len(x) else float("nan")


def real_motion(real: list[MotionFeatures], fps: float) -> RealMotion:
    """The real side of :func:`motion_health` for clips at ``fps``."""
    world = np.concatenate([c.landmarks.reshape(len(c), -1) for c in real])
    can = np.concatenate([c.canonical.reshape(len(c), -1) for c in real])
    speeds = _cat(_window_speed(c.canonical, fps, int(round(fps))) for c in real)
    va = [_speed_acceleration(c.landmarks, fps) for c in real if len(c) >= 3]
    steps = np.concatenate([frame_steps(c) for c in real])
    step_median, step_p95 = (np.percentile(steps, [50, 95], axis=0) if len(steps)
                             else np.full((2, len(STEP_PARTS)), np.nan))
    return RealMotion(world.min(0), world.max(0), can.mean(0), can.std(0), can.var(0),
                      float(np.percentile(speeds, 5)) if len(speeds) else float("nan"),
                      _mean(_cat(v for v, _ in va)), _mean(_cat(a for _, a in va)),
                      _mean(_cat(angular_speed(c.head, fps) for c in real)),
                      _mean(_cat(angular_speed(c.jaw, fps) for c in real)), step_median, step_p95)


def motion_health(generated: list[MotionFeatures], real: list[MotionFeatures] | RealMotion,
                  fps: float) -> dict[str, float]:
    """Long-horizon health of generated clips against real clips (or their :func:`real_motion`, when
    one real set judges many), both at ``fps`` (see the module docstring). Non-finite clips count in
    ``nonfinite_fraction`` and are left out of the rest."""
    ref = real if isinstance(real, RealMotion) else real_motion(real, fps)
    gen = [c for c in generated if c.finite]
    out = {"nonfinite_fraction": 1.0 - len(gen) / max(len(generated), 1)}
    keys = ("out_of_range", "drift_z", "freeze_rate", "variance_ratio", "speed_ratio", "acceleration_ratio",
            "head_speed_deg_s", "jaw_speed_deg_s", "head_speed_ratio", "jaw_speed_ratio", "rotation_invalid")
    if not gen:
        return out | {k: float("nan") for k in keys}
    window = int(round(fps))
    gen_world = np.concatenate([c.landmarks.reshape(len(c), -1) for c in gen])
    gen_can = np.concatenate([c.canonical.reshape(len(c), -1) for c in gen])
    out["out_of_range"] = float(((gen_world < ref.lo) | (gen_world > ref.hi)).any(-1).mean())
    last = np.concatenate([c.canonical[-window:].reshape(-1, gen_can.shape[1]) for c in gen])
    out["drift_z"] = float((np.abs(last.mean(0) - ref.canonical_mean) / np.maximum(ref.canonical_std, 1e-8)).mean())
    gen_speed = _cat(_window_speed(c.canonical, fps, window) for c in gen)
    out["freeze_rate"] = (float((gen_speed < ref.window_speed_p5).mean())
                          if len(gen_speed) and np.isfinite(ref.window_speed_p5) else float("nan"))
    out["variance_ratio"] = float((gen_can.var(0) / np.maximum(ref.canonical_var, 1e-12)).mean())
    gen_va = [_speed_acceleration(c.landmarks, fps) for c in gen if len(c) >= 3]
    ratio = lambda g, r: g / max(r, 1e-12) if np.isfinite(g) and np.isfinite(r) else float("nan")  # noqa: E731
    out["speed_ratio"] = ratio(_mean(_cat(v for v, _ in gen_va)), ref.speed)
    out["acceleration_ratio"] = ratio(_mean(_cat(a for _, a in gen_va)), ref.acceleration)
    for part, r in (("head", ref.head_speed), ("jaw", ref.jaw_speed)):
        g = _mean(_cat(angular_speed(getattr(c, part), fps) for c in gen))
        out[f"{part}_speed_deg_s"] = g
        out[f"{part}_speed_ratio"] = ratio(g, r)
    head = np.degrees(np.linalg.norm(np.concatenate([c.head for c in gen]), axis=-1))
    jaw = np.degrees(np.linalg.norm(np.concatenate([c.jaw for c in gen]), axis=-1))
    out["rotation_invalid"] = float(((head > MAX_HEAD_DEG) | (jaw > MAX_JAW_DEG)).mean())
    return out


def spectrum(signals: list[np.ndarray], fps: float) -> tuple[np.ndarray, np.ndarray]:
    """``(freqs, power)``: the Welch power spectrum of signals ``[(T_i, C)]`` (channels summed), averaged
    over signals weighted by their length (see the module docstring). Signals shorter than 8 frames
    are skipped; shorter than :data:`SPECTRUM_WINDOW`, one window of their length."""
    total, weight, freqs = None, 0.0, None
    for x in signals:
        x = np.asarray(x, np.float64).reshape(len(x), -1)
        if len(x) < 8 or not np.isfinite(x).all():
            continue
        f, p = welch(x, fs=fps, window="hann", nperseg=min(SPECTRUM_WINDOW, len(x)), nfft=SPECTRUM_NFFT,
                     detrend="linear", axis=0)
        p = p.sum(1)
        total = p * len(x) if total is None else total + p * len(x)
        weight += len(x)
        freqs = f
    if total is None:
        f = np.fft.rfftfreq(SPECTRUM_NFFT, 1.0 / fps)
        return f, np.full(len(f), np.nan)
    return freqs, total / weight


def band_shares(freqs: np.ndarray, power: np.ndarray, bands=BANDS) -> dict[str, float]:
    """Share of the power in ``bands`` (of the power from the first band's start to the last's end);
    keys like ``"3-6Hz"``."""
    lo, hi = bands[0][0], bands[-1][1]
    inside = (freqs >= lo) & (freqs < hi)
    total = power[inside].sum()
    return {f"{a:g}-{b:g}Hz": float(power[(freqs >= a) & (freqs < b)].sum() / total) if total > 0 else float("nan")
            for a, b in bands}


def dominant_frequency(freqs: np.ndarray, power: np.ndarray, low: float = 1.0, high: float = 15.0) -> float:
    """The frequency (Hz) of the highest local maximum of the spectrum in ``[low, high)`` (the tail of
    slower motion leaking past ``low`` is not a maximum), refined by a parabola through the peak bin and
    its neighbours (log power); NaN without a peak."""
    p = np.asarray(power, np.float64)
    if not np.isfinite(p).all():
        return float("nan")
    i = np.arange(1, len(p) - 1)
    peaks = i[(p[i] > p[i - 1]) & (p[i] >= p[i + 1]) & (freqs[i] >= low) & (freqs[i] < high) & (p[i] > 0)]
    if not len(peaks):
        return float("nan")
    k = peaks[np.argmax(p[peaks])]
    shift = 0.0
    if (p[k - 1:k + 2] > 0).all():
        a, b, c = np.log(p[k - 1:k + 2])
        denom = a - 2 * b + c
        shift = 0.5 * (a - c) / denom if denom < 0 else 0.0
    return float(freqs[k] + shift * (freqs[1] - freqs[0]))
