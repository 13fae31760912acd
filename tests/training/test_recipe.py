"""Recipes chosen for a task from its statistics."""

from __future__ import annotations

import json

from llm2slm.training.answer_format import generation_target
from llm2slm.training.catalogue import default_catalogue_path, find_candidate, load_catalogue
from llm2slm.training.recipe import recipe_for, task_stats_from_rows

TOOL = {"type": "function", "function": {"name": "FindMovies", "parameters": {"type": "object", "properties": {
    k: {"type": "string"} for k in ("genre", "location", "show_type", "theater_name")}}}}


def test_a_pretrained_generator_has_room_for_its_longest_tool_call_in_real_tokens():
    from transformers import AutoTokenizer

    from llm2slm.common.packaged import resolve_model

    # dates and digits take a token each: ~2.9 characters a token, where the estimate counts 4
    longest = json.dumps([{"arguments": {"location": "Concord", "movie_name": "Shazam!", "show_date": f"2019-03-0{d}"},
                           "name": "FindMovies"} for d in (6, 7)], sort_keys=True)
    rows = [{"messages": [{"role": "user", "content": f"horror films {i}"}], "tools": [TOOL],
             "answer": longest if i == 0 else "Which city?"} for i in range(60)]
    candidate = find_candidate(load_catalogue(default_catalogue_path()), "smollm2-135m-instruct")
    recipe = recipe_for(candidate, task_stats_from_rows(rows))
    tokenizer = AutoTokenizer.from_pretrained(resolve_model(candidate.base))
    needed = len(tokenizer(generation_target(longest, "tools"), add_special_tokens=False)["input_ids"]) + 1  # + EOS
    assert recipe.decoding == "tools" and needed <= recipe.max_new_tokens < recipe.max_length
