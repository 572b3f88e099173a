"""Procedural facial motion: head rotation and sway, speech-like jaw, emotion episodes, blinks,
gaze - as FLAME parameters of one identity over time, in the world (FLAME) frame.

All processes are generated at the capture frame rate from a numpy Generator, so a sequence is a
pure function of its seed. Angles are radians; the head pose is FLAME's global rotation (about the
root joint) plus a translation in metres; the neck stays at zero as in DECA/NeuFace annotations.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from annotator.synthetic.expressions import EMOTIONS, INTENSITY, ExpressionDirections

__all__ = ["MotionStyle", "STYLES", "Motion", "generate_motion", "sample_shape"]


@dataclass(frozen=True)
class MotionStyle:
    """Statistics of a domain's motion.

    Attributes:
        head_std_deg: stationary std of (yaw, pitch, roll) in degrees.
        head_max_deg: soft limits of (yaw, pitch, roll).
        head_tau: correlation time of the head process in seconds.
        sway_std_m: std of the head translation in metres.
        speaking: probability that a sequence has speech.
        single_emotion: MEAD-like (one emotion and level per sequence) vs episodes of varied emotions.
        blink_rate_hz: mean blinks per second.
        saccade_rate_hz: mean gaze shifts per second.
        gaze_std_deg: std of gaze targets (yaw, pitch).
        expression_noise: std of slow expression drift (expression units).
    """

    head_std_deg: tuple[float, float, float]
    head_max_deg: tuple[float, float, float]
    head_tau: float
    sway_std_m: float
    speaking: float
    single_emotion: bool
    blink_rate_hz: float = 0.3
    saccade_rate_hz: float = 0.8
    gaze_std_deg: tuple[float, float] = (9.0, 5.0)
    expression_noise: float = 0.08


STYLES = {
    "lab": MotionStyle((6.0, 4.0, 2.5), (20.0, 12.0, 8.0), 1.2, 0.005, speaking=0.95, single_emotion=True),
    "wild": MotionStyle((24.0, 11.0, 6.0), (45.0, 25.0, 15.0), 1.6, 0.015, speaking=0.75, single_emotion=False,
                        blink_rate_hz=0.35, gaze_std_deg=(12.0, 7.0), expression_noise=0.12),
    "mocap": MotionStyle((2.0, 1.5, 1.0), (6.0, 5.0, 4.0), 1.0, 0.002, speaking=1.0, single_emotion=True,
                         blink_rate_hz=0.25),
}


@dataclass(frozen=True)
class Motion:
    """FLAME parameters of one sequence in the world frame.

    Attributes:
        shape: ``(n_shape,)``.
        expression: ``(T, n_exp)``.
        pose: ``(T, 15)`` axis-angle [global | neck | jaw | left eye | right eye]; global is the head
            rotation in the world (FLAME) frame.
        translation: ``(T, 3)`` metres, head translation in the world frame.
        fps: frames per second.
        metadata: emotion, intensity, speaking, counts of blinks and saccades...
    """

    shape: np.ndarray
    expression: np.ndarray
    pose: np.ndarray
    translation: np.ndarray
    fps: float
    metadata: dict = field(default_factory=dict)


def sample_shape(rng: np.random.Generator, n_shape: int, scale: float = 1.0, clip: float = 2.5) -> np.ndarray:
    """An identity from the model's prior: standard normal coefficients, clipped."""
    return np.clip(rng.standard_normal(n_shape) * scale, -clip, clip)


def _smooth_process(rng: np.random.Generator, n: int, fps: float, tau: float, std: float | np.ndarray,
                    dims: int = 1) -> np.ndarray:
    """A smooth stationary process: an Ornstein-Uhlenbeck process filtered twice (C1-smooth),
    rescaled to the requested standard deviation. ``(n, dims)``."""
    rho = np.exp(-1.0 / (fps * tau))
    burn = int(3 * tau * fps)
    x = np.zeros((n + burn, dims))
    e = rng.standard_normal((n + burn, dims)) * np.sqrt(1 - rho ** 2)
    for t in range(1, n + burn):
        x[t] = rho * x[t - 1] + e[t]
    for _ in range(2):  # two passes of an exponential smoother remove the OU kinks
        a = np.exp(-1.0 / (fps * tau * 0.25))
        for t in range(1, n + burn):
            x[t] = a * x[t - 1] + (1 - a) * x[t]
    x = x[burn:]
    x = (x - x.mean(0)) / np.maximum(x.std(0), 1e-9)
    return x * std


def _soft_clip(x: np.ndarray, limit: np.ndarray) -> np.ndarray:
    return limit * np.tanh(x / limit)


def _bump(n: int, start: float, duration: float, fps: float, attack: float = 0.5) -> np.ndarray:
    """A smooth 0 -> 1 -> 0 profile (raised cosines) starting at ``start`` seconds."""
    t = np.arange(n) / fps - start
    rise = max(duration * attack, 1e-3)
    fall = max(duration - rise, 1e-3)
    up = 0.5 - 0.5 * np.cos(np.pi * np.clip(t / rise, 0, 1))
    down = 0.5 + 0.5 * np.cos(np.pi * np.clip((t - rise) / fall, 0, 1))
    return np.where(t < rise, up, down) * ((t >= 0) & (t <= duration))


def _speech(rng: np.random.Generator, n: int, fps: float) -> tuple[np.ndarray, np.ndarray, int]:
    """Jaw opening (radians) and a viseme weight in [-1, 1] (round < 0 < spread) from phrases of
    syllables at about 4.5 Hz separated by pauses. Returns (jaw, viseme, n_syllables)."""
    jaw = np.zeros(n)
    viseme = np.zeros(n)
    t, count = rng.uniform(0.0, 0.6), 0
    end = n / fps
    while t < end:
        phrase_end = t + rng.uniform(1.0, 3.5)
        while t < min(phrase_end, end):
            dur = rng.uniform(0.14, 0.32)
            amp = rng.uniform(0.05, 0.16) * (1.6 if rng.random() < 0.2 else 1.0)  # some stressed syllables
            b = _bump(n, t, dur * 1.3, fps, attack=0.45)
            jaw = np.maximum(jaw, amp * b)
            viseme += rng.uniform(-1, 1) * b
            t += dur
            count += 1
        t += rng.uniform(0.25, 1.2)  # pause
    return jaw, np.clip(viseme, -1, 1), count


def _blinks(rng: np.random.Generator, n: int, fps: float, rate: float) -> tuple[np.ndarray, int]:
    """Eyelid closure in [0, 1]: fast closing (~80 ms), brief hold, slower opening (~150 ms)."""
    closure = np.zeros(n)
    t = rng.exponential(1 / rate) * 0.5
    count = 0
    while t < n / fps:
        amp = 1.0 if rng.random() < 0.85 else rng.uniform(0.5, 0.9)
        closure = np.maximum(closure, amp * _bump(n, t, rng.uniform(0.22, 0.32), fps, attack=0.33))
        count += 1
        t += 0.4 + rng.exponential(1 / rate)
    return closure, count


def _gaze(rng: np.random.Generator, n: int, fps: float, rate: float, std_deg: tuple[float, float],
          head_yaw: np.ndarray, head_pitch: np.ndarray) -> tuple[np.ndarray, int]:
    """Eye (pitch, yaw) in radians: fixations joined by fast saccades (~40 ms), with a partial
    vestibulo-ocular counter-rotation of head motion around the fixation."""
    out = np.zeros((n, 2))
    target = np.zeros(2)
    t, count, i0 = 0.0, 0, 0
    std = np.deg2rad(np.asarray(std_deg))[::-1]  # (pitch, yaw)
    while i0 < n:
        t += rng.exponential(1 / rate) + 0.15
        i1 = min(n, int(t * fps))
        new = np.clip(rng.standard_normal(2) * std, -2.5 * std, 2.5 * std)
        ramp = max(1, int(round(0.04 * fps)))
        for i in range(i0, i1):
            w = min(1.0, (i - i0 + 1) / ramp)
            out[i] = target + w * (new - target)
        target, i0 = new, i1
        count += 1
    head = np.stack([head_pitch, head_yaw], 1)
    out -= 0.5 * (head - head.mean(0))  # eyes partly counter-rotate head motion
    return np.clip(out, -np.deg2rad(30), np.deg2rad(30)), count


def _episodes(rng: np.random.Generator, n: int, fps: float, directions: ExpressionDirections,
              single: bool) -> tuple[np.ndarray, dict]:
    """Expression over time from emotion episodes; returns ``(T, n_exp)`` and metadata."""
    n_exp = directions.blink.shape[0]
    expr = np.zeros((n, n_exp))
    if single:  # MEAD: one emotion and intensity per sequence, blended in at the start, breathing
        emotion = EMOTIONS[rng.integers(len(EMOTIONS))]
        level = int(rng.integers(1, 4))
        env = np.clip(0.85 + 0.15 * _smooth_process(rng, n, fps, 1.5, 1.0)[:, 0], 0.5, 1.0)
        env *= 0.5 - 0.5 * np.cos(np.pi * np.clip(np.arange(n) / (0.5 * fps), 0, 1))
        expr += np.outer(env * INTENSITY[level], directions.emotions[emotion])
        return expr, {"emotion": emotion, "level": level}
    t, names = 0.0, []
    while t < n / fps:
        emotion = EMOTIONS[rng.choice(len(EMOTIONS), p=[0.35, 0.06, 0.05, 0.06, 0.05, 0.25, 0.08, 0.10])]
        dur = rng.uniform(1.2, 4.0)
        scale = rng.uniform(0.3, 1.0)
        expr += np.outer(scale * _bump(n, t, dur, fps, attack=0.3), directions.emotions[emotion])
        names.append(emotion)
        t += dur * rng.uniform(0.6, 0.95)  # episodes overlap and cross-fade
    return expr, {"emotion": "mixed", "episodes": names}


def _axis_angle(yaw: np.ndarray, pitch: np.ndarray, roll: np.ndarray) -> np.ndarray:
    """``R = R_y(yaw) R_x(pitch) R_z(roll)`` as axis-angle ``(T, 3)`` (numpy, via scipy)."""
    from scipy.spatial.transform import Rotation

    return Rotation.from_euler("YXZ", np.stack([yaw, pitch, roll], 1)).as_rotvec()


def generate_motion(rng: np.random.Generator, n_frames: int, fps: float, style: MotionStyle, shape: np.ndarray,
                    directions: ExpressionDirections) -> Motion:
    """One sequence of procedural facial motion (see the module docstring)."""
    n = n_frames
    n_exp = directions.blink.shape[0]
    std = np.deg2rad(np.asarray(style.head_std_deg))
    lim = np.deg2rad(np.asarray(style.head_max_deg))
    raw = _smooth_process(rng, n, fps, style.head_tau, 1.0, dims=3)
    # mild cross-axis coupling, as in natural head motion (roll follows yaw; turns come with a nod)
    mix = np.array([[1.0, 0.15, 0.35], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]]) * rng.choice([-1.0, 1.0], size=3)[None]
    raw = raw @ mix
    head = _soft_clip(raw / raw.std(0) * std, lim)
    speaking = bool(rng.random() < style.speaking)
    if speaking:
        jaw, viseme, syllables = _speech(rng, n, fps)
        head[:, 1] += 0.12 * std[1] * (jaw - jaw.mean()) / max(jaw.std(), 1e-6)  # small nods with the syllables
    else:
        jaw, viseme, syllables = np.zeros(n), np.zeros(n), 0
    jaw = jaw + 0.015 + 0.01 * _smooth_process(rng, n, fps, 2.0, 1.0)[:, 0]
    expr, meta = _episodes(rng, n, fps, directions, style.single_emotion)
    k = min(10, n_exp)
    expr[:, :k] += _smooth_process(rng, n, fps, 0.8, style.expression_noise, dims=k)  # slow drift
    expr += np.outer(np.maximum(viseme, 0), directions.visemes["spread"]) * 0.5
    expr += np.outer(np.maximum(-viseme, 0), directions.visemes["round"]) * 0.5
    closure, blinks = _blinks(rng, n, fps, style.blink_rate_hz)
    expr += np.outer(closure, directions.blink)
    gaze, saccades = _gaze(rng, n, fps, style.saccade_rate_hz, style.gaze_std_deg, head[:, 0], head[:, 1])
    pose = np.zeros((n, 15))
    pose[:, 0:3] = _axis_angle(head[:, 0], head[:, 1], head[:, 2])
    pose[:, 6] = np.maximum(jaw, 0.0)
    pose[:, 7] = 0.02 * _smooth_process(rng, n, fps, 1.0, 1.0)[:, 0] * np.clip(jaw * 8, 0, 1)  # slight lateral jaw
    eyes = _axis_angle(gaze[:, 1], gaze[:, 0], np.zeros(n))
    pose[:, 9:12] = eyes
    pose[:, 12:15] = eyes
    translation = _smooth_process(rng, n, fps, style.head_tau * 1.5, style.sway_std_m, dims=3)
    meta.update({"speaking": speaking, "syllables": syllables, "blinks": blinks, "saccades": saccades})
    return Motion(shape=shape, expression=expr, pose=pose, translation=translation, fps=fps, metadata=meta)
