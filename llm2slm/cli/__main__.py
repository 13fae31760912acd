"""`python -m llm2slm.cli ...`: the same as the `llm2slm` console script."""

from llm2slm.cli import main

main()
