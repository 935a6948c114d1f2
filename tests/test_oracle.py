"""An independent oracle for the training update.

The other exactness tests compare braintask with itself (resume vs straight run,
copies vs single runs, fused vs step mode), so a change to the shared update
arithmetic passes them all. Here a small training loop written from scratch in
pure JAX and optax, without braintask's engine, trains the same vanilla RNN
(``RecurrentClassifier(ValinaRNNCell)``: ``h = tanh([x, h] @ W + b)``, a linear
readout) from the same initial weights on the same minibatches with the same
loss, and one :class:`braintask.Trainer` fit and one
:class:`braintask.MultiSeedTrainer` copy must agree with it.

What the oracle writes out itself:

- the shuffle: ``numpy.random.default_rng([seed, epoch]).permutation(n)`` cut
  into consecutive minibatches, the trials left over forming one smaller last
  minibatch (``drop_last=False``). This is the rule the Trainer documents
  ("a generator seeded by ``(seed, epoch)``"), reimplemented here, not imported
  from ``braintask._engine.feed.epoch_order``;
- the network's forward pass, from the weights read out of the brainstate module;
- the loss: softmax cross-entropy from ``logsumexp``, a mean over the trials, or
  for per-step targets weighted by the dataset's step weights times its mask and
  divided by their sum; an epoch's ``train_loss`` is the minibatch losses
  weighted by those sums (trials, or step weights);
- the optimizer: ``optax.sgd``, and ``optax.chain(clip_by_global_norm, adam)``
  for ``braintools.optim.Adam(lr, grad_clip_norm=...)``, with a clipping bound
  that some steps exceed and some do not (checked).

Braintask is used only to make the trials (a hand-made :class:`TaskDataset` and
:func:`delayed_match_source`) and the model whose initial weights the oracle reads.
The oracle's program is compiled on its own, so it agrees with the Trainer to
rounding (1e-6 here over three epochs), not bit for bit. Copy and single run
share their program, and under SGD must agree bit for bit as the MultiSeedTrainer
docstring promises: weights and training metrics. (Two exceptions seen, both last-bit
rounding of the compiled copies: their held-out metrics, 1 ulp apart even where the
weights are identical; and SGD with ``grad_clip_norm``, about 6e-8 apart on the
weights after three epochs here. So the held-out metrics are compared to 3e-7, and
the clipped run is checked against the oracle only.)
"""

import brainstate
import braintools
import jax
import jax.numpy as jnp
import numpy as np
import optax

import braintask
from helpers import assert_copy_equals_single

HIDDEN = 8
EPOCHS = 3
BATCH = 8
# oracle vs braintask: two separately compiled programs, rounding apart
ORACLE_TOL = dict(rtol=1e-5, atol=1e-6)


# ---------------------------------------------------------------------------- the model
def build_rnn(n_input, n_output, per_step):
    return braintask.RecurrentClassifier(
        brainstate.nn.ValinaRNNCell(n_input, HIDDEN, activation="tanh"), n_output,
        per_step=per_step)


def read_weights(net) -> dict:
    """The module's weights as plain arrays: the recurrent layer acts on ``[x, h]``."""
    params = {path: s.value for path, s in net.states(brainstate.ParamState).items()}
    cell, readout = params[("cell", "W", "weight")], params[("readout", "weight")]
    return {"W": np.array(cell["weight"]), "b": np.array(cell["bias"]),
            "R": np.array(readout["weight"]), "r": np.array(readout["bias"])}


def rnn_logits(p, x, per_step):
    """``(T, B, F)`` inputs: ``(T, B, C)`` logits per step, or ``(B, C)`` at the end."""
    def step(h, xt):
        h = jnp.tanh(jnp.concatenate([xt, h], axis=-1) @ p["W"] + p["b"])
        return h, h

    h0 = jnp.zeros((x.shape[1], p["b"].shape[0]), x.dtype)
    _, hs = jax.lax.scan(step, h0, x)
    return (hs if per_step else hs[-1]) @ p["R"] + p["r"]


def oracle_loss(p, x, y, w, per_step):
    """Cross-entropy: mean over trials, or weighted by ``w`` (step weight x mask) per step."""
    z = rnn_logits(p, x, per_step)
    ce = jax.nn.logsumexp(z, axis=-1) - jnp.take_along_axis(z, y[..., None], axis=-1)[..., 0]
    if not per_step:
        return jnp.mean(ce)
    return jnp.sum(ce * w) / jnp.maximum(jnp.sum(w), 1.0)


# ---------------------------------------------------------------------------- the data
def shuffle(seed, epoch, n, batch):
    """The epoch's minibatches: consecutive slices of one seeded permutation, the
    trials left over forming a smaller last one (``drop_last=False``)."""
    perm = np.random.default_rng([seed, epoch]).permutation(n)
    return [perm[i:i + batch] for i in range(0, n, batch)]


def time_major(data, index):
    """``(x, y, w)`` of trials ``index``: float32 ``(T, B, F)`` inputs, int labels
    and the loss weights (step weights x mask per step; one per trial otherwise)."""
    x = np.asarray(data.inputs[index], np.float32).swapaxes(0, 1)
    if not data.per_step:
        return x, np.asarray(data.targets[index], np.int32), np.ones(len(index), np.float32)
    w = np.asarray(data.weights[index] * data.mask[index], np.float32).swapaxes(0, 1)
    return x, np.asarray(data.targets[index], np.int32).swapaxes(0, 1), w


def oracle_fit(p0, tx, trials, seed, test, *, per_step, clip=None):
    """Train ``EPOCHS`` epochs on ``trials(epoch)``: the final weights, each epoch's
    train loss (minibatch losses weighted by their summed loss weights), test loss
    and updates so far, the untrained test loss, and every step's gradient norm."""
    loss = jax.jit(oracle_loss, static_argnums=4)

    @jax.jit
    def step(p, state, x, y, w):
        value, grads = jax.value_and_grad(oracle_loss)(p, x, y, w, per_step)
        updates, state = tx.update(grads, state, p)
        return optax.apply_updates(p, updates), state, value, optax.global_norm(grads)

    p = jax.tree.map(jnp.asarray, p0)
    state = tx.init(p)
    held = time_major(test, np.arange(test.n_samples))
    out = {"initial_test_loss": float(loss(p, *held, per_step)),
           "train_loss": [], "test_loss": [], "updates": [], "norms": []}
    for epoch in range(EPOCHS):
        data = trials(epoch)
        total = weight = 0.0
        for index in shuffle(seed, epoch, data.n_samples, BATCH):
            x, y, w = time_major(data, index)
            p, state, value, norm = step(p, state, x, y, w)
            total += float(value) * float(w.sum())
            weight += float(w.sum())
            out["norms"].append(float(norm))
        out["train_loss"].append(total / weight)
        out["test_loss"].append(float(loss(p, *held, per_step)))
        out["updates"].append(len(out["norms"]))
    out["weights"] = {k: np.asarray(v) for k, v in p.items()}
    if clip is not None:  # the clipping is exercised both ways: some steps clipped, some not
        norms = np.array(out["norms"])
        assert (norms > clip).any() and (norms < clip).any(), norms
    return out


def per_step_task(n, seed, n_input=3, n_classes=3, seq_len=7):
    """Per-step labels with a mask that drops about a fifth of the steps and uneven
    step weights: the loss weighting decides the gradient."""
    rng = np.random.default_rng(seed)
    return braintask.TaskDataset(
        rng.normal(size=(n, seq_len, n_input)), rng.integers(0, n_classes, size=(n, seq_len)),
        n_classes, mask=rng.random((n, seq_len)) < 0.8,
        weights=rng.uniform(0.2, 3.0, size=(n, seq_len)))


# ---------------------------------------------------------------------------- checks
def assert_matches_oracle(history, net, oracle, who):
    assert history.updates == oracle["updates"], who
    np.testing.assert_allclose(history.train_loss, oracle["train_loss"], **ORACLE_TOL,
                               err_msg=f"{who}: train_loss per epoch")
    np.testing.assert_allclose(history.test_loss, oracle["test_loss"], **ORACLE_TOL,
                               err_msg=f"{who}: test_loss per epoch")
    np.testing.assert_allclose(history.initial["test_loss"], oracle["initial_test_loss"],
                               **ORACLE_TOL, err_msg=f"{who}: untrained test_loss")
    got = read_weights(net)
    for k in got:
        np.testing.assert_allclose(got[k], oracle["weights"][k], **ORACLE_TOL,
                                   err_msg=f"{who}: weight {k}")


def fit(build, build_optimizer, seed, phases, test, *, copy_with=None):
    """A Trainer run seeded ``seed``, fitted on each ``(train, epochs)`` of ``phases``
    in turn (the trials left over forming a smaller last minibatch), and with
    ``copy_with`` a MultiSeedTrainer over ``[seed, copy_with]`` fitted alike:
    ``(initial weights, trainer, the copy of seed ``seed`` or None)``."""
    brainstate.random.seed(seed)
    net = build()
    p0 = read_weights(net)
    trainer = braintask.Trainer(net, build_optimizer(), batch_size=BATCH, seed=seed,
                                drop_last=False, progress=False)
    for train, epochs in phases:
        trainer.fit(train, test, epochs=epochs)
    if copy_with is None:
        return p0, trainer, None
    grid = braintask.MultiSeedTrainer(build, build_optimizer, seeds=[seed, copy_with],
                                      batch_size=BATCH, drop_last=False, progress=False)
    for train, epochs in phases:
        grid.fit(train, test, epochs=epochs)
    assert grid.copies[0]["seed"] == seed
    return p0, trainer, grid.trainers[0]


def test_sgd_on_weighted_per_step_targets_matches_the_oracle():
    """Per-step labels with a mask and uneven step weights, SGD, a smaller last
    minibatch: two epochs on a fixed dataset, then a third on fresh trials from a
    :class:`TrialSource` (of the same shape: the same compiled programs)."""
    fixed, test = per_step_task(44, seed=1), per_step_task(20, seed=2)
    source = braintask.TrialSource(lambda epoch: per_step_task(44, seed=100 + epoch), 44)
    lr, seed = 0.2, 3

    def build():
        return build_rnn(3, 3, per_step=True)

    p0, trainer, copy = fit(build, lambda: braintools.optim.SGD(lr=lr), seed,
                            [(fixed, 2), (source, 1)], test, copy_with=1)
    # the source's epoch 2 (the Trainer's third) trains on source.trials(2)
    oracle = oracle_fit(p0, optax.sgd(lr), lambda epoch: fixed if epoch < 2 else
                        source.trials(epoch), seed, test, per_step=True)
    assert_matches_oracle(trainer.history, trainer.model, oracle, "Trainer")
    assert_matches_oracle(copy.history, copy.model, oracle, "MultiSeedTrainer copy")
    # the copy and its single run: bit for bit under SGD (held-out metrics to 3e-7)
    assert_copy_equals_single(copy, trainer, exact=True)


def test_adam_with_clipping_on_fresh_trials_matches_the_oracle():
    """A fresh-trial source (new delayed match-to-sample trials every epoch), one
    label per trial, Adam with gradient clipping, a smaller last minibatch. (The
    copies of a MultiSeedTrainer are checked against this oracle under SGD above,
    and against single runs under Adam in test_ensemble.py.)"""
    source = braintask.delayed_match_source(36, seq_len=5, n_symbols=3, noise=0.1, seed=4)
    test = source.held_out(24, split="test")
    lr, clip, seed = 2e-2, 1.0, 2

    def build():
        return build_rnn(3, 2, per_step=False)

    p0, trainer, _ = fit(build, lambda: braintools.optim.Adam(lr=lr, grad_clip_norm=clip),
                         seed, [(source, EPOCHS)], test)
    oracle = oracle_fit(p0, optax.chain(optax.clip_by_global_norm(clip), optax.adam(lr)),
                        source.trials, seed, test, per_step=False, clip=clip)
    assert_matches_oracle(trainer.history, trainer.model, oracle, "Trainer")
