"""The gradients panel's index gives what the full rebuild gives, at any cursor, in any order.

``GradIndex`` keeps what it decided about each backward, zero_grad, clip and unscale
event; ``history.grad_window`` rebuilds the histories from the window's events on every
call. The two are compared, leaf order and every entry included, and so are the pieces
the panel writes, on recorded runs (a tutorial, clipping by value with two optimizers,
``GradScaler`` unscaling, a transformer's many leaves), on made-up histories full of
what the rebuild must compare (values changed behind the script's back, equal copies,
NaN, clips that changed nothing), and on histories that grow while they are asked about,
as a live run's do. Cursors come in random orders, so an answer kept from one window is
reused in others.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from rich.text import Text

from gradtui.model import history
from gradtui.model.events import (
    BackwardDone,
    Change,
    Event,
    GradsClipped,
    GradsUnscaled,
    GradsZeroed,
    LineReached,
    Owner,
)
from gradtui.model.grad_index import KEEP_EVENTS, GradIndex
from gradtui.model.index import IndexedEvents
from gradtui.model.store.export import write_timeline
from gradtui.model.store.reader import Recording, StoredEvents
from gradtui.model.tensors import TensorStats, TensorSummary
from gradtui.ui.drawn_lines import DrawnLines
from gradtui.ui.view import View
from gradtui.ui.widgets.grads import GradHistory, render_grads
from tests.apptools import live_app, press, started
from tests.conftest import REPO, SCENARIOS

REAL = REPO / "tests" / "scripts" / "real"
FILE = "made_up.py"
OPT = Owner("opt", "SGD")
SCALER = Owner("scaler", "GradScaler")


def rebuilt(events: Sequence[Event], upto: int, window: int) -> tuple[list[tuple[str, list[history.GradEntry]]], bool]:
    """The reference: ``history.grad_window`` afresh, leaves in their order."""
    found = history.grad_window(events, upto, window)
    return list(found.histories.items()), found.cut


def indexed(index: GradIndex, upto: int) -> tuple[list[tuple[str, list[history.GradEntry]]], bool]:
    found = index.grad_window(upto)
    return list(found.histories.items()), found.cut


def rebuilt_pieces(events: Sequence[Event], upto: int, window: int) -> list[tuple[str, list[tuple[str, bool]]]]:
    found = history.grad_window(events, upto, window)
    return [(name, history.format_grad_history(entries, upto, cut=found.cut))
            for name, entries in found.histories.items()]


def agree(events: Sequence[Event], index: GradIndex, cursors: list[int], window: int) -> int:
    """Asserts index and rebuild agree at each cursor; how many of the windows were cut."""
    cuts = 0
    for upto in cursors:
        expected = rebuilt(events, upto, window)
        assert indexed(index, upto) == expected, f"window {window}, cursor {upto}"
        assert index.shown(upto, upto) == rebuilt_pieces(events, upto, window), f"window {window}, cursor {upto}"
        cuts += expected[1]
    return cuts


# ---------------------------------------------------------------- recorded runs


@pytest.mark.parametrize("script", [
    SCENARIOS / "accumulation.py",
    REAL / "two_optimizers.py",
    REAL / "grad_scaler.py",
    REAL / "transformer_block.py",
], ids=lambda p: p.stem)
def test_the_index_agrees_with_the_rebuild_on_a_recorded_run(run_script: Any, script: Path) -> None:
    events = run_script(script).events
    assert isinstance(events, StoredEvents)
    grad_events = events.positions([k.kind for k in history.GRAD_KINDS])
    assert len(grad_events) >= 4, "the run should write .grad several times"
    rng = random.Random(script.stem)
    cursors = rng.choices(range(len(events)), k=150) + [len(events) - 1, 0]
    cursors += rng.choices(grad_events, k=50)  # right on an event that writes .grad
    cut = 0
    for window in (history.GRAD_WINDOW, 3, 1):
        cut += agree(events, GradIndex(events, window), cursors, window)
    assert cut, "some window should have left earlier events out"


@pytest.mark.parametrize("one_line", [False, True], ids=["in full", "a line per leaf"])
def test_the_panel_text_is_the_one_the_rebuild_gives(run_script: Any, monkeypatch: pytest.MonkeyPatch,
                                                     one_line: bool) -> None:
    """The same index asked cursor after cursor, back from the end then forward again, as ``E`` and ``e`` walk:
    each leaf's history in full, and a line per leaf with its values as norms (what a model of more
    leaves than ``MANY_ROWS`` shows; here every run is made to show it so)."""
    from gradtui.ui.one_line_table import OneLineTable
    from gradtui.ui.widgets import grads

    monkeypatch.setattr(grads, "MANY_ROWS", 0 if one_line else 10**6)
    for script in (REAL / "two_optimizers.py", REAL / "transformer_block.py"):
        events = run_script(script).events
        index = GradIndex(events)
        walk = range(len(events) - 1, max(-1, len(events) - 201), -1)
        for upto in [*walk, *reversed(walk), *random.Random(script.stem).choices(range(len(events)), k=50)]:
            drawn = render_grads(View(events=events, cursor=upto), index)
            expected = reference_text(events, upto, brief=one_line)
            if isinstance(drawn, OneLineTable):  # its rows, written out as the full text writes a leaf
                assert one_line
                drawn = Text("\n").join(Text.assemble((f"{name}.grad", "bold green"), "  ", history)
                                         for name, history in drawn.rows)
            assert (drawn.plain, drawn.spans) == (expected.plain, expected.spans), f"{script.name} at {upto}"


def reference_text(events: Sequence[Event], upto: int, brief: bool = False) -> Text:
    """The panel's text as it was drawn before the index: from ``history.grad_window``, a piece at a time
    (each value as ``format_brief`` writes it, if ``brief``)."""
    from gradtui.model.formatting import format_brief

    window = history.grad_window(events, upto)
    if not window.histories:
        return Text("no backward() yet: every .grad is None", style="italic")
    out = Text(no_wrap=False)
    text = (lambda entry: format_brief(entry.value)) if brief else None
    for name, entries in window.histories.items():
        out.append(f"{name}.grad", style="bold green")
        out.append("  ")
        for i, (piece, is_current) in enumerate(history.format_grad_history(entries, upto, cut=window.cut,
                                                                             text=text)):
            if i:
                out.append(" ")
            if is_current:
                out.append(piece, style="bold reverse")
            elif piece == history.RESET_MARK:
                out.append(piece, style="magenta")
            elif piece in (history.CLIP_MARK, history.UNSCALE_MARK):
                out.append(piece, style="yellow")
            else:
                out.append(piece)
        out.append("\n")
    out.rstrip()
    return out


# ---------------------------------------------------------------- made-up histories


def ts(*values: float) -> TensorSummary:
    return TensorSummary(shape=(len(values),), dtype="float32", values=list(values))


def stats(mean: float) -> TensorSummary:
    return TensorSummary(shape=(64, 64), dtype="float32",
                         stats=TensorStats(numel=4096, min=mean - 1, max=mean + 1, mean=mean, std=0.5, norm=abs(mean)))


def made_up(rng: random.Random, count: int) -> list[Event]:
    """Events that write ``.grad`` of a few leaves in every way the rebuild has to compare.

    A ``before`` is the leaf's last value (the same summary, or an equal copy), or
    something else (the script changed ``.grad`` where no event saw it); values are
    None, small, NaN or statistics only; clips and unscales sometimes change nothing.
    """
    leaves = ["w", "b", "net.0.weight", "net.0.bias"]
    held: dict[str, TensorSummary | None] = dict.fromkeys(leaves)
    events: list[Event] = []

    def value() -> TensorSummary | None:
        pick = rng.random()
        if pick < 0.15:
            return None
        if pick < 0.25:
            return ts(math.nan, 1.0)
        if pick < 0.4:
            return stats(rng.choice([0.0, 0.5, 2.0]))
        return ts(float(rng.randint(0, 3)), float(rng.randint(0, 1)))

    def before(name: str) -> TensorSummary | None:
        last = held[name]
        pick = rng.random()
        if pick < 0.6 or last is None:
            return last if pick < 0.9 else value()
        copy = TensorSummary(last.shape, last.dtype, values=last.values, stats=last.stats)
        return copy if pick < 0.85 else value()

    for seq in range(count):
        kind = rng.choice(["backward", "zero_grad", "clip", "unscale", "line", "line"])
        touched = rng.sample(leaves, rng.randint(1, len(leaves)))
        grads: dict[str, Change] = {}
        for name in touched:
            was = before(name)
            if kind in ("clip", "unscale") and rng.random() < 0.5:
                now = was  # changed nothing: nothing new to show
            elif kind == "zero_grad":
                now = None if rng.random() < 0.7 else ts(0.0, 0.0)
            else:
                now = value()
            grads[name] = Change(was, now)
            held[name] = now
        where: dict[str, Any] = {"seq": seq, "file": FILE, "line": seq + 1}
        if kind == "backward":
            events.append(BackwardDone(**where, root="loss", loss=1.0, loss_scale=None, grads=grads, graph=None))
        elif kind == "zero_grad":
            events.append(GradsZeroed(**where, optimizer=OPT, grads=grads))
        elif kind == "clip":
            events.append(GradsClipped(**where, function="clip_grad_norm_", max=1.0, norm_type=2.0, total_norm=2.0,
                                       coef=0.5, clipped=True, grads=grads))
        elif kind == "unscale":
            events.append(GradsUnscaled(**where, scaler=SCALER, optimizer=OPT, scale=2.0, found_inf=False,
                                        grads=grads))
        else:
            events.append(LineReached(**where, function="<module>"))
    return events


@pytest.mark.parametrize("seed", range(6))
def test_the_index_agrees_with_the_rebuild_on_made_up_histories(seed: int) -> None:
    rng = random.Random(seed)
    events = made_up(rng, 120)
    for window in (1, 2, 3, 5, 8, history.GRAD_WINDOW):
        cursors = list(range(len(events))) * 2
        rng.shuffle(cursors)
        for listed in (events, IndexedEvents(events)):
            agree(listed, GradIndex(listed, window), cursors, window)


def test_a_window_of_none_gives_no_history() -> None:
    events = made_up(random.Random(7), 20)
    assert GradIndex(events, 0).grad_window(19) == history.grad_window(events, 19, 0)
    assert GradIndex(events, 0).shown(19, 19) == []


def test_a_long_walk_keeps_a_bounded_number_of_decisions() -> None:
    events = made_up(random.Random(8), 3 * KEEP_EVENTS)
    index = GradIndex(events, 4)
    for upto in range(len(events) - 1, -1, -1):
        index.grad_window(upto)
    assert 0 < len(index._written) <= KEEP_EVENTS
    assert indexed(index, len(events) - 1) == rebuilt(events, len(events) - 1, 4)  # the early ones forgotten, redone


# ---------------------------------------------------------------- histories that grow


def test_the_index_agrees_while_the_history_grows_in_memory() -> None:
    """As the live app reads it: the engine appends, the app knows more after each report."""
    rng = random.Random(11)
    every = made_up(rng, 160)
    grown: list[Event] = []
    events = IndexedEvents(grown, known=0)
    index = GradIndex(events, 5)
    for event in every:
        grown.append(event)
        if rng.random() < 0.3:  # a report: the app may read this far
            events.know(len(grown))
            for upto in rng.choices(range(len(grown)), k=6) + [len(grown) - 1]:
                assert indexed(index, upto) == rebuilt(every[: len(grown)], upto, 5)
                assert index.shown(upto, upto) == rebuilt_pieces(every[: len(grown)], upto, 5)


def test_the_index_agrees_while_a_recording_grows(run_script: Any, tmp_path: Path) -> None:
    """As the live app reads a run being recorded: ``StoredEvents`` knows a few more events at each report."""
    timeline = run_script(REAL / "two_optimizers.py")
    full = timeline.events
    path = tmp_path / "growing.gtr"
    write_timeline(timeline, path)  # a second reader of the same events, its ``known`` moved on by hand
    recording = Recording(path)
    try:
        events = StoredEvents(recording, known=0)
        index = GradIndex(events, 4)
        rng = random.Random(12)
        known = 0
        while known < len(full):
            known = min(len(full), known + rng.randint(1, 40))
            events.know(known)
            for upto in rng.choices(range(known), k=8) + [known - 1]:
                assert indexed(index, upto) == rebuilt(full, min(upto, known - 1), 4)
    finally:
        recording.close()


# ---------------------------------------------------------------- the panel in the app


async def test_the_panel_shows_what_the_rebuild_gives_as_the_cursor_walks() -> None:
    """The panel keeps its index across redraws; what it shows after each key is the rebuild's."""
    app = live_app(SCENARIOS / "accumulation.py")
    async with app.run_test(size=(120, 40)) as pilot:
        await started(pilot)
        await press(pilot, "c")
        body = app.query_one(GradHistory).query_one(DrawnLines)
        for key in ["E"] * 6 + ["e"] * 3 + ["S"] * 5 + ["s"] * 2 + ["C", "c"]:
            await press(pilot, key)
            drawn, expected = body.content, reference_text(app.events, app.cursor)
            assert isinstance(drawn, Text)
            assert (drawn.plain, drawn.spans) == (expected.plain, expected.spans), f"after {key!r} at {app.cursor}"
        await pilot.press("q")
