"""The source panel draws the rows on screen alone, and moves the mark without a new layout.

A training script runs to thousands of lines; the panel must cost the same on every key
whatever the file's length. It draws only the rows in view (Textual's line API), keeps
the rows it drew, and keeps its size while the ``▶`` moves within one file, so the screen
is not laid out again; another file of another size is. What it shows is the text the
source has always been shown as (``render_source``, one text for the whole file).
"""

from __future__ import annotations

import pytest
from textual.app import App, ComposeResult

from gradtui.model.events import LineReached
from gradtui.ui.source_rows import SourceRows
from gradtui.ui.view import View
from gradtui.ui.widgets.source import SourceView, render_source

SHORT = "x = 1\ny = x * 2\nprint(y)\n"
LONGER = "import math\nx = math.pi\ny = x * 2 + 1\nprint(y)\n"
#: A script of 2,000 lines, the loop in its middle.
_DEFS = "".join(f"def f{i}(a):\n    return a + {i}\n\n" for i in range(330))
LONG = _DEFS + "for i in range(3):\n    y = f1(i)\n" + _DEFS
LONG_LOOP = _DEFS.count("\n") + 1


def _expected(text: str, line: int, marks: frozenset[int] = frozenset()) -> list[str]:
    """The panel's rows for a file of under ten lines, written out: a breakpoint ``●``, the
    ``▶``, the number and the code; the highlighter's closing empty line numbered too, then
    the empty row after the last."""
    code = text.rstrip("\n").split("\n") + [""]
    return [f"{'●' if n in marks else ' '}{'▶' if n == line else ' '}{n} {src}"
            for n, src in enumerate(code, start=1)] + [""]


def test_each_row_shows_its_line_its_marks_and_its_width() -> None:
    rows = SourceRows(SHORT)
    marks = frozenset({2})
    assert [rows.text(r, 3, marks).plain for r in range(rows.height)] == _expected(SHORT, 3, marks) == [
        "  1 x = 1", "● 2 y = x * 2", " ▶3 print(y)", "  4 ", ""]
    assert render_source(SHORT, 3, {2}).plain == "\n".join(_expected(SHORT, 3, marks))
    assert rows.widths == (9, 13, 12, 4, 0)
    current = rows.text(2, 3, marks)
    shaded = [(span.start, span.end) for span in current.spans if str(span.style) == "on #3a3a00"]
    assert shaded == [(0, len(current))]
    assert rows.state(2, 3, marks) == (True, False) and rows.state(1, 3, marks) == (False, True)


class _Harness(App[None]):
    def compose(self) -> ComposeResult:
        yield SourceView(id="source")


def _at(line: int, file: str) -> View:
    events = [LineReached(seq=0, file=file, line=line, function="<module>")]
    return View(events=events, cursor=0, sources={"a.py": SHORT, "b.py": LONGER, "long.py": LONG})


async def test_stepping_within_a_file_repaints_and_a_new_file_lays_out(monkeypatch: pytest.MonkeyPatch) -> None:
    layouts: list[bool] = []
    real = SourceView.refresh

    def refresh(self: SourceView, *regions: object, layout: bool = False, **kwargs: object) -> SourceView:
        layouts.append(layout)
        return real(self, *regions, layout=layout, **kwargs)  # type: ignore[arg-type]

    app = _Harness()
    async with app.run_test(size=(60, 10)) as pilot:
        source = app.query_one(SourceView)
        monkeypatch.setattr(SourceView, "refresh", refresh)
        seen = []
        for line, file in ((1, "a.py"), (2, "a.py"), (3, "a.py"), (2, "b.py"), (4, "b.py")):
            layouts.clear()
            source.show(_at(line, file))
            await pilot.pause()
            seen.append(any(layouts))
            assert source.shown_text().plain.split("\n") == _expected(SHORT if file == "a.py" else LONGER, line)
        assert seen == [True, False, False, True, False]


async def test_a_long_file_draws_the_rows_in_view_and_centres_the_line() -> None:
    app = _Harness()
    async with app.run_test(size=(60, 12)) as pilot:
        source = app.query_one(SourceView)
        drawn: list[int] = []
        real = source._row_strip

        def row_strip(rows, row, style):  # type: ignore[no-untyped-def]
            drawn.append(row)
            return real(rows, row, style)

        source._row_strip = row_strip  # type: ignore[method-assign]
        source.show(_at(LONG_LOOP, "long.py"))
        await pilot.pause()
        await pilot.pause()
        height = source.scrollable_content_region.height
        assert LONG_LOOP - 1 in drawn and len(set(drawn)) <= 2 * height  # a screenful or two, not the 2,000
        assert source.scroll_offset.y == LONG_LOOP - 1 - height // 2
        lines = [source.render_line(y).text for y in range(height)]
        assert any(line.startswith(f" ▶ {LONG_LOOP} for i in range(3):") for line in lines), lines


async def test_a_file_whose_text_is_not_available_says_so() -> None:
    app = _Harness()
    async with app.run_test(size=(60, 10)) as pilot:
        source = app.query_one(SourceView)
        source.show(_at(3, "gone.py"))  # in no recording's sources, and not on disk
        await pilot.pause()
        note = "(the source of gone.py is not available)"
        assert source.shown_text().plain.rstrip("\n") == note
        assert source.render_line(0).text.startswith(note)
