"""The field's standard rate network: a leaky, noisy, continuous-time RNN cell,
optionally obeying Dale's law."""

from __future__ import annotations

from typing import Any, Callable, cast

import brainstate
import brainunit as u
import jax
import jax.numpy as jnp
import numpy as np

from .._checks import check_choice, check_int

__all__ = ["LeakyRNNCell"]

ACTIVATIONS: dict[str, Callable[[jax.Array], jax.Array]] = {
    "relu": jax.nn.relu, "softplus": jax.nn.softplus, "tanh": jnp.tanh}
REC_INITS = ("orthogonal", "identity", "normal")


def _alpha(alpha: float | None, tau: Any, dt: Any) -> float:
    """``alpha``, or ``dt / tau`` (``dt`` default: brainstate's environment)."""
    if alpha is not None and tau is not None:
        raise ValueError("give alpha or tau, not both.")
    if tau is not None:
        dt = brainstate.environ.get_dt() if dt is None else dt
        ratio = dt / tau
        if isinstance(ratio, u.Quantity):
            if not ratio.is_unitless:
                raise ValueError(f"dt / tau must be unitless, got dt={dt!r}, tau={tau!r}.")
            ratio = ratio.mantissa
        alpha = float(ratio)
    alpha = 0.2 if alpha is None else alpha
    if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or not 0 < alpha <= 1:
        raise ValueError(f"alpha (dt / tau) must lie in (0, 1], got {alpha!r}.")
    return float(alpha)


def _check_sigma(name: str, value: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= 0:
        raise ValueError(f"{name} must be a number >= 0, got {value!r}.")
    return float(value)


class LeakyRNNCell(brainstate.nn.Module):
    r"""A leaky continuous-time rate network, one Euler step per call.

    The rates ``r`` of ``n`` units follow
    ``tau dr/dt = -r + f(W_rec r + W_in x + b + noise)``, discretised with
    ``alpha = dt / tau`` (Song, Yang & Wang 2016; Yang et al. 2019):

    ``r_t = (1 - alpha) r_{t-1} + alpha f(r_{t-1} W_rec + (x_t + n_in) W_in + b + n_rec)``,

    with ``n_rec = sqrt(2 / alpha) sigma_rec xi`` and ``n_in = sqrt(2 / alpha)
    sigma_in xi'`` (``xi, xi'`` standard normal, new every step and trial): the
    discrete form of white noise of standard deviation ``sigma`` in the
    continuous equation. Yang et al. 2019 use ``alpha = 0.2`` (20 ms steps,
    tau 100 ms), softplus, ``sigma_rec = 0.05`` and ``sigma_in = 0.01``.

    **Noise is drawn while training only**: the :class:`braintask.Trainer`
    runs its training programs with ``brainstate.environ`` ``fit=True`` and
    its evaluations, predictions and recordings with ``fit=False`` (the flag
    brainstate's own dropout reads), so held-out scores and the analysis of a
    trained network see its deterministic dynamics. ``eval_noise=True`` draws
    noise in evaluation too. Outside a Trainer, noise is drawn only inside
    ``brainstate.environ.context(fit=True)``. Every setting is fixed when the
    cell is built (compiled programs have it baked in): setting one raises.

    **Dale's law** (``dale=True``): the first ``round(exc_fraction * n)`` units
    are excitatory, the rest inhibitory. The recurrent weights are
    ``|W_raw| * s`` with ``s`` the presynaptic unit's sign (+1 E, -1 I), and the
    input weights ``|W_in_raw|`` (inputs excite), so every sign holds exactly
    through any training; the cell's output (what a readout sees) is the rates
    of the excitatory units only. The initial recurrent weights are balanced
    (each unit's summed inhibition equals its summed excitation) and scaled to
    spectral radius ``rec_gain``.

    Parameters
    ----------
    num_in, num_out : int
        Inputs ``F`` and units ``n``.
    alpha : float, optional
        ``dt / tau`` in (0, 1]; default 0.2 (or from ``tau``).
    tau : float or brainunit.Quantity, optional
        The time constant, with ``dt`` (default ``brainstate.environ.get_dt()``):
        ``alpha = dt / tau``, e.g. ``tau=100 * u.ms`` at ``dt=20 * u.ms``.
    activation : str or callable
        ``"relu"`` (default), ``"softplus"``, ``"tanh"``, or a function.
    sigma_rec, sigma_in : float
        Recurrent and input noise, >= 0 (default 0).
    rec_init : str
        ``"orthogonal"`` (default), ``"identity"``, or ``"normal"`` (Gaussian of
        spectral radius about ``rec_gain``); with ``dale=True`` the balanced
        initialisation above.
    rec_gain : float
        Scale of the recurrent initialisation (orthogonal: the matrix times it;
        identity: the diagonal value; normal and Dale: the spectral radius).
    dale : bool
        Sign-constrained excitatory and inhibitory units.
    exc_fraction : float
        With ``dale=True``, the fraction of excitatory units (default 0.8).
    eval_noise : bool
        Draw noise in evaluation and analysis as well (default False).

    Attributes
    ----------
    r : brainstate.HiddenState
        The rates ``(B, n)``.

    Examples
    --------
    >>> import brainstate, braintask, jax.numpy as jnp
    >>> brainstate.random.seed(0)
    >>> cell = braintask.LeakyRNNCell(3, 10, alpha=0.2, dale=True, sigma_rec=0.05)
    >>> net = braintask.RecurrentClassifier(cell, n_output=2, per_step=True)
    >>> cell.out_size, int(cell.signs.sum())  # the readout sees the 8 E units
    ((8,), 6)
    >>> braintask.batch_hidden_states(net, 4)
    >>> net(jnp.ones((5, 4, 3))).shape
    (5, 4, 2)
    >>> w = cell.recurrent_weights()  # rows: the sending unit, E first
    >>> bool((w[:8] >= 0).all() & (w[8:] <= 0).all())
    True
    """

    _FIXED = ("alpha", "activation", "dale", "exc_fraction", "num_in", "num_out", "eval_noise",
              "sigma_rec", "sigma_in")
    # the fixed settings, set once by __init__ (object.__setattr__)
    num_in: int
    num_out: int
    alpha: float
    activation: Callable[[jax.Array], jax.Array]
    dale: bool
    exc_fraction: float
    eval_noise: bool
    sigma_rec: float
    sigma_in: float

    def __init__(self, num_in: int, num_out: int, *, alpha: float | None = None,
                 tau: Any = None, dt: Any = None, activation: str | Callable = "relu",
                 sigma_rec: float = 0.0, sigma_in: float = 0.0, rec_init: str = "orthogonal",
                 rec_gain: float = 1.0, dale: bool = False, exc_fraction: float = 0.8,
                 eval_noise: bool = False, name: str | None = None) -> None:
        # brainstate defines Module.__init__ only when not TYPE_CHECKING
        super().__init__(name=name)  # type: ignore[call-arg]
        n_in, n = check_int("num_in", num_in, 1), check_int("num_out", num_out, 1)
        act = ACTIVATIONS[check_choice("activation", activation, tuple(ACTIVATIONS))] \
            if isinstance(activation, str) else activation
        if not callable(act):
            raise TypeError(f"activation must be one of {tuple(ACTIVATIONS)} or a callable, "
                            f"got {activation!r}.")
        rec_init = check_choice("rec_init", rec_init, REC_INITS)
        if isinstance(rec_gain, bool) or not isinstance(rec_gain, (int, float)) or rec_gain <= 0:
            raise ValueError(f"rec_gain must be a number > 0, got {rec_gain!r}.")
        n_exc = None
        if dale:
            if not isinstance(exc_fraction, (int, float)) or not 0 < exc_fraction < 1:
                raise ValueError(f"exc_fraction must lie in (0, 1), got {exc_fraction!r}.")
            n_exc = int(round(exc_fraction * n))
            if not 1 <= n_exc <= n - 1:
                raise ValueError(f"dale=True needs excitatory and inhibitory units: "
                                 f"exc_fraction={exc_fraction} of {n} units gives {n_exc} E.")
        settings = dict(num_in=n_in, num_out=n, alpha=_alpha(alpha, tau, dt), activation=act,
                        dale=bool(dale), exc_fraction=float(exc_fraction),
                        eval_noise=bool(eval_noise),
                        sigma_rec=_check_sigma("sigma_rec", sigma_rec),
                        sigma_in=_check_sigma("sigma_in", sigma_in))
        for key, value in settings.items():
            object.__setattr__(self, key, value)
        self.in_size = (n_in,)
        self.out_size = (n if n_exc is None else n_exc,)
        self.n_exc = n_exc
        scale = 1.0 / np.sqrt(n_in)
        self.w_in = brainstate.ParamState(brainstate.random.normal(0.0, scale, (n_in, n)))
        self.w_rec = brainstate.ParamState(self._initial_recurrent(n, rec_init, float(rec_gain)))
        self.b = brainstate.ParamState(jnp.zeros(n))

    def __setattr__(self, key: str, value: Any) -> None:
        if key in self._FIXED and key in self.__dict__:
            raise AttributeError(
                f"LeakyRNNCell.{key} is fixed when the cell is built (compiled programs "
                f"have it baked in): build a new cell (noise is off in evaluation anyway).")
        super().__setattr__(key, value)

    @property
    def signs(self) -> np.ndarray | None:
        """``(n,)``: +1 for excitatory, -1 for inhibitory units (None without Dale)."""
        if self.n_exc is None:
            return None
        return np.where(np.arange(self.num_out) < self.n_exc, 1.0, -1.0)

    def _initial_recurrent(self, n: int, rec_init: str, gain: float) -> jax.Array:
        if self.signs is not None:  # balanced E/I, then the spectral radius
            w = np.abs(np.asarray(brainstate.random.normal(0.0, 1.0, (n, n))))
            w[self.n_exc:] *= w[:self.n_exc].sum(axis=0) / w[self.n_exc:].sum(axis=0)
            signed = w * self.signs[:, None]
            radius = np.max(np.abs(np.linalg.eigvals(signed)))
            return jnp.asarray(w * gain / radius)
        if rec_init == "identity":
            return gain * jnp.eye(n)
        if rec_init == "normal":
            return brainstate.random.normal(0.0, gain / np.sqrt(n), (n, n))
        q, r = np.linalg.qr(np.asarray(brainstate.random.normal(0.0, 1.0, (n, n))))
        return jnp.asarray(gain * q * np.sign(np.diag(r)))  # uniform over orthogonal matrices

    def recurrent_weights(self) -> jax.Array:
        """The effective ``(n, n)`` recurrent matrix, presynaptic units along rows."""
        w = self.w_rec.value
        return w if self.signs is None else jnp.abs(w) * jnp.asarray(self.signs)[:, None]

    def input_weights(self) -> jax.Array:
        """The effective ``(F, n)`` input matrix (non-negative with Dale's law)."""
        w = self.w_in.value
        return w if self.signs is None else jnp.abs(w)

    def init_state(self, batch_size: int | None = None, **kwargs: Any) -> None:
        shape = (self.num_out,) if batch_size is None else (batch_size, self.num_out)
        self.r = brainstate.HiddenState(jnp.zeros(shape))

    def reset_state(self, batch_size: int | None = None, **kwargs: Any) -> None:
        shape = (self.num_out,) if batch_size is None else (batch_size, self.num_out)
        self.r.value = jnp.zeros(shape)

    def noisy(self) -> bool:
        """Whether this call draws noise: while training (``fit=True``), or always
        with ``eval_noise``."""
        return self.eval_noise or bool(brainstate.environ.get("fit", False))

    def update(self, x: jax.Array) -> jax.Array:
        r = cast(jax.Array, self.r.value)  # a State's value is typed as any array-like
        drive = self.b.value
        if self.noisy():
            scale = np.sqrt(2.0 / self.alpha)
            if self.sigma_in:  # no noise level, no random numbers drawn
                x = x + scale * self.sigma_in * brainstate.random.randn(*x.shape)
            if self.sigma_rec:
                drive = drive + scale * self.sigma_rec * brainstate.random.randn(*r.shape)
        pre = r @ self.recurrent_weights() + x @ self.input_weights() + drive
        r = (1.0 - self.alpha) * r + self.alpha * self.activation(pre)
        self.r.value = r
        return r if self.signs is None else r[..., :self.n_exc]
