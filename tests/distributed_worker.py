"""One process of a multi-process run (or the single-process reference).

    python distributed_worker.py SCENARIO PROCESS_ID NUM_PROCESSES PORT OUT_DIR

With NUM_PROCESSES > 1 the process joins JAX's distributed runtime on
127.0.0.1:PORT (CPU collectives over gloo); with 1 it runs alone, as the
reference. It writes ``OUT_DIR/<scenario>-<process id>.json``.
"""

import json
import os
import sys

scenario, pid, nproc, port, out = sys.argv[1], *map(int, sys.argv[2:5]), sys.argv[5]

import jax  # noqa: E402

jax.config.update("jax_cpu_collectives_implementation", "gloo")
if nproc > 1:
    # a process whose peers never come, or die, ends by itself within these bounds
    jax.distributed.initialize(coordinator_address=f"127.0.0.1:{port}", num_processes=nproc,
                               process_id=pid,
                               initialization_timeout=int(os.environ.get("INIT_TIMEOUT", "60")),
                               heartbeat_timeout_seconds=30)

import brainmass  # noqa: E402
import brainstate  # noqa: E402
import braintools  # noqa: E402
import brainunit as u  # noqa: E402

import braintask  # noqa: E402

brainstate.environ.set(dt=1.0 * u.ms)
devices = "all" if nproc > 1 else None
result = {"process": pid, "processes": jax.process_count(), "devices": jax.device_count()}


def horn():
    return brainmass.HORNSeqNetwork(n_input=2, n_hidden=16, n_output=2, alpha=0.2)


def trainer(seed=0, mode="fused"):
    brainstate.random.seed(seed)
    return braintask.Trainer(horn(), braintools.optim.Adam(lr=2e-2), batch_size=16, seed=seed,
                             mode=mode, drop_last=False, progress=False, devices=devices)


# 105 training trials: 6 minibatches of 16 and a last one of 9, which does not
# split over 2 devices (it is replicated)
data = braintask.delayed_match_task(169, seq_len=6, n_symbols=2, seed=3)
fit_set, rest = data.split(105)
val, test = rest.split(32)

if scenario == "trainer":
    ckpt = os.path.join(out, "trainer.msgpack")
    first = trainer()
    # the checkpoint and the log are written by process 0 only
    first.fit(fit_set, test, val=val, epochs=2, checkpoint=ckpt,
              callbacks=[braintask.CSVLogger(os.path.join(out, "log.csv"))])
    resumed = trainer().load(ckpt)  # read by every process
    resumed.fit(fit_set, test, val=val, epochs=1)
    straight = trainer().fit(fit_set, test, val=val, epochs=3)
    step = trainer(mode="step").fit(fit_set, test, val=val, epochs=1)
    result.update(straight=straight.to_records(), resumed=resumed.history.to_records(),
                  step=step.to_records(), used=len(first.devices or [None]),
                  predict=resumed.predict(test.inputs[:4]).tolist())
elif scenario == "sweep":
    def sweep():
        return braintask.MultiSeedTrainer(
            horn, lambda lr: braintools.optim.Adam(lr=lr), seeds=[0, 1], lrs=[1e-2, 3e-2],
            batch_size=16, progress=False, devices=devices)

    ckpt = os.path.join(out, "sweep.msgpack")
    grid = sweep()
    grid.fit(fit_set, test, val=val, epochs=1, checkpoint=ckpt)
    resumed = sweep().load(ckpt)
    resumed.fit(fit_set, test, val=val, epochs=1)
    # per-copy schedules and early stopping with restore_best, on stacked states
    # that are spread over the processes
    scheduled = braintask.MultiSeedTrainer(
        horn, lambda lr: braintools.optim.Adam(
            lr=braintools.optim.StepLR(base_lr=lr, step_size=1, gamma=0.5)),
        seeds=[0, 1], lrs=[1e-2, 3e-1], batch_size=16, progress=False, devices=devices)
    result["scheduled"] = [h.to_records() for h in
                           scheduled.fit(fit_set, test, val=val, epochs=4, patience=1)]
    result.update(straight=[h.to_records() for h in sweep().fit(fit_set, test, val=val, epochs=2)],
                  resumed=[h.to_records() for h in resumed.histories],
                  evaluate=resumed.evaluate(test), used=len(grid.devices or [None]))
elif scenario == "disagree":
    def error(run):
        try:
            run()
        except ValueError as err:
            return str(err)

    result["seed"] = error(lambda: trainer(seed=pid).fit(fit_set, test, epochs=1))
    # the same model, but process 1 holds fewer training trials
    result["data"] = error(lambda: trainer().fit(fit_set.split(96 if pid else 104)[0],
                                                 test, epochs=1))
    # as many trials, other ones
    result["evaluate"] = error(lambda: trainer().evaluate(val if pid else test))
else:
    raise SystemExit(f"unknown scenario {scenario!r}")

with open(os.path.join(out, f"{scenario}-{pid}.json"), "w") as f:
    json.dump(result, f)
