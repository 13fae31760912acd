"""Task discovery (stage S3): find the recurring sub-tasks in an agent's calls without labels.

The pieces: `text` (what is embedded), `embed` (MiniLM), `reduce` (UMAP, HDBSCAN, outliers), `structure` (content
clusters of one call structure become one task), `naming` (c-TF-IDF keywords, exemplars), `profile` (output shape,
token lengths), `catalogue` (the files), `pipeline` (all of it in memory). `tasks/cluster.py` is the stage.
"""

from llm2slm.discovery.catalogue import OUTLIER, Catalogue, TaskEntry, read_assignments, read_catalogue
from llm2slm.discovery.pipeline import Discovery, Options, discover

__all__ = ["OUTLIER", "Catalogue", "Discovery", "Options", "TaskEntry", "discover", "read_assignments",
           "read_catalogue"]
