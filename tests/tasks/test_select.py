import json

from llm2slm.config import SelectConfig
from llm2slm.training.catalogue import default_catalogue_path
from tasks.select import answer_profile, select_model


def _task(folder, answers):
    folder.mkdir(parents=True)
    rows = [{"id": f"c{i}", "messages": [{"role": "user", "content": f"q{i}"}], "tools": None, "answer": a}
            for i, a in enumerate(answers)]
    (folder / "train.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return folder


def test_closed_label_sets_get_the_encoder_classifier(tmp_path):
    task = _task(tmp_path / "t", ['{"intent": "a"}', '{"intent": "b"}', '{"intent": "c"}'] * 40)
    choice = select_model.fn("t", task, "json", SelectConfig(), default_catalogue_path())
    assert choice.decision == "specialist" and choice.model_kind == "classifier"
    assert choice.candidate == "minilm-classifier" and choice.output_shape == "closed_label"
    assert "3 distinct answers" in choice.reasons[0]


def test_open_answers_get_a_generator(tmp_path):
    task = _task(tmp_path / "t", [json.dumps({"date": f"day {i}"}) for i in range(120)])
    choice = select_model.fn("t", task, "json", SelectConfig(), default_catalogue_path())
    assert choice.model_kind == "generator" and choice.candidate == "tiny-generator"
    assert choice.output_shape == "json"


def test_a_too_small_task_stays_on_the_llm_with_its_reason(tmp_path):
    task = _task(tmp_path / "t", ["yes", "no"] * 10)
    choice = select_model.fn("t", task, "closed_label", SelectConfig(min_calls=50), default_catalogue_path())
    assert choice.decision == "llm" and choice.candidate is None
    assert "20 training calls < select.min_calls=50" in choice.reasons[0]


def test_answer_profile_thresholds():
    assert answer_profile(["a"] * 50 + ["b"] * 50, max_labels=10, coverage=0.98) == (True, 2)
    assert answer_profile([str(i) for i in range(100)], max_labels=10, coverage=0.98) == (False, 100)


def test_tool_calls_stay_on_the_llm_offline_when_no_candidate_can_learn_them(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    answers = [json.dumps([{"name": "f", "arguments": {"x": i}}]) for i in range(120)]
    choice = select_model.fn("t", _task(tmp_path / "t", answers), "tool_call", SelectConfig(), default_catalogue_path())
    assert choice.decision == "llm" and "no generator candidate for shape tool_call" in choice.reasons[-1]
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    online = select_model.fn("t", tmp_path / "t", "tool_call", SelectConfig(), default_catalogue_path())
    assert online.decision == "specialist" and online.candidate == "qwen2.5-0.5b-instruct"
