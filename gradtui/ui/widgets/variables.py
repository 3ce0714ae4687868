"""The variables panel: the paused frame's variables, its call stack, the watches and the prompt's answers.

Everything here is read from the timeline (``gradtui.model.scopes``), so stepping back
shows the variables as they were, and a replay shows them without torch. A tensor opens
into what the autograd tutorial asks of it (``requires_grad``, ``is_leaf``, ``grad_fn``,
``.grad``, ``_version``), a module into its parameters and buffers, an optimizer into its
groups and state. Enter on a tensor asks the app for its detail view (``TensorChosen``);
Space opens and closes a line; which frame is shown is the app's (``u``/``d``). What is
open stays open across steps.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from rich.text import Text
from textual.message import Message
from textual.widgets import Tree
from textual.widgets.tree import TreeNode

from gradtui.model.cells import place, short_place
from gradtui.model.scopes import NOT_RECORDED, frame_vars, stack_at
from gradtui.model.var_text import tensor_facts, var_line
from gradtui.model.variables import FrameRef, Var
from gradtui.ui.view import View


@dataclass(frozen=True, slots=True)
class Answer:
    """A prompt's or a watch's answer as the panel shows it."""

    text: str
    value: Var | None
    error: str | None
    #: The event it was evaluated at (the engine's newest when asked).
    seq: int


@dataclass(frozen=True, slots=True)
class Shown:
    """What a line of the panel stands for: ``name`` (and a member ``path``) in frame ``depth``."""

    key: tuple[str, ...]
    var: Var | None = None
    name: str = ""
    path: tuple[str, ...] = ()
    #: The expression that reads it in the live script (``net.get_parameter('0.weight')``).
    expression: str = ""
    depth: int = 0


class VariablesView(Tree[Shown]):
    """The variables of the frame in view; Enter on a tensor opens its detail."""

    class TensorChosen(Message):
        """The user asked for the detail of a tensor (Enter on its line)."""

        def __init__(self, shown: Shown) -> None:
            super().__init__()
            self.shown = shown

    def __init__(self, **kwargs: object) -> None:
        super().__init__("variables", **kwargs)  # type: ignore[arg-type]
        self.show_root = False
        self.guide_depth = 2
        #: Enter opens a tensor's detail (and opens or closes any other line); Space opens or closes.
        self.auto_expand = False
        #: Lines the user opened, by key: opened again when the panel is rebuilt.
        self._open: set[tuple[str, ...]] = {("frame",), ("watches",), ("answers",)}
        self._drawn: object = None
        self.depth = 0
        self.watches: Sequence[Answer] = ()
        self.answers: Sequence[Answer] = ()

    def show(self, view: View, depth: int = 0, watches: Sequence[Answer] = (),
             answers: Sequence[Answer] = ()) -> None:
        if not self.display or (self.parent is not None and not self.parent.display):
            return
        key = (id(view.events), view.cursor, len(view.events) if view.at_end else -1, depth,
               tuple(watches), tuple(answers))
        if key == self._drawn:
            return
        self._drawn = key
        self.depth, self.watches, self.answers = depth, watches, answers
        self._rebuild(view)

    def _rebuild(self, view: View) -> None:
        self.clear()
        root = self.root
        stack = stack_at(view.events, view.cursor)
        if self.watches:
            node = self._branch(root, "watches", Text("watches (w adds, re-evaluated at each pause)", style="bold"))
            for answer in self.watches:
                self._answer(node, answer, ("watches",))
        if self.answers:
            node = self._branch(root, "answers", Text(": answers (latest first)", style="bold"))
            for answer in self.answers:
                self._answer(node, answer, ("answers",))
        if not stack:
            root.add_leaf(Text(NOT_RECORDED if view.events else "no line has run yet", style="italic"))
            return
        depth = min(self.depth, len(stack) - 1)
        root.add_leaf(_stack_text(stack, depth, view.sources))
        scope = frame_vars(view.events, view.cursor, depth)
        if scope is None:
            return
        where = place(scope.ref.file, scope.ref.line, view.sources)
        frame = self._branch(root, "frame", Text(f"{scope.ref.function} · {where}", style="bold"))
        if not scope.complete:
            frame.add_leaf(Text("(part of this frame's history was not kept: some variables may be missing)",
                                style="italic"))
        if not scope.variables:
            frame.add_leaf(Text("no tensors, modules, optimizers or numbers bound here yet", style="italic"))
        for name, var in scope.variables.items():
            self._var(frame, name, var, ("frame", name), name, (), name, depth)
        self.cursor_line = min(self.cursor_line, max(0, self.last_line))

    def _branch(self, parent: TreeNode[Shown], key: str, label: Text) -> TreeNode[Shown]:
        node = parent.add(label, data=Shown((key,)))
        if (key,) in self._open:
            node.expand()
        return node

    def _answer(self, parent: TreeNode[Shown], answer: Answer, key: tuple[str, ...]) -> None:
        where = f"  (at event {answer.seq})"
        if answer.error is not None or answer.value is None:
            parent.add_leaf(Text.assemble((answer.text, "bold cyan"), "  ", (answer.error or "", "red"),
                                          (where, "dim")))
            return
        self._var(parent, answer.text, answer.value, (*key, answer.text), answer.text, (), answer.text, 0,
                  suffix=where)

    def _var(self, parent: TreeNode[Shown], label: str, var: Var, key: tuple[str, ...], name: str,
             path: tuple[str, ...], expression: str, depth: int, suffix: str = "") -> None:
        line = Text.assemble((label, "bold green"), "  ", var_line(var), (suffix, "dim"))
        shown = Shown(key, var, name, path, expression, depth)
        facts = var.tensor
        if facts is None and not var.members:
            parent.add_leaf(line, data=shown)
            return
        node = parent.add(line, data=shown)
        if facts is not None:
            for fact, text in tensor_facts(facts):
                node.add_leaf(Text.assemble((fact, "cyan"), "  ", text), data=shown)
        for member_name, member in var.members:
            self._var(node, member_name, member, (*key, member_name), name, (*path, member_name),
                      _member_expression(expression, var, member_name), depth)
        if var.length is not None and var.length > len(var.members):
            node.add_leaf(Text(f"… {var.length - len(var.members)} more", style="dim"))
        if key in self._open:
            node.expand()

    def on_tree_node_expanded(self, event: Tree.NodeExpanded[Shown]) -> None:
        if event.node.data is not None:
            self._open.add(event.node.data.key)

    def on_tree_node_collapsed(self, event: Tree.NodeCollapsed[Shown]) -> None:
        if event.node.data is not None:
            self._open.discard(event.node.data.key)

    def on_tree_node_selected(self, event: Tree.NodeSelected[Shown]) -> None:
        shown = event.node.data
        if shown is not None and shown.var is not None and shown.var.tensor is not None:
            self.post_message(self.TensorChosen(shown))
        elif event.node.allow_expand:
            event.node.toggle()


def _stack_text(stack: Sequence[FrameRef], depth: int, sources: Mapping[str, str]) -> Text:
    text = Text("stack (u/d): ", style="dim")
    for i, ref in enumerate(stack):
        if i:
            text.append(" ◂ ", style="dim")
        where = f"{ref.function} {short_place(ref.file, ref.line, sources)}"
        text.append(("▶ " + where) if i == depth else where, style="bold reverse" if i == depth else "")
    return text


def _member_expression(parent: str, var: Var, member: str) -> str:
    """How the live script reads a member: a module's parameter, a container's item."""
    if not parent:
        return ""
    if var.role == "module":
        return f"{parent}.get_parameter({member!r})" if _is_parameter(var, member) else \
            f"{parent}.get_buffer({member!r})"
    if var.role == "container" and member.startswith("["):
        return parent + member
    return ""  # an optimizer's state: shown as recorded


def _is_parameter(var: Var, member: str) -> bool:
    value = var.member(member)
    return value is not None and value.type == "Parameter"
