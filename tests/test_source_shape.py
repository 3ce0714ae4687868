"""The source panel repaints without a new layout when only the marked line moves.

A Static lays the whole screen out again on every update. Moving the ``▶`` within one
file leaves every row as wide as it was, so the panel skips that; a new file, or text
that wraps, still gets its layout. The text shown is the same either way.
"""

from __future__ import annotations

import pytest
from rich.text import Text
from textual.app import App, ComposeResult
from textual.widgets import Static

from gradtui.model.events import LineReached
from gradtui.ui.view import View
from gradtui.ui.widgets.source import SourceView, render_source, text_shape

SHORT = "x = 1\ny = x * 2\nprint(y)\n"
LONGER = "import math\nx = math.pi\ny = x * 2 + 1\nprint(y)\n"


def test_moving_the_mark_or_a_breakpoint_keeps_the_shape_and_another_file_does_not() -> None:
    at_one = text_shape(render_source(SHORT, 1, set()))
    assert at_one == text_shape(render_source(SHORT, 3, {2})) == (9, 13, 12, 4, 0)  # "●▶n " and the line
    assert text_shape(render_source(LONGER, 1, set())) != at_one
    assert text_shape(Text("wraps at the panel's width")) is None


class _Harness(App[None]):
    def compose(self) -> ComposeResult:
        yield SourceView(id="source")


def _at(line: int, file: str) -> View:
    events = [LineReached(seq=0, file=file, line=line, function="<module>")]
    return View(events=events, cursor=0, sources={"a.py": SHORT, "b.py": LONGER})


async def test_stepping_within_a_file_repaints_and_a_new_file_lays_out(monkeypatch: pytest.MonkeyPatch) -> None:
    layouts: list[bool] = []
    real = Static.update

    def update(self: Static, content: object = "", *, layout: bool = True) -> None:
        layouts.append(layout)
        real(self, content, layout=layout)  # type: ignore[arg-type]

    monkeypatch.setattr(Static, "update", update)
    app = _Harness()
    async with app.run_test(size=(60, 10)) as pilot:
        source = app.query_one(SourceView)
        for line, file in ((1, "a.py"), (2, "a.py"), (3, "a.py"), (2, "b.py"), (4, "b.py")):
            source.show(_at(line, file))
            await pilot.pause()
            body = source.query_one(Static)
            assert str(body.render()) == str(render_source(SHORT if file == "a.py" else LONGER, line, set()))
        assert layouts == [True, False, False, True, False]
