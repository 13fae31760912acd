import os

from llm2slm.common.env import apply_quiet_offline_defaults


def test_script_defaults_fill_gaps_but_keep_what_the_user_set(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")  # a user who names a hub model
    monkeypatch.delenv("RAY_USAGE_STATS_ENABLED", raising=False)
    apply_quiet_offline_defaults()
    assert os.environ["HF_HUB_OFFLINE"] == "0"
    assert os.environ["RAY_USAGE_STATS_ENABLED"] == "0"


def test_a_run_makes_its_home_owner_only(tmp_path, monkeypatch):
    import stat

    from llm2slm.common.config import load_config
    from llm2slm.common.env import prepare_environment

    for key in ("PREFECT_HOME", "MLFLOW_TRACKING_URI", "NUMBA_CACHE_DIR", "MPLCONFIGDIR", "HF_HOME", "RAY_TMPDIR",
                "XDG_CACHE_HOME"):
        monkeypatch.setenv(key, os.environ.get(key, "set-by-test"))  # restored after the test
    cfg = load_config(tmp_path)
    cfg.paths.home.mkdir(mode=0o755, parents=True)
    prepare_environment(cfg)
    assert stat.S_IMODE(cfg.paths.home.stat().st_mode) == 0o700
