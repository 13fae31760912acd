"""Task discovery (stage S3): find the recurring sub-tasks in an agent's calls without labels.

The pieces: `text` (what is embedded), `embed` (MiniLM), `reduce` (UMAP, HDBSCAN, outliers and their budget),
`structure` (content clusters of one call structure become one task), `ids` (task ids kept across runs),
`naming` (c-TF-IDF keywords, exemplars), `profile` (output shape, token lengths), `catalogue` (the files),
`report` (the HTML page), `assigner` (places new calls in a task or `none`), `pipeline` (all of it in memory).
`tasks/cluster.py` is the stage; docs/discovery.md explains the parameters and the report.
"""
