import json

from llm2slm.common.config import SelectConfig
from llm2slm.selection.shapes import rank_key, span_share, task_shape
from llm2slm.training.catalogue import default_catalogue_path
from llm2slm.common.env import hub_offline
from llm2slm.discovery.catalogue import TaskEntry
from llm2slm.discovery.split import read_split
from llm2slm.selection.select import select_candidates
from llm2slm.training.catalogue import load_catalogue

TOPICS = {"card": ["where is my card", "card not arrived", "when does the card come"],
          "rate": ["exchange rate today", "euro to dollar rate", "what rate do you give"]}


def _rows(answers, users=None):
    users = users or [f"q{i}" for i in range(len(answers))]
    return [{"id": f"c{i}", "messages": [{"role": "user", "content": u}], "tools": None, "answer": a}
            for i, (u, a) in enumerate(zip(users, answers, strict=True))]


def select_model(folder, discovered, cfg):
    """Selection for the task in `folder` as discovery described it (`output_shape`, optional `tokens`)."""
    entry = TaskEntry(task_id="t", name="t", keywords=[], size=0, exemplars=[], n_distinct_answers=0,
                      output_shape=discovered["output_shape"], tokens=discovered.get("tokens", {}))
    return select_candidates(entry, read_split(folder, "train"), read_split(folder, "val"),
                             load_catalogue(default_catalogue_path()), cfg, hub_offline())


def _task(folder, answers, users=None, val=None):
    folder.mkdir(parents=True)
    (folder / "train.jsonl").write_text("".join(json.dumps(r) + "\n" for r in _rows(answers, users)))
    if val:
        (folder / "val.jsonl").write_text("".join(json.dumps(r) + "\n" for r in _rows(*val)))
    return folder


def test_closed_label_sets_get_the_encoder_classifier_screened_few_shot(tmp_path):
    users = [TOPICS[t][i % 3] + f" #{i}" for i, t in enumerate(["card", "rate"] * 40)]
    answers = [t for t in ["card", "rate"] * 40]
    val = ([t for t in ["card", "rate"] * 5], [TOPICS[t][(i + 1) % 3] for i, t in enumerate(["card", "rate"] * 5)])
    task = _task(tmp_path / "t", answers, users, val)
    choice = select_model(task, {"output_shape": "json"}, SelectConfig())
    assert choice.decision == "specialist" and choice.model_kind == "classifier"
    assert choice.candidates == ["minilm-classifier"] and choice.output_shape == "closed_label"
    assert "2 distinct answers over 80 training calls" in choice.reasons[0]
    verdict = next(v for v in choice.verdicts if v.name == "minilm-classifier")
    assert verdict.kept and verdict.screen >= 0.8 and "nearest neighbour" in verdict.screen_method
    assert all(not v.eligible for v in choice.verdicts if v.kind != "classifier")


def test_open_json_answers_get_a_generator_whose_random_weights_screen_at_zero(tmp_path):
    task = _task(tmp_path / "t", [json.dumps({"date": f"day {i}"}) for i in range(120)],
                 val=([json.dumps({"date": "day 1"})], ["q"]))
    choice = select_model(task, {"output_shape": "json"}, SelectConfig())
    assert choice.model_kind == "generator" and choice.candidate == "tiny-generator"
    assert choice.output_shape == "json"
    tiny = next(v for v in choice.verdicts if v.name == "tiny-generator")
    assert tiny.screen == 0.0 and "random weights" in tiny.screen_method
    qwen = next(v for v in choice.verdicts if v.name == "qwen2.5-0.5b-instruct")
    assert not qwen.eligible and any("hub is offline" in r for r in qwen.reasons)


def test_json_copied_from_the_request_gets_the_span_tagger(tmp_path):
    users = [f"a table for {n} people on day {n + 1}" for n in range(60)]
    answers = [json.dumps({"people": f"{n} people", "day": f"day {n + 1}"}) for n in range(60)]
    task = _task(tmp_path / "t", answers, users, val=(answers[:5], users[:5]))
    choice = select_model(task, {"output_shape": "json"}, SelectConfig(top_k=2))
    assert choice.output_shape == "json_spans" and "100.0% of their string values" in choice.reasons[0]
    assert choice.candidates == ["minilm-span-tagger", "tiny-generator"] and choice.model_kind == "span_tagger"
    tagger = next(v for v in choice.verdicts if v.name == "minilm-span-tagger")
    assert tagger.screen == 1.0 and "span ceiling" in tagger.screen_method
    one = select_model(task, {"output_shape": "json"}, SelectConfig(top_k=1))  # the tagger is kept: no generator runs
    assert one.candidates == ["minilm-span-tagger"]
    generators = [v for v in one.verdicts if v.kind == "generator" and v.eligible]
    assert generators and all(v.screen is None and v.screen_method.startswith("not screened: 1 eligible")
                              for v in generators)


def test_a_too_small_task_stays_on_the_llm_with_its_reason(tmp_path):
    task = _task(tmp_path / "t", ["yes", "no"] * 10)
    choice = select_model(task, {"output_shape": "closed_label"}, SelectConfig(min_calls=50))
    assert choice.decision == "llm" and choice.candidate is None and choice.candidates == []
    assert "20 training calls < select.min_calls=50" in choice.reasons[0]


def test_constraints_filter_candidates_and_each_reason_is_kept(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    task = _task(tmp_path / "t", [f"free answer number {i}" for i in range(80)])
    cfg = SelectConfig(licences=["apache-2.0"], memory_budget_mib=1000, precision="bf16", screen_generators=False)
    choice = select_model(task, {"output_shape": "free_text", "tokens": {
        "request": {"p99": 9000}, "answer": {"p99": 100}}}, cfg)
    verdicts = {v.name: v for v in choice.verdicts}
    assert any("licence llama3.2 not in select.licences" in r for r in verdicts["llama-3.2-1b-instruct"].reasons)
    assert any("> select.memory_budget_mib=1,000" in r for r in verdicts["phi-3.5-mini-instruct"].reasons)
    assert any("context 8192 tokens < the task's p99 of 9100" in r
               for r in verdicts["smollm2-360m-instruct"].reasons)
    assert any("context 1024 tokens" in r for r in verdicts["tiny-generator"].reasons)
    assert choice.candidate == "qwen2.5-0.5b-instruct" and verdicts["qwen2.5-0.5b-instruct"].screen is None


def test_tool_calls_get_the_packaged_slm_offline_and_a_hub_generator_online(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    answers = [json.dumps([{"name": "f", "arguments": {"x": i}}]) for i in range(120)]
    cfg = SelectConfig(screen_generators=False)
    choice = select_model(_task(tmp_path / "t", answers), {"output_shape": "tool_call"}, cfg)
    assert choice.decision == "specialist" and choice.candidate == "smollm2-135m-instruct"
    verdicts = {v.name: v for v in choice.verdicts}
    assert not verdicts["qwen2.5-0.5b-instruct"].eligible and not verdicts["tiny-generator"].eligible
    no_slm = SelectConfig(screen_generators=False, licences=["mit"])  # nothing offline fits: the LLM keeps it
    assert select_model(tmp_path / "t", {"output_shape": "tool_call"}, no_slm).decision == "llm"
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    online = select_model(tmp_path / "t", {"output_shape": "tool_call"}, cfg)
    assert online.decision == "specialist" and online.candidate == "qwen2.5-0.5b-instruct"


def test_shape_rules_and_ranking():
    labels = ["a"] * 50 + ["b"] * 50
    assert task_shape("free_text", labels, _rows(labels), 400, 0.98, 0.95)[0] == "closed_label"
    unique = [str(i) for i in range(100)]
    assert task_shape("free_text", unique, _rows(unique), 400, 0.98, 0.95)[0] == "free_text"
    assert task_shape("tool_call", labels, _rows(labels), 400, 0.98, 0.95)[0] == "tool_call"
    half = _rows([json.dumps({"k": "x"}), json.dumps({"k": "absent"})], ["x marks", "nothing"])
    assert span_share(half) == 0.5
    ranked = sorted([("zero", 0.0), ("unknown", None), ("good", 0.7), ("better", 0.9)],
                    key=lambda item: rank_key(0, item[1]))
    assert [name for name, _ in ranked] == ["better", "good", "unknown", "zero"]


def test_zero_shot_screen_runs_a_local_generator_and_reads_tool_call_blocks(tmp_path):
    from llm2slm.selection.screening import _as_tool_calls, zero_shot_screen
    from llm2slm.training.tiny import build_tiny_llama, train_tiny_tokenizer

    tokenizer = train_tiny_tokenizer(["a table for two people", '{"people": "two"}'] * 20, vocab_size=300)
    build_tiny_llama(tokenizer, seed=1).save_pretrained(tmp_path / "gen")
    tokenizer.save_pretrained(tmp_path / "gen")
    val = _rows(['{"people": "two"}'] * 2, ["a table for two people"] * 2)
    score, how = zero_shot_screen(str(tmp_path / "gen"), val, max_new_tokens=4)
    assert score == 0.0 and how == "zero-shot, 2 val calls"  # random weights cannot write the JSON
    block = '<tool_call>\n{"name": "book", "arguments": {"n": 2}}\n</tool_call>'
    assert json.loads(_as_tool_calls(block)) == [{"name": "book", "arguments": {"n": 2}}]
    assert _as_tool_calls("plain text") == "plain text"


def _tool(name):
    return {"type": "function", "function": {"name": name, "parameters": {"type": "object", "properties": {}}}}


def _tool_task(folder, tools_of):
    """A tool-calling task of 120 train and 20 val calls; `tools_of(i)`: the function names call i offers."""
    folder.mkdir(parents=True)
    for part, start, n in (("train", 0, 120), ("val", 1000, 20)):
        rows = [{"id": f"c{i}", "messages": [{"role": "user", "content": f"do {i}"}],
                 "tools": [_tool(n) for n in tools_of(i)],
                 "answer": json.dumps([{"name": tools_of(i)[0], "arguments": {}}])} for i in range(start, start + n)]
        (folder / f"{part}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return folder


def test_tool_set_reuse_counts_the_val_calls_offering_a_set_seen_in_training():
    from llm2slm.selection.tool_sets import tool_set_reuse

    train = [{"tools": [_tool("a"), _tool("b")]}, {"tools": [_tool("c")]}, {"tools": None}]
    val = [{"tools": [_tool("b"), _tool("a")]}, {"tools": [_tool("a")]}, {}, {"tools": [_tool("d")]}]
    reuse = tool_set_reuse(train, val)
    assert (reuse.share, reuse.n_val, reuse.n_train_sets, reuse.n_functions) == (0.5, 4, 3, 3)
    assert tool_set_reuse(train, []).share == 1.0


def test_tools_that_change_on_every_call_keep_the_task_on_the_llm_with_the_measured_share(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    cfg = SelectConfig(screen_generators=False)
    changing = select_model(_tool_task(tmp_path / "bfcl", lambda i: [f"f{i}", f"g{i}"]), {"output_shape": "tool_call"},
                            cfg)
    assert changing.decision == "llm" and changing.candidate is None
    assert "0% of 20 val calls offer a set of tools the train calls offered (120 distinct sets, 240 functions" \
        in changing.reasons[-2]
    assert "share 0% < select.min_tool_set_reuse 50%" in changing.reasons[-1]
    assert "smollm2-135m-instruct -, is below select.generalist_screen 0.90" in changing.reasons[-1]
    fixed = select_model(_tool_task(tmp_path / "agent", lambda i: ["search", "book"][i % 2:] + ["search", "book"][:i % 2]),
                         {"output_shape": "tool_call"}, cfg)
    assert fixed.decision == "specialist" and fixed.candidate == "smollm2-135m-instruct"
    assert "100% of 20 val calls" in fixed.reasons[-2]
    lenient = select_model(tmp_path / "bfcl", {"output_shape": "tool_call"},
                           SelectConfig(screen_generators=False, min_tool_set_reuse=0.0))
    assert lenient.decision == "specialist"


def test_a_spent_generator_budget_skips_the_screen_and_keeps_the_task_on_the_llm(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    task = _tool_task(tmp_path / "agent", lambda i: ["search"])
    entry = TaskEntry(task_id="t", name="t", keywords=[], size=0, exemplars=[], n_distinct_answers=0,
                      output_shape="tool_call", tokens={})
    args = (entry, read_split(task, "train"), read_split(task, "val"), load_catalogue(default_catalogue_path()),
            SelectConfig(), True)
    spent = select_candidates(*args, generators_left=0)
    assert spent.decision == "llm" and "generators are spent (finetune.generator_max_tasks" in spent.reasons[-1]
    slm = next(v for v in spent.verdicts if v.name == "smollm2-135m-instruct")
    assert not slm.eligible and slm.screen is None and slm.reasons[-1].endswith("not screened")
    assert select_candidates(*args[:-2], SelectConfig(screen_generators=False), True,
                             generators_left=1).decision == "specialist"
