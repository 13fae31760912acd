"""Task discovery (stage S3): find the recurring sub-tasks in an agent's calls without labels.

The pieces: `text` (what is embedded), `embed` (MiniLM), `reduce` (UMAP, HDBSCAN, outliers and their budget),
`structure` (content clusters of one call structure become one task), `ids` (task ids kept across runs),
`naming` (c-TF-IDF keywords, exemplars), `profile` (output shape, token lengths), `catalogue` (the files),
`report` (the HTML page), `assigner` (places new calls in a task or `none`), `pipeline` (all of it in memory).
`tasks/cluster.py` is the stage; docs/discovery.md explains the parameters and the report.
"""

from llm2slm.discovery.assigner import Assigner, load_assigner
from llm2slm.discovery.catalogue import OUTLIER, Catalogue, TaskEntry, read_assignments, read_catalogue
from llm2slm.discovery.pipeline import Discovery, Options, discover

__all__ = ["OUTLIER", "Assigner", "Catalogue", "Discovery", "Options", "TaskEntry", "discover", "load_assigner",
           "read_assignments", "read_catalogue"]
