"""Bad input, as a table: every case names the argument and raises a specific error,
never a raw JAX or brainstate error from deep inside a compiled function."""

import brainstate
import braintools
import brainunit as u
import jax.numpy as jnp
import numpy as np
import pytest

import brainmass
import braintask

X = braintask.delayed_match_task(48, seq_len=5, n_symbols=2, seed=0)
TRAIN, TEST = X.split(32)


def horn(n_input=2, n_hidden=8):
    brainstate.random.seed(0)
    return brainmass.HORNSeqNetwork(n_input=n_input, n_hidden=n_hidden, n_output=2, alpha=0.2)


def trainer(**kw):
    kw = {"batch_size": 8, "progress": False, **kw}
    model = kw.pop("model", None) or horn()
    return braintask.Trainer(model, braintools.optim.Adam(lr=1e-2), **kw)


def fit(train=TRAIN, test=TEST, **kw):
    return lambda: trainer().fit(train, test, **{"epochs": 1, **kw})


class TimeSummed(brainstate.nn.Module):
    """Returns (T, B, C): not reduced over time, the wrong output for per-trial labels."""

    def __init__(self):
        super().__init__()
        self.w = brainstate.ParamState(jnp.ones((2, 2)))

    def update(self, x):
        return x @ self.w.value


class InHertz(TimeSummed):
    """(B, C) logits, but as a rate in Hz: logits must be unitless."""

    def update(self, x):
        return (x[-1] @ self.w.value) * u.Hz


class Weightless(brainstate.nn.Module):
    """Nothing to train."""

    def update(self, x):
        return x[-1]


def with_dt_unset():
    brainstate.environ.pop("dt")
    try:
        trainer().fit(TRAIN, TEST, epochs=1)
    finally:
        brainstate.environ.set(dt=1.0 * u.ms)


NAN_INPUTS = TRAIN.inputs.copy()
NAN_INPUTS[3, 2, 0] = np.nan
INF_INPUTS = TRAIN.inputs.copy()
INF_INPUTS[0, 0, 1] = np.inf

CASES = [
    # --- the dataset generator
    ("n_samples float", lambda: braintask.delayed_match_task(10.0), TypeError, "n_samples"),
    ("n_samples string", lambda: braintask.delayed_match_task("10"), TypeError, "n_samples"),
    ("n_samples None", lambda: braintask.delayed_match_task(None), TypeError, "n_samples"),
    ("n_samples numpy float", lambda: braintask.delayed_match_task(np.float64(8)), TypeError, "n_samples"),
    ("n_samples bool", lambda: braintask.delayed_match_task(True), TypeError, "n_samples"),
    ("n_samples zero", lambda: braintask.delayed_match_task(0), ValueError, "n_samples"),
    ("seq_len 1", lambda: braintask.delayed_match_task(8, seq_len=1), ValueError, "seq_len"),
    ("n_symbols 1", lambda: braintask.delayed_match_task(8, n_symbols=1), ValueError, "n_symbols"),
    ("negative noise", lambda: braintask.delayed_match_task(8, noise=-1.0), ValueError, "noise"),
    ("infinite noise", lambda: braintask.delayed_match_task(8, noise=np.inf), ValueError, "noise"),
    ("negative delay", lambda: braintask.delayed_match_task(8, delay=-2), ValueError, "delay"),
    ("negative seed", lambda: braintask.delayed_match_task(8, seed=-1), ValueError, "seed"),
    ("delay and seq_len disagree", lambda: braintask.delayed_match_task(8, delay=3, seq_len=4), ValueError,
     "contradicts delay"),
    ("split everything", lambda: X.split(48), ValueError, "n_train"),
    ("split fraction above 1", lambda: X.split(1.5), ValueError, "n_train"),
    ("split by string", lambda: X.split("half"), TypeError, "n_train"),
    # --- data given to fit
    ("empty training set", fit(train=(TRAIN.inputs[:0], TRAIN.targets[:0])), ValueError, "train is empty"),
    ("2-D inputs", fit(train=(TRAIN.inputs[:, 0], TRAIN.targets)), ValueError, "train inputs"),
    ("NaN in inputs", fit(train=(NAN_INPUTS, TRAIN.targets)), ValueError, "train inputs contain 1 NaN"),
    ("inf in inputs", fit(train=(INF_INPUTS, TRAIN.targets)), ValueError, "train inputs contain 1 NaN or inf"),
    ("string inputs", fit(train=(TRAIN.inputs.astype(str), TRAIN.targets)), TypeError, "train inputs must be numeric"),
    ("float labels", fit(train=(TRAIN.inputs, TRAIN.targets.astype(float))), TypeError, "train targets"),
    ("negative labels", fit(train=(TRAIN.inputs, TRAIN.targets - 1)), ValueError, "train targets must be >= 0"),
    ("labels beyond the outputs", fit(test=(TEST.inputs, TEST.targets * 2)), ValueError,
     r"test targets must lie in \[0, 2\)"),
    ("labels of the wrong length", fit(train=(TRAIN.inputs, TRAIN.targets[:-1])), ValueError, "train targets"),
    ("not a dataset", fit(train=TRAIN.inputs), TypeError, "train must be"),
    ("test of another width", fit(test=braintask.delayed_match_task(8, seq_len=5, n_symbols=3)), ValueError,
     r"test trials have shape \(T, F\) = \(5, 3\)"),
    ("input width not the model's", lambda: trainer(model=horn(n_input=3)).fit(TRAIN, epochs=1), ValueError,
     "2 input features"),
    ("output not (B, C)", lambda: trainer(model=TimeSummed()).fit(TRAIN, epochs=1), ValueError, r"\(B, C\) logits"),
    ("dt not set", with_dt_unset, RuntimeError, r"brainstate\.environ\.set\(dt="),
    ("batch larger than the data", lambda: trainer(batch_size=33).fit(TRAIN, epochs=1), ValueError,
     "batch_size=33 is larger"),
    # --- Trainer settings
    ("batch_size zero", lambda: trainer(batch_size=0), ValueError, "batch_size"),
    ("batch_size float", lambda: trainer(batch_size=8.0), TypeError, "batch_size"),
    ("batch_size None", lambda: trainer(batch_size=None), TypeError, "batch_size"),
    ("batch_size string", lambda: trainer(batch_size="8"), TypeError, "batch_size"),
    ("negative seed", lambda: trainer(seed=-3), ValueError, "seed"),
    ("unknown mode", lambda: trainer(mode="turbo"), ValueError, "mode"),
    ("loss not callable", lambda: trainer(loss="mse"), TypeError, "loss"),
    ("metric name taken", lambda: trainer(metrics={"acc": braintask.accuracy}), ValueError, "metric name 'acc'"),
    ("progress not a bool", lambda: trainer(progress="yes"), TypeError, "progress"),
    ("model not a module", lambda: braintask.Trainer(lambda x: x, braintools.optim.Adam(lr=1e-2), batch_size=8),
     TypeError, "model"),
    ("optimizer not an optimizer", lambda: braintask.Trainer(horn(), "adam", batch_size=8), TypeError, "optimizer"),
    ("devices not 'all'", lambda: trainer(devices="gpus"), ValueError, "devices"),
    ("epochs zero", fit(epochs=0), ValueError, "epochs"),
    ("epochs negative", fit(epochs=-5), ValueError, "epochs"),
    ("epochs float", fit(epochs=2.5), TypeError, "epochs"),
    ("epochs None", fit(epochs=None), TypeError, "epochs"),
    ("stop_at on a metric not recorded", fit(stop_at={"val_acc": 1.0}), ValueError, "stop_at key 'val_acc'"),
    ("stop_at a test metric without a test set", fit(test=None, stop_at={"test_acc": 1.0}), ValueError,
     "stop_at key 'test_acc'"),
    ("patience zero", fit(patience=0), ValueError, "patience"),
    ("monitor not recorded", fit(patience=2, monitor="accuracy"), ValueError, "monitor='accuracy'"),
    ("callback not callable", fit(callbacks=[1]), TypeError, "callbacks"),
    # --- History
    ("History column unknown", lambda: braintask.History(records=[{"epoch": 1}]).column("acc"), KeyError,
     "no metric 'acc'"),
    ("History attribute unknown", lambda: braintask.History(records=[{"epoch": 1}]).val_loss, AttributeError,
     "no metric 'val_loss'"),
    ("plot an empty History", lambda: braintask.History().plot(), ValueError, "History is empty"),
    ("best of an empty History", lambda: braintask.History().best(), ValueError, "History is empty"),
    # --- MultiSeedTrainer
    ("repeated seeds", lambda: braintask.MultiSeedTrainer(horn, lambda: braintools.optim.Adam(lr=1e-2),
                                                         seeds=[0, 0], batch_size=8), ValueError, "seeds"),
    ("seeds not a list", lambda: braintask.MultiSeedTrainer(horn, lambda: braintools.optim.Adam(lr=1e-2),
                                                           seeds=3, batch_size=8), TypeError, "seeds"),
    ("learning rates negative", lambda: braintask.MultiSeedTrainer(
        horn, lambda lr: braintools.optim.Adam(lr=lr), seeds=[0], lrs=[-1e-2], batch_size=8),
     ValueError, "lrs must hold positive numbers"),
    ("devices an empty list", lambda: braintask.MultiSeedTrainer(
        lambda: horn(), lambda: braintools.optim.Adam(lr=1e-2), seeds=[0], batch_size=8,
        devices=[]), TypeError, "devices"),
    # --- callbacks
    ("EarlyStopping patience zero", lambda: braintask.EarlyStopping(patience=0), ValueError, "patience"),
    ("EarlyStopping mode unknown", lambda: braintask.EarlyStopping(mode="lower"), ValueError,
     "mode must be one of"),
    ("EarlyStopping min_delta negative", lambda: braintask.EarlyStopping(min_delta=-1), ValueError,
     "min_delta"),
    ("EarlyStopping monitor not recorded", fit(callbacks=[braintask.EarlyStopping("val_loss")]),
     ValueError, "monitor='val_loss'"),
    ("StopAt not a dict", lambda: braintask.StopAt(["test_acc"]), TypeError, "targets"),
    ("StopAt mode unknown", lambda: braintask.StopAt({"test_acc": 1.0}, mode="up"), ValueError, "mode"),
    ("Checkpoint keep unknown", lambda: braintask.Checkpoint("c.msgpack", keep="all"), ValueError, "keep"),
    ("Checkpoint every zero", lambda: braintask.Checkpoint("c.msgpack", every=0), ValueError, "every"),
    ("Checkpoint path not a path", lambda: braintask.Checkpoint(3), TypeError, "path"),
    ("CSVLogger path not a path", lambda: braintask.CSVLogger(None), TypeError, "path"),
    ("callbacks a single object", fit(callbacks=braintask.EarlyStopping()), TypeError, "list"),
    ("default_mode of a number", lambda: braintask.default_mode(3), TypeError, "metric"),
    ("one model for all seeds", lambda: braintask.MultiSeedTrainer(
        lambda m=horn(): m, lambda: braintools.optim.Adam(lr=1e-2), seeds=[0, 1], batch_size=8),
     ValueError, "build_model must return a new model"),
    # --- fresh trials, step weights, the criterion
    ("source of the wrong shape", fit(train=braintask.TrialSource(
        lambda e: braintask.delayed_match_task(32, seq_len=5 + e, n_symbols=2, seed=e), 32),
        epochs=2), ValueError, "epoch 1 differ in layout.*seq_len"),
    ("source of another size", fit(train=braintask.TrialSource(
        lambda e: braintask.delayed_match_task(16, seq_len=5, n_symbols=2), 32)),
     ValueError, "16 trials for epoch 0"),
    ("source not a callable", lambda: braintask.TrialSource(TRAIN, 32), TypeError, "sample"),
    ("weights negative", lambda: braintask.TaskDataset(
        np.zeros((2, 3, 1)), np.zeros((2, 3), int), 2, weights=-np.ones((2, 3))),
     ValueError, "weights must be finite and >= 0"),
    ("weights NaN", lambda: braintask.TaskDataset(
        np.zeros((2, 3, 1)), np.zeros((2, 3), int), 2, weights=np.full((2, 3), np.nan)),
     ValueError, "weights must be finite and >= 0"),
    ("weights on per-trial labels", lambda: braintask.TaskDataset(
        np.zeros((2, 3, 1)), np.zeros(2, int), 2, weights=np.ones((2, 3))),
     ValueError, "needs per-step targets"),
    ("criterion on an unrecorded metric", fit(criterion=braintask.Criterion(
        "val_decision_acc", at_least=0.9)), ValueError, "val_decision_acc"),
    # --- the dry run of a model
    ("check_model: not a module", lambda: braintask.check_model(lambda x: x, TRAIN), TypeError,
     "model must be a brainstate.nn.Module"),
    ("check_model: batch_size zero", lambda: braintask.check_model(horn(), TRAIN, batch_size=0),
     ValueError, "batch_size"),
    ("check_model: not a dataset", lambda: braintask.check_model(horn(), TRAIN.inputs), TypeError,
     "data must be"),
    ("check_model: input width not the model's", lambda: braintask.check_model(
        horn(n_input=3), TRAIN), ValueError, r"\(T, B, F\) = \(5, 2, 2\): 2 input features"),
    ("check_model: output not (B, C)", lambda: braintask.check_model(TimeSummed(), TRAIN),
     ValueError, r"\(B, C\) logits"),
    ("check_model: outputs not the classes", lambda: braintask.check_model(
        brainmass.HORNSeqNetwork(n_input=2, n_hidden=4, n_output=3), TRAIN), ValueError,
     "n_classes=2: the model's readout must have exactly 2 outputs"),
    ("check_model: logits with units", lambda: braintask.check_model(InHertz(), TRAIN),
     ValueError, r"logits with units \(Hz\)"),
    ("check_model: no weights", lambda: braintask.check_model(Weightless(), TRAIN), ValueError,
     "no brainstate.ParamState weights"),
    # --- losses, sets, the leaky rate network and penalties
    ("loss per trial, not a mean", lambda: trainer(loss=lambda logits, labels: jnp.sum(
        logits, axis=-1)).fit(TRAIN, TEST, epochs=1), ValueError,
     r"returned an array of shape \(8,\); it must return one number"),
    ("val a list of sets", fit(val=[TEST, TEST]), TypeError, "val must be one set of trials"),
    ("LeakyRNNCell activation unknown", lambda: braintask.LeakyRNNCell(2, 4, activation="elu"),
     ValueError, "activation must be one of"),
    ("LeakyRNNCell alpha above 1", lambda: braintask.LeakyRNNCell(2, 4, alpha=1.5), ValueError,
     r"alpha \(dt / tau\) must lie in \(0, 1\]"),
    ("LeakyRNNCell setting changed", lambda: setattr(braintask.LeakyRNNCell(2, 4), "sigma_rec",
                                                     0.1), AttributeError,
     "fixed when the cell is built"),
    ("RatePenalty without a strength", lambda: braintask.RatePenalty(), ValueError,
     "l1 > 0 or l2 > 0"),
    ("RatePenalty steps unknown", lambda: braintask.RatePenalty(l2=1.0, steps="response"),
     ValueError, "steps must be one of"),
    ("penalty not a Penalty", lambda: trainer(penalties=[lambda inputs: 0.0]), TypeError,
     "penalties must be a list of penalties"),
    ("penalty name taken", lambda: trainer(penalties=[braintask.WeightPenalty(l2=1.0,
                                                                            name="loss")]),
     ValueError, "penalty name 'loss' is taken"),
    ("RatePenalty on decision steps of per-trial labels", lambda: trainer(
        penalties=[braintask.RatePenalty(l2=1.0, steps="decision")]).fit(TRAIN, TEST, epochs=1),
     ValueError, "one label per trial: use steps='all'"),
]


@pytest.fixture(autouse=True)
def dt():
    brainstate.environ.set(dt=1.0 * u.ms)


@pytest.mark.parametrize("name, call, exc, words", CASES, ids=[c[0] for c in CASES])
def test_bad_input_is_named(name, call, exc, words):
    with pytest.raises(exc, match=words) as info:
        call()
    # the error comes from braintask's own checks, not from inside JAX or brainstate
    assert type(info.value).__module__.split(".")[0] in ("builtins", "braintask")


def test_the_table_is_large_enough():
    assert len({c[0] for c in CASES}) >= 25


# --- checkpoints: each bad file leaves the model untouched

@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    brainstate.environ.set(dt=1.0 * u.ms)
    folder = tmp_path_factory.mktemp("ckpt")
    t = trainer()
    t.fit(TRAIN, TEST, epochs=1)
    t.save(folder / "good.msgpack")
    raw = braintools.file.msgpack_load(str(folder / "good.msgpack"))
    braintools.file.msgpack_save(str(folder / "future.msgpack"), {**raw, "version": 99})
    braintools.file.msgpack_save(str(folder / "other.msgpack"), {"weights": np.zeros(3)})
    good = (folder / "good.msgpack").read_bytes()
    (folder / "truncated.msgpack").write_bytes(good[: len(good) // 2])
    return folder


CHECKPOINT_CASES = [
    ("missing file", "missing.msgpack", {}, "does not exist"),
    ("truncated file", "truncated.msgpack", {}, "unreadable|not a braintask"),
    ("another format version", "future.msgpack", {}, "format version 99"),
    ("not a braintask checkpoint", "other.msgpack", {}, "not a braintask checkpoint"),
    ("another model shape", "good.msgpack", {"model": "wide"}, "shapes"),
    ("another seed", "good.msgpack", {"seed": 5}, "seed=0"),
]


@pytest.mark.parametrize("name, file, kw, words", CHECKPOINT_CASES, ids=[c[0] for c in CHECKPOINT_CASES])
def test_bad_checkpoint_is_refused_and_changes_nothing(saved, name, file, kw, words):
    kw = dict(kw)
    if kw.pop("model", None) == "wide":
        kw["model"] = horn(n_hidden=12)
    t = trainer(**kw)
    before = {k: np.asarray(s.value["weight"]) for k, s in t.model.states(brainstate.ParamState).items()}
    with pytest.raises(braintask.CheckpointError, match=words):
        t.load(saved / file)
    after = {k: np.asarray(s.value["weight"]) for k, s in t.model.states(brainstate.ParamState).items()}
    assert all(np.array_equal(before[k], after[k]) for k in before)
    assert t.epoch == 0 and len(t.history) == 0
