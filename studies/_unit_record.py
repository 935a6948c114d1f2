"""What a trained unit of an atlas-style study records: per seed, the criterion and the
scores; what a failing network answers; and the trials' shapes and copies."""

from __future__ import annotations

import numpy as np


def summarise(unit, grid, first, test, trials, metric, history) -> dict:
    """The unit's record: per seed, the criterion, scores and what a failing net answers."""
    import braintask

    test_metric = metric.replace("val_", "")
    seeds = {}
    for seed, h, score in zip(unit["seeds"], grid.histories, grid.evaluate(test)):
        met = h.criterion["epoch"] is not None
        last = h[-1] if len(h) else {"updates": 0}  # empty if it diverged in epoch 1
        value = float(last.get(metric, np.nan))
        seeds[str(seed)] = {
            "met": met, "criterion_updates": h.criterion["updates"] if met else None,
            "epochs": len(h), "updates": int(last["updates"]),
            "val_score": -value if first.vector else value,
            "train": float(last.get(metric.replace("val_", "train_"), np.nan)),
            "test": float(score[test_metric])}
    outputs = np.asarray(grid.predict(test.inputs))  # (copies, N, T, C)
    answered = {}
    if not first.vector:  # what each copy answers on the decision steps, as shares
        steps = test.decision
        for seed, out in zip(unit["seeds"], outputs):
            choice = out.argmax(-1)[steps]
            answered[str(seed)] = np.bincount(choice, minlength=first.output_dim).tolist()
    return {"seeds": seeds, "history": history, "test_metric": test_metric,
            "baseline": float(test.baseline_angular_error if first.vector
                              else test.majority_rate),
            "labels": (np.bincount(test.targets[steps].astype(int),
                                   minlength=first.output_dim).tolist()
                       if not first.vector else None),
            "answered": answered, "seq_len": first.seq_len, "n_features": first.n_features,
            "outputs": first.output_dim,
            "parameters": braintask.count_parameters(grid.trainers[0].model),
            "test_copies": int(trials.count_copies(test, range(max(len(h) for h in
                                                                  grid.histories))))}
