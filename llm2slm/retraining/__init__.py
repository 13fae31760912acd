"""S6, iteration: the retrain flow's core (`flows/retrain.py` wires it; docs/retrain.md).

- `state`: the watermark, the tasks' trained sizes and unfinished decisions kept between runs.
- `drift` and `signals`: the drift signals of a window (unassigned share, task-mix shift, input shift per task,
  growth, shadow agreement).
- `refit`: new tasks among the unassigned calls, and the assigner extended with them, known ids kept.
- `merge`: the window joins the datasets.
- `decide`: per task, retrain, train new or leave alone, with the reasons.
- `report`: the run report, JSON and Markdown.
"""
