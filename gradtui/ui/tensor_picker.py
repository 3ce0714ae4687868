"""Which tensor to open: Enter in the gradients or parameters panel lists the tensors it shows.

Those panels are text, not lists; the picker turns their names into a choice, and the
app opens the chosen one in the tensor detail view.
"""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import OptionList, Static


class TensorPicker(ModalScreen["str | None"]):
    """The names offered; Enter opens one, Escape cancels."""

    BINDINGS = [Binding("escape", "cancel", "cancel")]

    def __init__(self, names: tuple[str, ...]) -> None:
        super().__init__()
        self.names = names

    def compose(self) -> ComposeResult:
        with Vertical(id="prompt"):
            yield Static(Text("Open which tensor in full?", style="bold"))
            yield OptionList(*self.names, id="picker")
            yield Static(Text("Enter opens it · Escape cancels", style="dim"))

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(self.names[event.option_index])

    def action_cancel(self) -> None:
        self.dismiss(None)
