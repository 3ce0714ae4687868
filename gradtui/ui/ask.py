"""The screen that answers the script's ``input()``: the app owns the terminal, so it asks.

Enter sends the line to the script, exactly what it would have read from a terminal;
Escape is end of input, so ``input()`` raises ``EOFError`` in the script as it would at
the end of a file.
"""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Static


class AskScreen(ModalScreen["str | None"]):
    """The script's prompt and a line to answer it."""

    BINDINGS = [Binding("escape", "end_of_input", "end of input (EOFError)")]

    def __init__(self, prompt: str) -> None:
        super().__init__()
        self.prompt = prompt

    def compose(self) -> ComposeResult:
        with Vertical(id="ask"):
            yield Static(Text("The script called input(). Its prompt:", style="bold"))
            yield Static(Text(self.prompt or "(no prompt)", style="italic" if not self.prompt else ""))
            yield Input(placeholder="type the answer, then Enter", id="answer")
            yield Static(Text("Enter sends it to the script · Escape ends the input (EOFError)", style="dim"))

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self.dismiss(event.value)

    def action_end_of_input(self) -> None:
        self.dismiss(None)
