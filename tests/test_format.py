"""The timeline format: a saved timeline loads back equal, and anything else is refused
with one sentence, without executing anything."""

from __future__ import annotations

import json
import math

import pytest

from gradtui.model import codec
from gradtui.model.events import OpCalled
from gradtui.model.tensors import TensorStats, TensorSummary
from gradtui.model.timeline import Timeline
from tests.conftest import SCENARIOS, SCRIPTS

KIND_FIELDS = {
    "line": {"function"},
    "op": {"op", "grad_fn", "grad_enabled", "args", "output"},
    "backward": {"root", "loss", "grads"},
    "zero_grad": {"optimizer", "grads"},
    "step": {"optimizer", "hyperparams", "params", "state"},
    "output": {"stream", "text"},
    "error": {"type", "message", "traceback"},
}
TENSOR_FIELDS = {"shape", "dtype", "requires_grad", "grad_fn", "values", "stats"}


@pytest.mark.parametrize("path", [SCENARIOS / "accumulation.py", SCENARIOS / "lbfgs.py",
                                  SCRIPTS / "mlp_adam.py", SCRIPTS / "raises.py"])
def test_round_trip_and_documented_fields(run_script, tmp_path, path):
    tl = run_script(path, max_values=8)
    out = tmp_path / "t.json"
    codec.save(tl, out)
    loaded = codec.load(out)
    assert loaded.events == tl.events
    assert (loaded.status, loaded.exit_code, loaded.error) == (tl.status, tl.exit_code, tl.error)
    doc = json.loads(out.read_text())
    for event in doc["events"]:
        assert KIND_FIELDS[event["kind"]] | {"seq", "kind", "file", "line"} == set(event)
        for key in ("grads", "params"):
            for change in event.get(key, {}).values():
                for t in (change["before"], change["after"]):
                    assert t is None or set(t) == TENSOR_FIELDS


def test_non_finite_numbers_are_strict_json(tmp_path):
    t = TensorSummary((4,), "float32", values=[math.nan, math.inf, -math.inf, 1.0])
    big = TensorSummary((100,), "float32", stats=TensorStats(100, -1.0, 2.0, 0.5, 1.0, 3.0, nan=1, inf=2))
    tl = Timeline(script="s.py", argv=["s.py"], status="finished", exit_code=0)
    tl.events += [OpCalled(seq=0, file="s.py", line=1, op="mul", output=t),
                  OpCalled(seq=1, file="s.py", line=2, op="add", output=big)]
    out = tmp_path / "t.json"
    codec.save(tl, out)

    def refuse(name: str) -> None:
        raise AssertionError(f"non-standard JSON constant {name}")

    json.loads(out.read_text(), parse_constant=refuse)
    assert codec.load(out).events == tl.events


def test_files_that_are_not_timelines_are_refused(run_script, tmp_path):
    saved = tmp_path / "good.json"
    codec.save(run_script(SCENARIOS / "first_backward.py"), saved)
    text = saved.read_text()
    cases = {
        "missing.json": (None, "no such file"),
        "notjson.json": ("this is not json", "not valid JSON"),
        "cut.json": (text[: len(text) // 2], "truncated"),
        "other.json": ('{"format": "something-else", "version": 1}', "not a gradtui timeline"),
        "future.json": (text.replace('"version":1', '"version":2', 1), "version"),
    }
    for name, (content, phrase) in cases.items():
        path = tmp_path / name
        if content is not None:
            path.write_text(content)
        with pytest.raises(codec.TimelineFormatError, match=phrase):
            codec.load(path)
    blob = tmp_path / "blob.json"
    blob.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(codec.TimelineFormatError):
        codec.load(blob)
    with pytest.raises(codec.TimelineFormatError, match="directory"):
        codec.load(tmp_path)


def test_loading_never_executes_anything(run_script, tmp_path):
    target = tmp_path / "pwned"
    payload = f"__import__('os').system('touch {target}')"
    doc = codec.timeline_to_json(run_script(SCENARIOS / "first_backward.py"))
    doc["script"] = payload
    doc["events"][0]["file"] = payload
    path = tmp_path / "t.json"
    path.write_text(json.dumps(doc))
    assert codec.load(path).script == payload
    assert not target.exists()
