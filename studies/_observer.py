"""How high a perceptual decision can go on the studies' trials: an observer that sums
each input channel over the trial and classifies the sums linearly. When the evidence
has a constant mean and independent Gaussian noise, its sum is all an optimal observer
needs, so this observer is close to the best any network can do on those trials."""

from __future__ import annotations

import numpy as np

TRAIN_EPOCHS = 8  # the observer's training trials: the first 8 epochs' (4,096 trials)


def summed_evidence(data):
    """Each input channel summed over the steps before a trial's first scored step,
    and the answer due on the scored steps."""
    first = data.decision.argmax(axis=1)
    before = np.arange(data.inputs.shape[1])[None, :] < first[:, None]
    answer = data.targets[np.arange(len(first)), first]
    return (data.inputs * before[..., None]).sum(axis=1), answer


def observer_accuracy(trials, test, epochs: int = TRAIN_EPOCHS) -> float:
    """The accuracy on ``test`` of a logistic regression (scikit-learn) fitted to the
    summed evidence of the training trials of ``trials``' first ``epochs`` epochs; one
    answer per trial, kept on every scored step."""
    from sklearn.linear_model import LogisticRegression

    train = [summed_evidence(trials.trials(epoch)) for epoch in range(epochs)]
    observer = LogisticRegression(max_iter=5000).fit(
        np.concatenate([x for x, _ in train]), np.concatenate([y for _, y in train]))
    return float(observer.score(*summed_evidence(test)))


def against_observer(results, task: str, accuracy: float):
    """The finished models' scores on ``task`` (rows of a results table) beside the
    observer's ``accuracy`` on the same test trials."""
    rows = results[results["task"] == task].set_index(["task", "model"])
    return rows[["train (mean)", "test (mean)", "test (min)", "test (max)"]].assign(
        observer=accuracy, **{"test - observer": rows["test (mean)"] - accuracy})
