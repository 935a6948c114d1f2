"""Fixed and slow points of a one-step update ``h -> F(h, x)``, found by minimising
``q(h) = 0.5 * ||F(h, x) - h||^2`` from many starting states at once."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np
from numpy.typing import ArrayLike

from .arrays import check_array
from .._checks import check_int

__all__ = ["FixedPoints", "find_fixed_points"]


@dataclass(frozen=True, eq=False)
class FixedPoints:
    """Points where the update barely moves the state, and their linearisation.

    Attributes
    ----------
    points : numpy.ndarray
        ``(K, H)`` the minimisers reached from each of the ``K`` starting states.
    speeds : numpy.ndarray
        ``(K,)`` ``q(h) = 0.5 * ||F(h, x) - h||^2`` at each point: about 0 at a
        fixed point, small at a slow point.
    eigenvalues : numpy.ndarray
        ``(K, H)`` complex eigenvalues of the Jacobian ``dF/dh`` at each point,
        sorted by decreasing modulus. A point is stable when all have modulus < 1.
    unique : numpy.ndarray
        Indices into :attr:`points` of one representative per group of points
        closer than the merge tolerance (the slowest of the group), among the
        points no faster than ``max_speed``; slowest first.
    initial : numpy.ndarray
        ``(K, H)`` the starting states.
    """

    points: np.ndarray
    speeds: np.ndarray
    eigenvalues: np.ndarray
    unique: np.ndarray
    initial: np.ndarray

    @property
    def unique_points(self) -> np.ndarray:
        """``(M, H)`` the deduplicated points."""
        return self.points[self.unique]

    @property
    def unique_speeds(self) -> np.ndarray:
        """``(M,)`` their speeds ``q``."""
        return self.speeds[self.unique]

    @property
    def unique_eigenvalues(self) -> np.ndarray:
        """``(M, H)`` their Jacobian eigenvalues."""
        return self.eigenvalues[self.unique]

    @property
    def stable(self) -> np.ndarray:
        """``(K,)`` whether every eigenvalue has modulus < 1 (a discrete-time attractor)."""
        return np.abs(self.eigenvalues).max(axis=1) < 1


def _minimise(step: Callable, start: jax.Array, x: jax.Array | None, n_iter: int,
              tol: float) -> tuple[jax.Array, jax.Array, jax.Array]:
    """Levenberg-Marquardt on each point's residual ``r = F(h, x) - h``, all points
    in one batch: a damped Gauss-Newton step, kept only where it lowers ``q``
    (then the damping shrinks, else it grows). Stops early once every q < ``tol``."""
    one = lambda h: step(h, x) - h
    residuals = jax.vmap(one)
    jacobians = jax.vmap(jax.jacfwd(one))
    speeds = lambda h: 0.5 * jnp.sum(residuals(h) ** 2, axis=-1)
    eye = jnp.eye(start.shape[-1], dtype=start.dtype)

    def cond(carry: tuple) -> jax.Array:
        it, h, q, _ = carry
        return (it < n_iter) & (jnp.max(q) > tol)

    def body(carry: tuple) -> tuple:
        it, h, q, damping = carry
        r, jac = residuals(h), jacobians(h)
        jt = jnp.swapaxes(jac, 1, 2)
        normal = jt @ jac + damping[:, None, None] * eye
        trial = h - jnp.linalg.solve(normal, (jt @ r[..., None]))[..., 0]
        q_trial = speeds(trial)
        better = q_trial < q
        h = jnp.where(better[:, None], trial, h)
        damping = jnp.clip(jnp.where(better, damping / 3, damping * 4), 1e-9, 1e9)
        return it + 1, h, jnp.where(better, q_trial, q), damping

    carry = (0, start, speeds(start), jnp.ones(start.shape[:1], start.dtype))
    _, h, q, _ = jax.lax.while_loop(cond, body, carry)
    return h, q, jax.vmap(jax.jacfwd(lambda p: step(p, x)))(h)


def _deduplicate(points: np.ndarray, speeds: np.ndarray, keep: np.ndarray,
                 tol: float) -> np.ndarray:
    """Greedy merge: slowest first, a point joins the first kept point within ``tol``."""
    chosen: list[int] = []
    for i in np.argsort(speeds, kind="stable"):
        if not keep[i]:
            continue
        if chosen and np.min(np.linalg.norm(points[chosen] - points[i], axis=1)) <= tol:
            continue
        chosen.append(int(i))
    return np.asarray(chosen, dtype=np.int64)


def _starts(rows: np.ndarray, n_starts: int | None, noise: Any, seed: int) -> jax.Array:
    """A random subset of the candidate rows, with Gaussian noise added."""
    rng = np.random.default_rng(check_int("seed", seed, 0))
    if n_starts is not None:
        n_starts = check_int("n_starts", n_starts, 1)
        if n_starts > len(rows):
            raise ValueError(f"n_starts={n_starts} exceeds the {len(rows)} candidate states "
                             f"in initial.")
        rows = rows[np.sort(rng.choice(len(rows), n_starts, replace=False))]
    if not (isinstance(noise, (int, float)) and np.isfinite(noise) and noise >= 0):
        raise ValueError(f"noise must be a finite standard deviation >= 0, got {noise!r}.")
    if noise > 0:
        rows = rows + noise * rng.standard_normal(rows.shape)
    return jnp.asarray(rows)


def find_fixed_points(step: Callable, initial: ArrayLike, inputs: ArrayLike | None = None, *,
                      n_starts: int | None = None,
                      noise: float = 0.0, seed: int = 0, n_iter: int = 200,
                      tol: float = 1e-14, merge_tol: float = 1e-3,
                      max_speed: float | None = None) -> FixedPoints:
    """Fixed and slow points of a discrete-time update, with their Jacobians' eigenvalues.

    Minimises ``q(h) = 0.5 * ||F(h, x) - h||^2`` over ``h`` for a constant input
    ``x``, from every starting state at once, in one compiled loop:
    Levenberg-Marquardt steps on the residual ``F(h, x) - h``, with the
    Jacobians from JAX. Each step solves ``(J^T J + mu I) dh = -J^T r`` per
    point (``J = dF/dh - I``) and is kept only if it lowers that point's
    ``q``; the damping ``mu`` shrinks after a kept step and grows otherwise.
    Minima with ``q = 0`` are fixed points (reached at a quadratic rate);
    small non-zero minima are slow points.

    Parameters
    ----------
    step : callable
        ``step(h, x) -> h_next`` for one unbatched state ``h`` ``(H,)``, a pure
        JAX function (e.g. :func:`braintask.step_function` of a trained model,
        or a hand-written map).
    initial : array
        Candidate starting states ``(..., H)``, finite: e.g. recorded
        trajectories ``(N, T, H)`` (:attr:`braintask.Trajectories.states`, whose
        layout matches :func:`braintask.step_function`'s), flattened to rows.
    inputs : array, optional
        The constant input ``x`` passed to ``step`` (``(F,)``); None passes None
        (a :func:`braintask.step_function` reads it as zero input).
    n_starts : int, optional
        Start from this many rows of ``initial`` drawn at random without
        replacement (all rows by default).
    noise : float
        Standard deviation of Gaussian noise added to every start, >= 0
        (spreads starts drawn from a few trajectories). Default 0.
    seed : int
        Seeds the draw and the noise. Default 0.
    n_iter : int
        Maximum steps, >= 1. Default 200.
    tol : float
        Stop early once every point's ``q`` is below it. Default 1e-14.
    merge_tol : float
        Points closer than this (Euclidean) are merged in ``unique``. Default 1e-3.
    max_speed : float, optional
        Only points with ``q <= max_speed`` enter ``unique`` (e.g. 1e-8 for
        fixed points alone); all of them by default.

    Returns
    -------
    FixedPoints
        ``points``, ``speeds``, ``eigenvalues``, ``unique`` (indices), and
        ``unique_points`` etc. for the deduplicated set.

    Examples
    --------
    A linear map ``h -> A h + b`` has one fixed point, ``(I - A)^-1 b``, and the
    eigenvalues of ``A``:

    >>> import numpy as np, braintask
    >>> A = np.array([[0.5, 0.2], [0.0, 0.8]]); b = np.array([2.0, -1.0])
    >>> found = braintask.find_fixed_points(lambda h, x: A @ h + b, np.zeros((4, 2)))
    >>> exact = np.linalg.solve(np.eye(2) - A, b)
    >>> found.unique_points.round(3).tolist(), exact.round(3).tolist()
    ([[2.0, -5.0]], [2.0, -5.0])
    >>> found.unique_eigenvalues.real.round(3).tolist()
    [[0.8, 0.5]]
    """
    if not callable(step):
        raise TypeError(f"step must be a callable step(h, x) -> h_next, got "
                        f"{type(step).__name__}.")
    initial = check_array("initial", initial, tuple(range(1, 8)), "starting states (..., H)")
    start = _starts(initial.reshape(-1, initial.shape[-1]), n_starts, noise, seed)
    x = None if inputs is None else jnp.asarray(
        check_array("inputs", inputs, (0, 1, 2), "a constant input x (F,)"), start.dtype)
    n_iter = check_int("n_iter", n_iter, 1)
    for name, value in [("merge_tol", merge_tol), ("tol", tol)]:
        if not (isinstance(value, (int, float)) and np.isfinite(value) and value >= 0):
            raise ValueError(f"{name} must be a finite number >= 0, got {value!r}.")
    probe = jax.eval_shape(lambda h: step(h, x), start[0])
    if getattr(probe, "shape", None) != start.shape[1:]:
        raise ValueError(f"step(h, x) must return a state of the same shape as h "
                         f"{tuple(start.shape[1:])}, got {getattr(probe, 'shape', probe)}.")
    # compiled afresh on every call: the step's weights enter as constants, and a model
    # trained further since the last call must not reuse the old ones
    run = jax.jit(lambda h, inp, limit: _minimise(step, h, inp, n_iter, limit))
    points, speeds, jac = (np.asarray(a) for a in run(start, x, tol))
    if not np.all(np.isfinite(speeds)):
        raise ValueError(f"step(h, x) gives NaN or inf at {int(np.sum(~np.isfinite(speeds)))} "
                         f"of {len(speeds)} starting states: start where the update is finite.")
    eig: np.ndarray = np.linalg.eigvals(jac.astype(np.float64))
    eig = np.take_along_axis(eig, np.argsort(-np.abs(eig), axis=1, kind="stable"), axis=1)
    keep = np.ones(len(speeds), bool) if max_speed is None else speeds <= max_speed
    unique = _deduplicate(points, speeds, keep, float(merge_tol))
    return FixedPoints(points, speeds, eig, unique, np.asarray(start))
