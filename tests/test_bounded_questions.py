"""Every question the app asks of a long recording costs what it costs on a tutorial.

A made-up training loop of about 100,000 events (line, op, backward, print, step,
zero_grad, watch; a note now and then; a stretch of accumulation, updates by hand at the
end) is filed as a recording. Drawing every panel and answering every key, at the last
event and in the middle, must decode a bounded number of events (counted where the
recording decodes one) and look nodes up by id only, never walk the graph table; and
the answers must be those the same events give in memory, walked one by one. The
numbers the loop makes are plain arithmetic (``w.grad`` grows by 2 at each backward).
"""

from __future__ import annotations

import io
import math
import random
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from gradtui.model import graph_rows, history, navigation
from gradtui.model.events import (
    BackwardDone,
    Change,
    Event,
    GradsZeroed,
    LineReached,
    OpCalled,
    OutputWritten,
    Owner,
    ParamsUpdated,
    StepTaken,
    ValueWatched,
)
from gradtui.model.graph import GraphNode, parent_counts, reachable
from gradtui.model.index import IndexedEvents
from gradtui.model.navigation import BACK_KINDS, FORWARD_KINDS, Cursor
from gradtui.model.stops import EventStop
from gradtui.model.store.export import write_timeline
from gradtui.model.store.reader import Recording, StoredEvents
from gradtui.model.tensors import TensorSummary
from gradtui.model.thinning import SeriesSummary
from gradtui.model.timeline import Timeline
from gradtui.ui.app import GradtuiApp
from gradtui.ui.graph_labels import focus_label, row_label
from gradtui.ui.plot_series import prepare, prepare_thinned
from gradtui.ui.view import View
from gradtui.ui.widgets.grads import render_grads
from gradtui.ui.widgets.optimizer import render_optimizer
from gradtui.ui.widgets.output import render_output
from gradtui.ui.widgets.params import render_params
from gradtui.ui.widgets.plot import PLOT_POINTS
from gradtui.ui.widgets.status import render_status
from tests.apptools import THEME, press
from tests.conftest import SCENARIOS

FILE = "loop.py"
ITERATIONS = 14_000  # seven events each
ACCUMULATE = 100  # backward passes into w.grad with no zero_grad between
NOTE_EVERY = 1_000
END_LINE = 18  # the last line of the run, reached once
LR = 1e-4
#: Events a redraw of every panel and every key's answer may decode, cold.
DECODES = 500


def ts(value: float) -> TensorSummary:
    return TensorSummary(shape=(1,), dtype="float32", values=[value])


def long_run() -> Timeline:
    events: list[Event] = []
    graph: dict[int, GraphNode] = {}

    def add(cls: type[Any], line: int, **fields: Any) -> None:
        events.append(cls(seq=len(events), file=FILE, line=line, **fields))

    def mul(name: str, value: float) -> int:
        node = len(graph)
        graph[node] = GraphNode(node, "MulBackward0", (node + 1, node + 1))
        graph[node + 1] = GraphNode(node + 1, "AccumulateGrad", (), name)
        add(OpCalled, 4, op="mul", grad_fn="MulBackward0", grad_enabled=True, args=(name, name),
            output=ts(value * value), graph=node)
        return node

    sgd = Owner("opt", "SGD")
    theta = 1.0
    for k in range(ITERATIONS):
        add(LineReached, 3, function="<module>")
        node = mul("theta", theta)
        notes = ("a note",) if k % NOTE_EVERY == NOTE_EVERY - 1 else ()
        add(BackwardDone, 5, root="loss", loss=theta * theta, loss_scale=None, graph=node, notes=notes,
            grads={"theta": Change(None, ts(2 * theta))})
        add(OutputWritten, 6, stream="stdout", text=f"step {k} loss {theta * theta:.6g}\n")
        after = theta - LR * 2 * theta
        add(StepTaken, 7, optimizer=sgd, hyperparams=({"lr": LR},), state={},
            params={"theta": Change(ts(theta), ts(after))})
        add(GradsZeroed, 8, optimizer=sgd, grads={"theta": Change(ts(2 * theta), None)})
        theta = after
        add(ValueWatched, 9, name="theta", value=theta)
    for j in range(ACCUMULATE):  # w = 1, loss = w * w: each backward adds 2 to w.grad
        add(LineReached, 12, function="<module>")
        node = mul("w", 1.0)
        add(BackwardDone, 13, root="loss", loss=1.0, loss_scale=None, graph=node,
            grads={"w": Change(ts(2.0 * j) if j else None, ts(2.0 * (j + 1)))})
    add(ParamsUpdated, 15, op="-=", args=("w",), grad_enabled=False, through_data=False,
        params={"w": Change(ts(1.0), ts(1.0 - 0.1 * 2 * ACCUMULATE))})
    add(ParamsUpdated, 16, op="-=", args=("theta",), grad_enabled=False, through_data=False,
        params={"theta": Change(ts(theta), ts(theta))})
    add(OutputWritten, 17, stream="stdout", text="done\n")
    add(LineReached, END_LINE, function="<module>")
    source = "".join(f"x{i} = {i}\n" for i in range(1, END_LINE + 1))
    return Timeline(script=FILE, argv=[], events=events, status="finished", exit_code=0, graph=graph,
                    sources={FILE: source})


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Timeline, Path]:
    tl = long_run()
    path = tmp_path_factory.mktemp("long") / "long.gtr"
    write_timeline(tl, path)
    return tl, path


class Decodes:
    """Counts the events a recording decodes (a cache hit is no decode)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.count = 0
        decode = StoredEvents._decode

        def counted(events: StoredEvents, row: tuple[Any, ...]) -> Event:
            self.count += 1
            return decode(events, row)

        monkeypatch.setattr(StoredEvents, "_decode", counted)


class LookupsOnly(Mapping[int, GraphNode]):
    """A graph table that may be asked for nodes by id, and refuses to be walked."""

    def __init__(self, graph: Mapping[int, GraphNode]) -> None:
        self._graph = graph

    def __getitem__(self, node_id: int) -> GraphNode:
        return self._graph[node_id]

    def __contains__(self, node_id: object) -> bool:
        return node_id in self._graph

    def __iter__(self) -> Iterator[int]:
        raise AssertionError("the whole graph table was walked")

    def __len__(self) -> int:
        raise AssertionError("the whole graph table was counted")


def text(renderable: Any) -> str:
    console = Console(width=100, file=io.StringIO(), color_system=None, record=True)
    console.print(renderable)
    return console.export_text()


def answers(events: Any, graph: Mapping[int, GraphNode], cursor: int, sources: Mapping[str, str]) -> dict[str, Any]:
    """What every panel shows and where every key goes, from ``cursor``: as the app asks."""
    view = View(events=events, cursor=cursor, graph=graph, sources=sources, finished=True, status="finished")
    out: dict[str, Any] = {name: text(render(view)) for name, render in (
        ("status", render_status), ("grads", render_grads), ("params", render_params),
        ("optimizer", render_optimizer), ("output", render_output))}
    focus = history.focus_graph_event(events, cursor)
    assert focus is not None and focus.graph is not None
    top = graph_rows.lay_out(graph, focus.graph)
    shared = {n: c for n, c in parent_counts(graph, focus.graph).items() if c > 1}
    out["graph"] = [text(focus_label(view, focus)), len(reachable(graph, focus.graph)),
                    *(text(row_label(row, graph, shared, {})) for row in graph_rows.walk(top) if row is not top)]
    loss = history.latest(events, cursor, (BackwardDone,))
    watch = history.latest(events, cursor, (ValueWatched,))
    assert loss is not None and watch is not None
    out["plot"] = [prepare_thinned(history.loss_series(events, loss.seq, PLOT_POINTS)),
                   prepare_thinned(history.watch_series(events, watch.seq, "theta", PLOT_POINTS))]
    spots = {(FILE, END_LINE), (FILE, 15)}
    for stops in ([], [EventStop("backward")], [EventStop("note")], [EventStop("step"), EventStop("update")]):
        for kind in FORWARD_KINDS:
            out[f"{kind} {stops}"] = navigation.forward(events, Cursor(cursor), kind, more_coming=False,
                                                        breakpoints=spots, stops=stops)
    for kind in BACK_KINDS:
        out[f"back {kind}"] = navigation.back(events, Cursor(cursor), kind)
    return out


@pytest.mark.parametrize("where", ["last", "middle", "accumulating"])
def test_every_panel_and_key_decodes_a_bounded_number_of_events(run: tuple[Timeline, Path], where: str,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    tl, path = run
    count = len(tl.events)
    cursor = {"last": count - 1, "middle": count // 2, "accumulating": count - 30}[where]
    decodes = Decodes(monkeypatch)
    recording = Recording(path)
    try:
        stored = recording.timeline()
        assert len(stored.events) == count
        got = answers(stored.events, LookupsOnly(stored.graph), cursor, stored.sources)
        assert decodes.count < DECODES, f"{decodes.count} events decoded for one redraw and every key"
    finally:
        recording.close()
    # The same events in memory, indexed, and walked one by one: the same answers.
    assert answers(IndexedEvents(tl.events), tl.graph, cursor, tl.sources) == got
    walked = answers(tl.events, tl.graph, cursor, tl.sources)
    assert {k: v for k, v in walked.items() if k != "plot"} == {k: v for k, v in got.items() if k != "plot"}
    # The plot from the thinned series reads as from every point: scale, range, ends.
    loss = history.latest(tl.events, cursor, (BackwardDone,))
    watch = history.latest(tl.events, cursor, (ValueWatched,))
    assert loss is not None and watch is not None
    watched = history.watch_points(tl.events, watch.seq, "theta")
    for thin, whole in zip(got["plot"], (prepare([(float(n), y) for n, y in history.loss_points(tl.events, loss.seq)]),
                                         prepare([(float(i), y) for i, (_, y) in enumerate(watched)]))):
        assert (thin.scale, min(thin.ys), max(thin.ys), thin.xs[0], thin.xs[-1], thin.notes()) == (
            whole.scale, min(whole.ys), max(whole.ys), whole.xs[0], whole.xs[-1], whole.notes())
        assert len(thin.xs) <= PLOT_POINTS < len(whole.xs)


def test_the_answers_are_the_runs_own(run: tuple[Timeline, Path]) -> None:
    """What the long run must show, by its arithmetic, read from the recording."""
    tl, path = run
    recording = Recording(path)
    try:
        events = recording.timeline().events
        last = len(events) - 1
        grads = history.grad_window(events, last)
        # 64 backward passes of the accumulation: w.grad 2·(ACCUMULATE - 63) … 2·ACCUMULATE.
        assert grads.cut and list(grads.histories) == ["w"]
        values = [e.value.scalar() if e.value else None for e in grads.histories["w"]]
        assert values == [2.0 * j for j in range(ACCUMULATE - history.GRAD_WINDOW, ACCUMULATE + 1)]
        shown = history.format_grad_history(grads.histories["w"], last, cut=grads.cut)
        assert " ".join(p for p, _ in shown) == "… → " + " → ".join(str(2 * j) for j in range(89, 101))
        number = ITERATIONS + ACCUMULATE
        assert navigation.next_stop(events, 0, navigation.Continue(frozenset({(FILE, END_LINE)}))) == last
        noted = navigation.next_stop(events, 0, navigation.Continue(stops=(EventStop("note"),)))
        assert noted is not None and events[noted].notes and history.backward_number(events, noted) == NOTE_EVERY
        back = navigation.prev_stop(events, last, navigation.Continue(stops=(EventStop("note"),)))
        assert back is not None and history.backward_number(events, back) == ITERATIONS // NOTE_EVERY * NOTE_EVERY
        loss = history.loss_series(events, last, PLOT_POINTS)
        assert loss.count == number and not loss.exact and len(loss.points) <= PLOT_POINTS
        assert loss.points[0] == (1.0, 1.0) and loss.points[-1] == (float(number), 1.0)
        lowest = (1 - 2 * LR) ** (2 * (ITERATIONS - 1))  # theta shrinks by 1 - 2·lr per step; loss is its square
        assert min(y for _, y in loss.points) == pytest.approx(lowest, rel=1e-9)
        assert len(history.loss_points(events, last)) == number
    finally:
        recording.close()


async def test_the_app_on_the_long_recording_decodes_little_per_key(run: tuple[Timeline, Path],
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    tl, path = run
    recording = Recording(path)
    try:
        app = GradtuiApp(recording.timeline(), theme=THEME)
        async with app.run_test(size=(100, 30)) as pilot:
            await pilot.pause()
            decodes = Decodes(monkeypatch)
            expected = Cursor(0)
            for key, kind in (("c", "continue"), ("E", "event"), ("N", "line"), ("S", "op"), ("e", "event"),
                              ("n", "line"), ("s", "op"), ("E", "event")):
                before = decodes.count
                await press(pilot, key)
                # Where the key goes, by the walk over the events in memory.
                move = (navigation.forward(tl.events, expected, kind, more_coming=False) if key.islower()
                        else navigation.back(tl.events, expected, kind))
                assert not isinstance(move, navigation.Resume)
                expected = move if isinstance(move, Cursor) else move.cursor
                assert (app.cursor, app.node_cursor) == (expected.event, expected.node)
                assert decodes.count - before < DECODES, f"{key}: {decodes.count - before} events decoded"
    finally:
        recording.close()


def test_the_gradient_history_of_the_accumulation_tutorial_from_its_recording(run_script: Any, tmp_path: Path) -> None:
    tl = run_script(SCENARIOS / "accumulation.py")
    write_timeline(tl, tmp_path / "accumulation.gtr")
    recording = Recording(tmp_path / "accumulation.gtr")
    try:
        events = recording.timeline().events
        last = len(events) - 1
        entries = history.grad_history(events, last)["theta"]
        # The tutorial: 2, then 4, 6, 8 without zero_grad; zero_grad -> None, then 2, twice.
        assert [e.value.scalar() if e.value else None for e in entries] == [None, 2, 4, 6, 8, None, 2, None, 2]
        assert " ".join(p for p, _ in history.format_grad_history(entries, last)) == (
            "None → 2 → 4 → 6 → 8 ⟲ zero_grad → None → 2 ⟲ zero_grad → None → 2")
        assert history.grad_history(events, last) == history.grad_history(tl.events, last)
    finally:
        recording.close()


def test_a_window_shorter_than_the_history_cuts_it_with_an_ellipsis() -> None:
    events: list[Event] = [
        BackwardDone(seq=i, file=FILE, line=1, root="loss", loss=1.0, loss_scale=None, graph=None,
                     grads={"w": Change(ts(2.0 * i) if i else None, ts(2.0 * (i + 1)))})
        for i in range(5)
    ]
    for listed in (events, IndexedEvents(events)):
        window = history.grad_window(listed, 4, window=2)
        assert window.cut and [e.seq for e in window.histories["w"]] == [3, 3, 4]
        assert " ".join(p for p, _ in history.format_grad_history(window.histories["w"], 4, cut=True)) == (
            "… → 6 → 8 → 10")
        assert not history.grad_window(listed, 4, window=5).cut
    assert history.grad_window(events, 4, window=5).histories == history.grad_history(events, 4)


def test_a_recordings_loss_keeps_nan_and_inf(tmp_path: Path) -> None:
    losses = [1.0, math.nan, 0.5, math.inf, None, 0.25]
    events: list[Event] = [
        BackwardDone(seq=i, file=FILE, line=1, root="loss", loss=loss, loss_scale=None, graph=None, grads={})
        for i, loss in enumerate(losses)
    ]
    events += [ValueWatched(seq=len(events) + i, file=FILE, line=2, name="x", value=v)
               for i, v in enumerate([math.nan, 2.0, None])]
    write_timeline(Timeline(script=FILE, argv=[], events=events, status="finished"), tmp_path / "nan.gtr")
    recording = Recording(tmp_path / "nan.gtr")
    try:
        stored = recording.timeline().events
        for got in (history.loss_points(stored, 99), history.loss_points(IndexedEvents(events), 99)):
            assert [n for n, _ in got] == [1, 2, 3, 4, 6]
            assert [y for _, y in got if math.isfinite(y)] == [1.0, 0.5, 0.25]
            assert math.isnan(got[1][1]) and got[3][1] == math.inf
        watched = history.watch_points(stored, 99, "x")
        assert [s for s, _ in watched] == [6, 7] and math.isnan(watched[0][1]) and watched[1][1] == 2.0
        series = prepare_thinned(history.loss_series(stored, 99, PLOT_POINTS))
        assert (series.nans, series.infs, series.ys) == (1, 1, (1.0, 0.5, 0.25))
    finally:
        recording.close()


def test_a_thinned_series_keeps_every_stretchs_extremes_and_counts_the_rest() -> None:
    rng = random.Random(7)
    ys = [rng.choice([math.nan, math.inf, -math.inf, -1.0, 0.0]) if rng.random() < 0.05 else rng.uniform(0.1, 10)
          for _ in range(20_000)]
    ys[12_345] = 1e6  # a spike
    rows = [(3 * i + 1, float(i + 1), y) for i, y in enumerate(ys)]  # seq, x, y

    def source(after: int, upto: int, limit: int) -> list[tuple[int, float, float]]:
        found = [r for r in rows if after < r[0] <= upto]
        return found if limit < 0 else found[:limit]

    summary = SeriesSummary(source)
    for upto in (0, 1, 150, 3000, 3 * 12_345 + 1, 40_000, 3 * 19_999 + 1):
        prefix = [(x, y) for seq, x, y in rows if seq <= upto]
        thinned = summary.thinned(upto, 300)
        finite = [p for p in prefix if math.isfinite(p[1])]
        assert thinned.count == len(prefix)
        if len(prefix) <= 300:
            assert thinned.exact and list(thinned.points) == prefix
            continue
        assert not thinned.exact and len(thinned.points) <= 300 + 100
        assert set(thinned.points) <= set(prefix) and list(thinned.points) == sorted(thinned.points)
        assert thinned.points[0] == prefix[0] and thinned.points[-1] == prefix[-1]
        assert (thinned.nans, thinned.infs) == (sum(math.isnan(y) for _, y in prefix),
                                               sum(math.isinf(y) for _, y in prefix))
        assert thinned.non_positive == sum(y <= 0 for _, y in finite)
        kept = [y for _, y in thinned.points if math.isfinite(y)]
        assert (min(kept), max(kept)) == (min(y for _, y in finite), max(y for _, y in finite))
        assert min(y for y in kept if y > 0) == min(y for _, y in finite if y > 0)
        whole, thin = prepare(prefix, "log"), prepare_thinned(thinned, "log")
        assert (thin.scale, thin.nans, thin.infs, thin.non_positive, thin.latest_left_out) == (
            whole.scale, whole.nans, whole.infs, whole.non_positive, whole.latest_left_out)
        assert (min(thin.ys), max(thin.ys), thin.xs[0], thin.xs[-1]) == (
            min(whole.ys), max(whole.ys), whole.xs[0], whole.xs[-1])


def _plans(recording: Recording, asked: list[tuple[str, tuple[Any, ...]]]) -> list[tuple[str, list[str]]]:
    return [(sql, [row[3] for row in recording.execute("EXPLAIN QUERY PLAN " + sql, params)])
            for sql, params in asked]


def test_the_curves_read_their_indexes_not_the_events(run: tuple[Timeline, Path],
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """The loss curve and a watched value read every point of the run, so each point must
    come from an index, never from a page of the events table among the payloads (the first
    jump to the end of a long recording read the whole curve that way). Only the branch for
    NaN points, which SQLite files as NULL, reads the payload, and only for those points."""
    timeline, path = run
    recording = Recording(path)
    asked: list[tuple[str, tuple[Any, ...]]] = []
    execute = recording.execute

    def noted(sql: str, params: Any = ()) -> list[Any]:
        asked.append((sql, tuple(params)))
        return execute(sql, params)

    try:
        stored = recording.timeline().events
        monkeypatch.setattr(recording, "execute", noted)
        last = len(timeline.events) - 1
        history.loss_series(stored, last, PLOT_POINTS)
        history.watch_series(stored, last, "theta", PLOT_POINTS)
        monkeypatch.undo()
        curves = [(sql, params) for sql, params in asked if "value IS NULL" in sql]  # the curves' own queries
        assert {"backward" in sql for sql, _ in curves} == {True, False}, asked
        for sql, plan in _plans(recording, curves):
            assert not [p for p in plan if p.startswith("SCAN")], (sql, plan)
            searches = [p for p in plan if p.startswith("SEARCH")]
            narrow = [p for p in searches if "COVERING INDEX" not in p]
            assert len(searches) >= 2 and len(narrow) == sql.count("json_extract") == 1, (sql, plan)
    finally:
        recording.close()
