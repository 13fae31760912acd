"""The common layer every stage stands on: the call record (`schema`), the one configuration tree (`config`), the
process environment (`env`), the artifact catalogue (`artifacts`), snapshots of records (`snapshot`), and the
shared helpers (`files`: atomic writes; `stats`: percentiles; `errors`: validation messages; `packaged`: models
that ship in packages). It imports no stage."""
