"""The timeline file format: save, load back, and refuse what is not a timeline.

Round trips compare the loaded events with the ones the engine produced (events are
frozen dataclasses, ``TensorSummary`` compares by value with NaN == NaN). Numbers that
are checked are known independently: the tutorial's gradients, or what torch computes
directly from the same seed.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest

from gradtui.model import codec
from gradtui.model.events import (
    BackwardDone,
    Change,
    GradsZeroed,
    OpCalled,
    OutputWritten,
    Owner,
    StepTaken,
)
from gradtui.model.tensors import TensorStats, TensorSummary
from gradtui.model.timeline import Timeline
from tests.helpers import flat, grad_changes, of_kind, seqs_ok

REPO = Path(__file__).resolve().parent.parent
SCENARIOS = REPO / "scenarios"
SCRIPTS = Path(__file__).resolve().parent / "scripts"

ROUND_TRIP_SCRIPTS = {
    "accumulation": SCENARIOS / "accumulation.py",
    "mlp_adam": SCRIPTS / "mlp_adam.py",
    "lbfgs": SCENARIOS / "lbfgs.py",
    "raises": SCRIPTS / "raises.py",
}


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"non-standard JSON constant {name} in a timeline file")


def strict_json(path: Path) -> Any:
    """The document, parsed as strict JSON: NaN / Infinity are refused."""
    return json.loads(path.read_text(encoding="utf-8"), parse_constant=_refuse_constant)


def assert_same_timeline(a: Timeline, b: Timeline) -> None:
    assert len(a.events) == len(b.events)
    for x, y in zip(a.events, b.events):
        assert type(x) is type(y)
        assert x == y, f"event {x.seq} changed in the round trip:\n{x}\n{y}"
    assert list(a.events) == list(b.events)
    for field in ("script", "argv", "status", "exit_code", "error", "max_values", "torch_version"):
        assert getattr(a, field) == getattr(b, field), field


# ---------------------------------------------------------------- round trips


@pytest.mark.parametrize("name", list(ROUND_TRIP_SCRIPTS))
def test_round_trip(run_script, tmp_path: Path, name: str) -> None:  # type: ignore[no-untyped-def]
    tl = run_script(ROUND_TRIP_SCRIPTS[name])
    assert tl.events and seqs_ok(tl)
    path = tmp_path / f"{name}.json"
    codec.save(tl, path)
    strict_json(path)
    loaded = codec.load(path)
    assert_same_timeline(tl, loaded)
    assert seqs_ok(loaded)
    # saving writes just the file (atomically, via a temporary that is renamed)
    assert [p.name for p in tmp_path.iterdir()] == [f"{name}.json"]


def test_round_trip_keeps_the_tutorial_numbers(run_script, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "acc.json"
    codec.save(run_script(SCENARIOS / "accumulation.py"), path)
    loaded = codec.load(path)
    assert loaded.status == "finished" and loaded.exit_code == 0
    assert grad_changes(loaded, "backward", "theta") == [
        (None, [2.0]), ([2.0], [4.0]), ([4.0], [6.0]), ([6.0], [8.0]), (None, [2.0]), (None, [2.0]),
    ]
    assert grad_changes(loaded, "zero_grad", "theta") == [([8.0], None), ([2.0], None)]
    assert [e.loss for e in of_kind(loaded, "backward")] == [1.0] * 6


def test_round_trip_of_statistics_matches_torch(run_script, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """With max_values=4 the 4x3 first-layer weight keeps statistics; they survive the file."""
    import torch

    tl = run_script(SCRIPTS / "mlp_adam.py", max_values=4)
    path = tmp_path / "mlp.json"
    codec.save(tl, path)
    doc = strict_json(path)
    loaded = codec.load(path)
    assert_same_timeline(tl, loaded)

    steps = of_kind(loaded, "step")
    assert len(steps) == 3
    weight = steps[0].params["net.0.weight"].before
    assert weight.values is None and weight.shape == (4, 3)

    torch.manual_seed(0)  # the script's own seed and construction order
    net = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.ReLU(), torch.nn.Linear(4, 1))
    w = net[0].weight.detach().to(torch.float64)
    stats = weight.stats
    assert stats is not None
    assert stats.numel == 12 and stats.nan == 0 and stats.inf == 0
    assert stats.min == pytest.approx(w.min().item(), rel=1e-6)
    assert stats.max == pytest.approx(w.max().item(), rel=1e-6)
    assert stats.mean == pytest.approx(w.mean().item(), rel=1e-6)
    assert stats.std == pytest.approx(w.std().item(), rel=1e-6)
    assert stats.norm == pytest.approx(w.norm().item(), rel=1e-6)
    # the small bias (4 elements) kept its values: exactly torch's numbers
    assert flat(steps[0].params["net.0.bias"].before) == pytest.approx(net[0].bias.tolist())

    step_doc = next(e for e in doc["events"] if e["kind"] == "step")
    wdoc = step_doc["params"]["net.0.weight"]["before"]
    assert wdoc["values"] is None
    assert set(wdoc["stats"]) == {"numel", "min", "max", "mean", "std", "norm", "nan", "inf"}


# ---------------------------------------------------------------- the document's shape

TENSOR_FIELDS = {"shape", "dtype", "requires_grad", "grad_fn", "values", "stats"}


def check_tensor(t: Any, where: str) -> None:
    if t is None:
        return
    assert isinstance(t, dict), where
    assert TENSOR_FIELDS <= set(t), f"{where}: tensor lacks {TENSOR_FIELDS - set(t)}"
    assert isinstance(t["shape"], list) and all(isinstance(n, int) for n in t["shape"]), where
    assert isinstance(t["dtype"], str) and isinstance(t["requires_grad"], bool), where
    assert t["grad_fn"] is None or isinstance(t["grad_fn"], str), where
    if t["stats"] is not None:
        assert set(t["stats"]) == {"numel", "min", "max", "mean", "std", "norm", "nan", "inf"}, where
        assert t["stats"]["numel"] == math.prod(t["shape"]), where
    if t["values"] is not None:
        numel = math.prod(t["shape"])
        values = t["values"]

        def count(v: Any) -> int:
            return sum(count(x) for x in v) if isinstance(v, list) else 1

        assert count(values) == numel, where


def check_changes(changes: Any, where: str) -> None:
    assert isinstance(changes, dict), where
    for name, c in changes.items():
        assert isinstance(name, str)
        assert set(c) == {"before", "after"}, f"{where}.{name}"
        check_tensor(c["before"], f"{where}.{name}.before")
        check_tensor(c["after"], f"{where}.{name}.after")


def check_event(e: dict[str, Any]) -> None:
    where = f"events[{e.get('seq')}]"
    assert {"seq", "kind", "file", "line"} <= set(e), where
    assert isinstance(e["seq"], int) and isinstance(e["line"], int) and isinstance(e["file"], str)
    kind = e["kind"]
    if kind == "op":
        assert {"op", "grad_fn", "grad_enabled", "args", "output"} <= set(e), where
        assert isinstance(e["op"], str) and isinstance(e["grad_enabled"], bool)
        assert isinstance(e["args"], list) and all(isinstance(a, str) for a in e["args"])
        check_tensor(e["output"], f"{where}.output")
    elif kind == "backward":
        assert {"root", "loss", "grads"} <= set(e), where
        assert isinstance(e["root"], str)
        assert e["loss"] is None or isinstance(e["loss"], (int, float)) or e["loss"] in ("nan", "inf", "-inf")
        check_changes(e["grads"], f"{where}.grads")
    elif kind == "zero_grad":
        assert {"optimizer", "grads"} <= set(e), where
        assert set(e["optimizer"]) == {"name", "class"}
        check_changes(e["grads"], f"{where}.grads")
    elif kind == "step":
        assert {"optimizer", "hyperparams", "params", "state"} <= set(e), where
        assert set(e["optimizer"]) == {"name", "class"}
        assert isinstance(e["hyperparams"], list) and all(isinstance(g, dict) for g in e["hyperparams"])
        check_changes(e["params"], f"{where}.params")
        assert isinstance(e["state"], dict)
        for name, entry in e["state"].items():
            assert isinstance(entry, dict), f"{where}.state.{name}"
            for key, v in entry.items():
                if isinstance(v, dict):
                    check_tensor(v, f"{where}.state.{name}.{key}")
    elif kind == "output":
        assert {"stream", "text"} <= set(e), where
        assert e["stream"] in ("stdout", "stderr") and isinstance(e["text"], str)
    elif kind == "error":
        assert {"type", "message", "traceback"} <= set(e), where
        assert all(isinstance(e[k], str) for k in ("type", "message", "traceback")), where
    else:
        assert kind == "line", f"{where}: unknown kind {kind!r}"


def test_document_shape(run_script, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    kinds_seen: set[str] = set()
    for name, script in ROUND_TRIP_SCRIPTS.items():
        path = tmp_path / f"{name}.json"
        codec.save(run_script(script), path)
        doc = strict_json(path)
        assert doc["format"] == "gradtui-timeline" and doc["version"] == 1
        assert {"script", "argv", "status", "exit_code", "error", "events"} <= set(doc)
        assert [e["seq"] for e in doc["events"]] == list(range(len(doc["events"])))
        for e in doc["events"]:
            check_event(e)
            kinds_seen.add(e["kind"])
        errors = [i for i, e in enumerate(doc["events"]) if e["kind"] == "error"]
        assert errors in ([], [len(doc["events"]) - 1]), "an error event must be the last event"
    assert kinds_seen == {"line", "op", "backward", "zero_grad", "step", "output", "error"}


def test_document_numbers(run_script, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """Spot checks of values in the file itself, against the tutorial."""
    path = tmp_path / "lbfgs.json"
    codec.save(run_script(SCENARIOS / "lbfgs.py"), path)
    doc = strict_json(path)
    steps = [e for e in doc["events"] if e["kind"] == "step"]
    assert len(steps) == 2
    assert steps[0]["optimizer"] == {"name": "lbg_opt", "class": "LBFGS"}
    assert steps[0]["hyperparams"][0]["lr"] == 1
    # sum(theta*theta) from [1, -1] is a quadratic: LBFGS lands on [0, 0] in one step.
    assert steps[0]["params"]["tensor"]["before"]["values"] == [1.0, -1.0]
    assert steps[0]["params"]["tensor"]["after"]["values"] == [0.0, 0.0]

    path = tmp_path / "mlp.json"
    codec.save(run_script(SCRIPTS / "mlp_adam.py"), path)
    doc = strict_json(path)
    steps = [e for e in doc["events"] if e["kind"] == "step"]
    assert len(steps) == 3 and steps[0]["optimizer"] == {"name": "opt", "class": "Adam"}
    assert steps[0]["hyperparams"][0]["lr"] == 0.01
    assert steps[0]["hyperparams"][0]["betas"] == [0.9, 0.999]  # a tuple in torch, a list in JSON
    assert {"step", "exp_avg", "exp_avg_sq"} <= set(steps[0]["state"]["net.0.weight"])
    # Adam's first step moves every (non-zero-gradient) weight by lr: |after - before| ~ 0.01
    before = steps[0]["params"]["net.2.bias"]["before"]["values"]
    after = steps[0]["params"]["net.2.bias"]["after"]["values"]
    assert abs(abs(after[0] - before[0]) - 0.01) < 1e-4

    path = tmp_path / "raises.json"
    codec.save(run_script(SCRIPTS / "raises.py"), path)
    doc = strict_json(path)
    assert doc["status"] == "error" and doc["exit_code"] == 1
    error = [e for e in doc["events"] if e["kind"] == "error"]
    assert len(error) == 1
    assert error[0]["type"] == "RuntimeError" and error[0]["message"] == "boom from the script"
    assert "RuntimeError: boom from the script" in error[0]["traceback"]
    assert doc["error"]["type"] == "RuntimeError"


# ---------------------------------------------------------------- NaN and infinity

NAN, INF = float("nan"), float("inf")


def nonfinite_timeline() -> Timeline:
    values = TensorSummary((4,), "float32", requires_grad=True, grad_fn="DivBackward0",
                           values=[NAN, INF, -INF, 1.0])
    big = TensorSummary((2, 500), "float32", stats=TensorStats(numel=1000, min=-3.0, max=7.5, mean=0.25,
                                                                 std=1.5, norm=40.0, nan=1, inf=2))
    no_finite = TensorSummary((3,), "float64", stats=TensorStats(numel=3, min=None, max=None, mean=None,
                                                                  std=None, norm=None, nan=1, inf=2))
    scalar = TensorSummary((), "float32", values=NAN)
    events = [
        OpCalled(seq=0, file="x.py", line=3, op="div", grad_fn="DivBackward0", grad_enabled=True,
                 args=("a", "b"), output=values, graph=None),
        OpCalled(seq=1, file="x.py", line=4, op="randn", grad_enabled=False, args=("2", "500"), output=big,
                 grad_fn=None, graph=None),
        BackwardDone(seq=2, file="x.py", line=5, root="loss", loss=INF,
                     grads={"w": Change(None, no_finite), "s": Change(scalar, scalar)}, loss_scale=None, graph=None),
        GradsZeroed(seq=3, file="x.py", line=6, optimizer=Owner("opt", "SGD"), grads={"w": Change(no_finite, None)}),
        StepTaken(seq=4, file="x.py", line=7, optimizer=Owner("opt", "Adam"),
                  hyperparams=({"lr": 0.1, "betas": (0.9, 0.999), "eps": -INF, "foreach": None, "amsgrad": False},),
                  params={"w": Change(values, values)}, state={"w": {"step": 3.0, "exp_avg": big}}),
        OutputWritten(seq=5, file="x.py", line=8, stream="stdout", text="nan inf\n"),
    ]
    return Timeline(script="x.py", argv=["x.py"], events=events, status="finished", exit_code=0)


def test_nan_and_inf_are_strict_json_and_round_trip(tmp_path: Path) -> None:
    tl = nonfinite_timeline()
    path = tmp_path / "nonfinite.json"
    codec.save(tl, path)
    text = path.read_text(encoding="utf-8")
    for bare in ("NaN", "Infinity"):
        assert bare not in text
    doc = strict_json(path)  # raises on NaN / Infinity / -Infinity
    assert doc["events"][0]["output"]["values"] == ["nan", "inf", "-inf", 1.0]
    stats = doc["events"][1]["output"]["stats"]
    assert stats["nan"] == 1 and stats["inf"] == 2
    assert doc["events"][2]["loss"] == "inf"
    assert doc["events"][5]["text"] == "nan inf\n"

    loaded = codec.load(path)
    assert_same_timeline(tl, loaded)
    v = loaded.events[0].output.values
    assert math.isnan(v[0]) and v[1] == INF and v[2] == -INF and v[3] == 1.0
    assert all(isinstance(x, float) for x in v)
    assert loaded.events[1].output.stats == TensorStats(1000, -3.0, 7.5, 0.25, 1.5, 40.0, nan=1, inf=2)
    assert loaded.events[2].loss == INF
    assert math.isnan(loaded.events[2].grads["s"].after.values)
    assert loaded.events[4].hyperparams[0]["eps"] == -INF
    assert loaded.events[4].hyperparams[0]["betas"] == (0.9, 0.999)
    assert loaded.events[5].text == "nan inf\n"  # text stays text


def test_summary_with_nan_differs_from_one_without(tmp_path: Path) -> None:
    """The NaN-tolerant equality used above still tells different values apart."""
    a = TensorSummary((2,), "float32", values=[NAN, 1.0])
    assert a == TensorSummary((2,), "float32", values=[NAN, 1.0])
    assert a != TensorSummary((2,), "float32", values=[0.0, 1.0])
    assert a != TensorSummary((2,), "float32", values=[NAN, 2.0])


# ---------------------------------------------------------------- refusing files


def assert_refused(path: Path, *needles: str) -> str:
    """Loading ``path`` raises one line that names the file and contains ``needles``.

    The needles are looked for in the message without the path (tmp_path holds the
    test's name, which could contain a needle such as "truncated").
    """
    with pytest.raises(codec.TimelineFormatError) as info:
        codec.load(path)
    message = str(info.value)
    assert "\n" not in message.strip(), message
    assert str(path) in message, f"the message does not name the file: {message!r}"
    rest = message.replace(str(path), "")
    for needle in needles:
        assert needle in rest, f"{needle!r} not in {message!r}"
    return rest


@pytest.fixture(scope="module")
def saved_raw(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """A real timeline file (accumulation.py), as bytes."""
    from gradtui.engine.script import load_script
    from gradtui.engine.session import Session

    session = Session(load_script(str(SCENARIOS / "accumulation.py")), [])
    session.start()
    assert session.join(60)
    path = tmp_path_factory.mktemp("saved") / "acc.json"
    codec.save(session.timeline, path)
    return path.read_bytes()


def test_load_missing_file(tmp_path: Path) -> None:
    assert_refused(tmp_path / "nope.json", "no such file")


def test_load_directory(tmp_path: Path) -> None:
    assert_refused(tmp_path, "directory")


def test_load_not_json(tmp_path: Path) -> None:
    path = tmp_path / "notes.json"
    path.write_text("this is not JSON at all, {just words}\n")
    assert_refused(path, "not valid JSON")


def test_load_truncated(tmp_path: Path, saved_raw: bytes) -> None:
    # Cut in half, at the start of an event (so the cut is between JSON tokens).
    cut = saved_raw.rfind(b',{"seq":', 0, len(saved_raw) // 2) + 1
    assert 0 < cut < len(saved_raw) // 2 + 1
    path = tmp_path / "half.json"
    path.write_bytes(saved_raw[:cut])
    assert_refused(path, "truncated")
    path.write_bytes(saved_raw[: len(saved_raw) - 2])  # only the final "}\n" missing
    assert_refused(path, "truncated")


def _cut_inside(raw: bytes, token: bytes, keep: int) -> bytes:
    """``raw`` cut after the first ``keep`` bytes of the first ``token`` past its midpoint."""
    at = raw.index(token, len(raw) // 2)
    return raw[: at + keep]


@pytest.mark.parametrize(
    ("token", "keep"),
    [(b'"kind":"backward"', len(b'"kind":"back')), (b'"stats":null', len(b'"stats":nu'))],
    ids=["in-a-string", "in-null"],
)
def test_load_truncated_inside_a_token(tmp_path: Path, saved_raw: bytes, token: bytes, keep: int) -> None:
    path = tmp_path / "cut.json"
    path.write_bytes(_cut_inside(saved_raw, token, keep))
    assert_refused(path, "truncated")


def test_load_another_json_format(tmp_path: Path) -> None:
    path = tmp_path / "package.json"
    path.write_text(json.dumps({"name": "left-pad", "version": "1.3.0", "events": []}))
    assert_refused(path, "not a gradtui timeline")
    path.write_text("[1, 2, 3]")
    assert_refused(path, "not a gradtui timeline")


def test_load_version_2(tmp_path: Path, saved_raw: bytes) -> None:
    doc = json.loads(saved_raw)
    doc["version"] = 2
    path = tmp_path / "future.json"
    path.write_text(json.dumps(doc))
    message = assert_refused(path, "version")
    assert "2" in message


def test_load_binary_garbage(tmp_path: Path) -> None:
    path = tmp_path / "image.json"
    path.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\xff\xfe\xfd\x00\x80\x81" * 20)
    assert_refused(path)
    path.write_bytes(bytes(range(256)))
    assert_refused(path)


def test_load_bad_fields_name_the_place(tmp_path: Path, saved_raw: bytes) -> None:
    doc = json.loads(saved_raw)
    doc["events"][3]["seq"] = 7
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(doc))
    assert_refused(path, "events[3]", "seq")

    doc = json.loads(saved_raw)
    doc["events"][0]["kind"] = "teleport"
    path.write_text(json.dumps(doc))
    assert_refused(path, "events[0]", "teleport")

    doc = json.loads(saved_raw)
    doc["status"] = "exploded"
    path.write_text(json.dumps(doc))
    assert_refused(path, "status", "exploded")


def test_load_refuses_what_no_event_can_say(tmp_path: Path, saved_raw: bytes) -> None:
    """A negative line, or output to a stream a script does not have, names its place."""
    doc = json.loads(saved_raw)
    doc["events"][2]["line"] = -4
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(doc))
    assert_refused(path, "events[2]", "'line' must not be negative")

    doc = json.loads(saved_raw)
    output = next(e for e in doc["events"] if e["kind"] == "output")
    output["stream"] = "stdlog"
    path.write_text(json.dumps(doc))
    assert_refused(path, f"events[{output['seq']}]", "unknown stream 'stdlog'")


@pytest.mark.parametrize("field", ["hyperparams", "state"])
def test_load_step_with_malformed_groups(run_script, tmp_path: Path, field: str) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "lbfgs.json"
    codec.save(run_script(SCENARIOS / "lbfgs.py"), path)
    doc = json.loads(path.read_text())
    step = next(e for e in doc["events"] if e["kind"] == "step")
    if field == "hyperparams":
        step["hyperparams"] = [1]
    else:
        step["state"] = {"tensor": 1}
    path.write_text(json.dumps(doc))
    assert_refused(path, field)


def test_load_deeply_nested_json(tmp_path: Path) -> None:
    path = tmp_path / "deep.json"
    path.write_text("[" * 100_000 + "]" * 100_000)
    assert_refused(path)


def test_load_never_executes_anything(tmp_path: Path, saved_raw: bytes, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    victim = tmp_path / "X"
    payload = f"__import__('os').system('touch {victim}')"
    doc = json.loads(saved_raw)
    doc["script"] = payload
    doc["argv"] = [payload, payload]
    doc["torch_version"] = payload
    for e in doc["events"]:
        e["file"] = payload
        if e["kind"] == "op":
            e["op"] = payload
            e["args"] = [payload]
            e["output"]["dtype"] = payload
            e["output"]["grad_fn"] = payload
        elif e["kind"] == "output":
            e["text"] = payload
        elif e["kind"] == "backward":
            e["root"] = payload
            e["grads"] = {payload: e["grads"]["theta"]}
        elif e["kind"] == "zero_grad":
            e["optimizer"] = {"name": payload, "class": payload}
        elif e["kind"] == "line":
            e["function"] = payload
    path = tmp_path / "payload.json"
    path.write_text(json.dumps(doc))
    loaded = codec.load(path)
    assert not victim.exists()
    assert loaded.script == payload and loaded.argv == [payload, payload]
    ops = of_kind(loaded, "op")
    assert ops and all(e.op == payload and e.args == (payload,) and e.output.dtype == payload for e in ops)
    assert all(e.text == payload for e in of_kind(loaded, "output"))
    assert all(list(e.grads) == [payload] for e in of_kind(loaded, "backward"))

    # in fields that are refused, too
    for key in ("format", "version", "status"):
        bad = json.loads(saved_raw)
        bad[key] = payload
        path.write_text(json.dumps(bad))
        with pytest.raises(codec.TimelineFormatError):
            codec.load(path)
    path.write_bytes(payload.encode())
    with pytest.raises(codec.TimelineFormatError):
        codec.load(path)
    assert not victim.exists()
