import os

from llm2slm.common.env import apply_quiet_offline_defaults


def test_script_defaults_fill_gaps_but_keep_what_the_user_set(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")  # a user who names a hub model
    monkeypatch.delenv("RAY_USAGE_STATS_ENABLED", raising=False)
    apply_quiet_offline_defaults()
    assert os.environ["HF_HUB_OFFLINE"] == "0"
    assert os.environ["RAY_USAGE_STATS_ENABLED"] == "0"
