"""S4 selection: the task's output shape decides the kind of model (`shapes`), the catalogue's candidates are
checked against the constraints and screened on the validation split (`screening`), and `select` keeps the best or
the reason the task stays on the LLM. docs/specialists.md."""
