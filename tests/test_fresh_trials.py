"""Training on fresh trials every epoch (a TrialSource), to a criterion."""

import braintools
import numpy as np
import pytest

import braintask
from helpers import assert_same_weights, make_horn, trainer_for, unseeded_horn, weights


@pytest.fixture
def source():
    return braintask.delayed_match_source(64, seq_len=6, n_symbols=2, noise=0.05, seed=1)


def _logging(source, log):
    """The same trials, noting which epochs were drawn."""
    def sample(epoch):
        log.append(epoch)
        return source.trials(epoch)
    return braintask.TrialSource(sample, source.n_trials)


def test_every_epoch_trains_on_new_trials_and_held_out_trials_are_never_trained_on(source):
    val = source.held_out(32, split="val")
    log = []
    trainer = trainer_for(make_horn())
    history = trainer.fit(_logging(source, log), val=val, epochs=3)
    assert log == [0, 1, 2]  # each epoch drawn once (the next one in the background), none past the fit
    assert len(history) == 3 and history[-1]["updates"] == 3 * 4
    first, second = source.trials(0), source.trials(1)
    assert first.count_in(second) == 0 and not np.array_equal(first.targets, second.targets)
    assert source.count_copies(val, range(3)) == 0
    assert trainer.compilations["train_epoch"] == 1  # new trials, same program


def test_a_resumed_fresh_trial_run_equals_a_straight_one_bit_for_bit(source, tmp_path):
    val = source.held_out(32, split="val")
    net = make_horn(seed=4)
    straight = trainer_for(net).fit(source, val=val, epochs=4)
    path = tmp_path / "run.msgpack"
    first = trainer_for(make_horn(seed=4))
    first.fit(source, val=val, epochs=2, checkpoint=path)
    net2 = make_horn(seed=9)  # other initial weights: the checkpoint replaces them
    resumed = trainer_for(net2).load(path)
    history = resumed.fit(source, val=val, epochs=2)
    assert history == straight
    assert_same_weights(weights(net2), weights(net), rtol=0, atol=0)


@pytest.mark.slow
def test_copies_on_fresh_trials_equal_their_single_runs(source):
    val = source.held_out(32, split="val")
    grid = braintask.MultiSeedTrainer(unseeded_horn, lambda: braintools.optim.Adam(lr=1e-2),
                                      seeds=[0, 3], batch_size=16, progress=False)
    histories = grid.fit(source, val=val, epochs=3)
    for seed, history in zip([0, 3], histories):
        single = trainer_for(make_horn(seed=seed), seed=seed).fit(source, val=val, epochs=3)
        assert history.allclose(single, rtol=1e-4, atol=1e-5)


def test_a_source_that_changes_shape_is_refused_naming_the_epoch(source):
    def sample(epoch):
        return braintask.delayed_match_task(64, seq_len=6 if epoch == 0 else 7, n_symbols=2,
                                            noise=0.05, seed=epoch)
    trainer = trainer_for(make_horn())
    with pytest.raises(ValueError, match="epoch 1"):
        trainer.fit(braintask.TrialSource(sample, 64), epochs=3)


@pytest.mark.slow
def test_the_criterion_stops_copies_at_their_own_epochs_as_single_runs_do(small_task):
    train, test = small_task
    fit_set, val = train.split(48)
    criterion = braintask.Criterion("val_acc", at_least=0.65)
    grid = braintask.MultiSeedTrainer(unseeded_horn, lambda: braintools.optim.Adam(lr=2e-2),
                                      seeds=[0, 1, 2, 3], batch_size=16, progress=False)
    histories = grid.fit(fit_set, test, val=val, epochs=20, criterion=criterion)
    met = [h.criterion["epoch"] for h in histories]
    assert len({m for m in met if m is not None}) >= 2  # copies stop at different epochs
    assert None in met  # and a copy that never meets it within the cap is reported so
    table = grid.summary()
    assert table["criterion_epoch"].isna().tolist() == [m is None for m in met]
    for seed, history in zip([0, 1, 2, 3], histories):
        single = trainer_for(make_horn(seed=seed), seed=seed, lr=2e-2).fit(
            fit_set, test, val=val, epochs=20, criterion=braintask.Criterion("val_acc", 0.65))
        assert history.allclose(single, rtol=1e-4, atol=1e-5)
        assert history.criterion == single.criterion
        if history.criterion["epoch"] is not None:
            assert len(history) == history.criterion["epoch"]
            assert history.criterion["updates"] == 3 * history.criterion["epoch"]
