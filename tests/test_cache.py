"""JAX's persistent compilation cache: on by default in the user's cache folder, reused by
a second process, left alone when the user has one, off when asked."""

import json
import os
import subprocess
import sys
import textwrap

import pytest

import braintask

FIT = textwrap.dedent("""
    import json, jax, brainstate, braintools, braintask
    hits = []
    jax.monitoring.register_event_listener(
        lambda event, **kw: hits.append(event)
        if event == "/jax/compilation_cache/cache_hits" else None)
    data = braintask.delayed_match_task(48, seq_len=4, n_symbols=2, noise=0.05, seed=0)
    train, test = data.split(32)
    brainstate.random.seed(0)
    net = braintask.RecurrentClassifier(brainstate.nn.GRUCell(2, 8), n_output=2)
    trainer = braintask.Trainer(net, braintools.optim.Adam(lr=1e-2), batch_size=16,
                                progress=False)
    trainer.fit(train, test, epochs=1)
    print(json.dumps({"dir": jax.config.jax_compilation_cache_dir, "hits": len(hits)}))
""")


def run_fit(tmp_path, **env):
    clean = {k: v for k, v in os.environ.items()
             if not k.startswith(("JAX_COMPILATION_CACHE", "JAX_PERSISTENT_CACHE",
                                  "BRAINTASK_COMPILATION_CACHE"))}
    done = subprocess.run([sys.executable, "-c", FIT], capture_output=True, text=True,
                          timeout=600, env={**clean, "XDG_CACHE_HOME": str(tmp_path / "home"),
                                            **env})
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.slow  # fresh processes: a few seconds of imports each
def test_the_default_cache_is_made_in_the_user_cache_folder_and_reused(tmp_path):
    folder = tmp_path / "home" / "braintask" / "jax"
    first = run_fit(tmp_path)
    assert first["dir"] == str(folder)
    entries = list(folder.iterdir())
    assert len(entries) >= 3  # the compiled programs are on disk
    second = run_fit(tmp_path)  # a new process: the same programs come from the cache
    assert second["hits"] >= first["hits"] + 3  # an epoch, an evaluation, set-up at least
    assert len(list(folder.iterdir())) == len(entries)  # nothing compiled anew


@pytest.mark.slow
def test_opting_out_or_the_users_own_cache_leaves_the_default_folder_alone(tmp_path):
    off = run_fit(tmp_path, BRAINTASK_COMPILATION_CACHE="0")
    assert off["dir"] is None and not (tmp_path / "home" / "braintask").exists()
    own = tmp_path / "own"
    mine = run_fit(tmp_path, JAX_COMPILATION_CACHE_DIR=str(own))
    assert mine["dir"] == str(own) and not (tmp_path / "home" / "braintask").exists()
    moved = run_fit(tmp_path, BRAINTASK_COMPILATION_CACHE=str(tmp_path / "moved"))
    assert moved["dir"] == str(tmp_path / "moved") and any((tmp_path / "moved").iterdir())


def test_the_cache_is_turned_on_and_off_from_python(tmp_path):
    import jax

    before = jax.config.jax_compilation_cache_dir
    try:
        assert braintask.compilation_cache(tmp_path / "c") == tmp_path / "c"
        assert jax.config.jax_compilation_cache_dir == str(tmp_path / "c")
        assert braintask.compilation_cache(enabled=False) is None
        assert jax.config.jax_compilation_cache_dir is None
    finally:  # the suite's own cache back
        braintask.compilation_cache(before, enabled=before is not None)
