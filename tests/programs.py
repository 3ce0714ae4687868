"""Random small autograd programs for the agreement test, written as Python source.

A program declares one to three leaf Parameters, an optimizer over them, and a sequence of
actions: compute a loss from a random expression and call backward (sometimes with
``retain_graph`` and a second backward), ``opt.zero_grad()``, ``leaf.grad = None``,
``opt.step()``, clipping the gradients (by norm or by value), ``sched.step()`` of a
``StepLR`` and ``torch.autograd.grad`` of another expression. The same program is
rendered twice: plainly, for gradtui to run as a user's script, and with reference probes
after every action, for Python to run directly.
"""

from __future__ import annotations

from dataclasses import dataclass

from hypothesis import strategies as st

LEAF_NAMES = ("a", "b", "c")
SHAPES = {"scalar": "()", "vector": "(2,)", "matrix": "(2, 2)"}


@dataclass(frozen=True)
class Expr:
    code: str
    leaves: frozenset[str]
    shape: str  # "scalar" | "vector" | "matrix": after broadcasting


@dataclass(frozen=True)
class Program:
    leaves: tuple[tuple[str, str, tuple[float, ...]], ...]  # (name, shape, values)
    optimizer: str
    actions: tuple[tuple[str, ...], ...]

    def source(self, probes: bool = False) -> str:
        lines = ["import torch", ""]
        if probes:
            lines += ["PROBES = []", "def _v(t):", "    return None if t is None else t.detach().clone().tolist()", ""]
        for name, shape, values in self.leaves:
            size = {"scalar": 1, "vector": 2, "matrix": 4}[shape]
            lines.append(f"{name} = torch.nn.Parameter(torch.tensor({list(values[:size])!r}).reshape({SHAPES[shape]}))")
        names = [n for n, _, _ in self.leaves]
        lines.append(f"opt = {self.optimizer.format(params='[' + ', '.join(names) + ']')}")
        lines.append("sched = torch.optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.5)")
        lrs = "[g['lr'] for g in opt.param_groups]"
        grads = "{" + ", ".join(f"{n!r}: _v({n}.grad)" for n in names) + "}"
        params = "{" + ", ".join(f"{n!r}: _v({n})" for n in names) + "}"
        for action in self.actions:
            kind = action[0]
            if kind == "backward":
                code, retain, again = action[1], action[2] == "retain", action[3] == "again"
                lines.append(f"loss = {code}")
                calls = ["loss.backward(retain_graph=True)", "loss.backward()"] if again else \
                    [f"loss.backward(retain_graph={retain})"]
                for call in calls:
                    if probes:
                        lines.append(f"_before = {grads}")
                    lines.append(call)
                    if probes:
                        lines.append(f"PROBES.append(('backward', loss.item(), _before, {grads}))")
            elif kind == "zero_grad":
                if probes:
                    lines.append(f"_before = {grads}")
                lines.append("opt.zero_grad()")
                if probes:
                    lines.append(f"PROBES.append(('zero_grad', None, _before, {grads}))")
            elif kind == "set_none":
                lines.append(f"{action[1]}.grad = None")
            elif kind == "step":
                if probes:
                    lines.append(f"_before = {params}")
                lines.append("opt.step()")
                if probes:
                    lines.append(f"PROBES.append(('step', None, _before, {params}))")
            elif kind == "clip":
                # torch refuses to clip by value when no parameter has a gradient: only then.
                pad = "" if action[1] == "norm" else "    "
                if pad:
                    lines.append(f"if any(p.grad is not None for p in [{', '.join(names)}]):")
                if probes:
                    lines.append(f"{pad}_before = {grads}")
                call = (f"torch.nn.utils.clip_grad_norm_([{', '.join(names)}], {action[2]})" if action[1] == "norm"
                        else f"torch.nn.utils.clip_grad_value_([{', '.join(names)}], {action[2]})")
                lines.append(f"{pad}total = {call}")
                if probes:
                    norm = "total.item()" if action[1] == "norm" else "None"
                    lines.append(f"{pad}PROBES.append(('clip', {norm}, _before, {grads}))")
            elif kind == "schedule":
                if probes:
                    lines.append(f"_before = {lrs}")
                lines.append("sched.step()")
                if probes:
                    lines.append(f"PROBES.append(('schedule', None, _before, {lrs}))")
            elif kind == "grad":
                inputs = action[2].split(",")
                lines.append(f"out = {action[1]}")
                lines.append(f"found = torch.autograd.grad(out, [{', '.join(inputs)}], allow_unused=True)")
                if probes:
                    lines.append(f"PROBES.append(('grad', out.item(), {inputs!r}, [_v(g) for g in found]))")
        return "\n".join(lines) + "\n"


#: Shapes ``@`` accepts, and the shape it gives.
MATMUL = {
    ("matrix", "matrix"): "matrix",
    ("matrix", "vector"): "vector",
    ("vector", "matrix"): "vector",
    ("vector", "vector"): "scalar",
}


def _broadcast(x: str, y: str) -> str:
    order = ["scalar", "vector", "matrix"]
    return max(x, y, key=order.index)


def _leaf(name: str, shape: str) -> st.SearchStrategy[Expr]:
    return st.just(Expr(name, frozenset({name}), shape))


def expressions(leaves: dict[str, str]) -> st.SearchStrategy[Expr]:
    base = st.one_of(*[_leaf(n, s) for n, s in leaves.items()])

    def extend(children: st.SearchStrategy[Expr]) -> st.SearchStrategy[Expr]:
        def unary(e: Expr, op: str) -> Expr:
            code = {
                "exp": f"torch.exp(torch.tanh({e.code}))",  # bounded: no overflow
                "log": f"torch.log({e.code} * {e.code} + 1)",  # log of a positive
                "tanh": f"torch.tanh({e.code})",
                "pow": f"({e.code}) ** 2",
                "neg": f"-({e.code})",
            }[op]
            return Expr(code, e.leaves, e.shape)

        def binary(x: Expr, y: Expr, op: str) -> Expr:
            if op == "matmul":
                result = MATMUL.get((x.shape, y.shape))
                if result is not None:
                    return Expr(f"({x.code}) @ ({y.code})", x.leaves | y.leaves, result)
                op = "mul"
            code = {
                "add": f"({x.code}) + ({y.code})",
                "sub": f"({x.code}) - ({y.code})",
                "mul": f"({x.code}) * ({y.code})",
                "div": f"({x.code}) / (({y.code}) * ({y.code}) + 1)",  # never divides by zero
            }[op]
            return Expr(code, x.leaves | y.leaves, _broadcast(x.shape, y.shape))

        def reduce(e: Expr, op: str) -> Expr:
            return Expr(f"({e.code}).{op}()", e.leaves, "scalar")

        return st.one_of(
            st.builds(unary, children, st.sampled_from(["exp", "log", "tanh", "pow", "neg"])),
            st.builds(binary, children, children, st.sampled_from(["add", "sub", "mul", "div", "matmul"])),
            st.builds(reduce, children, st.sampled_from(["sum", "mean"])),
        )

    return st.recursive(base, extend, max_leaves=8)


OPTIMIZERS = (
    "torch.optim.SGD({params}, lr=0.1, momentum=0.9)",
    "torch.optim.Adam({params}, lr=0.05)",
    "torch.optim.RMSprop({params}, lr=0.01)",
)


@st.composite
def programs(draw: st.DrawFn) -> Program:
    count = draw(st.integers(1, 3))
    value = st.floats(-2.0, 2.0, allow_nan=False, width=32).map(lambda v: round(v, 3))
    leaves = tuple(
        (name, draw(st.sampled_from(list(SHAPES))), tuple(draw(st.lists(value, min_size=4, max_size=4))))
        for name in LEAF_NAMES[:count]
    )
    exprs = expressions({n: s for n, s, _ in leaves})
    action = st.one_of(
        exprs.flatmap(lambda e: st.tuples(
            st.just("backward"), st.just(f"({e.code}).sum()"), st.sampled_from(["retain", "free"]),
            st.sampled_from(["once", "once", "again"]), st.just(",".join(sorted(e.leaves))))),
        st.tuples(st.just("zero_grad")),
        st.tuples(st.just("set_none"), st.sampled_from([n for n, _, _ in leaves])),
        st.tuples(st.just("step")),
        st.tuples(st.just("clip"), st.just("norm"), st.sampled_from(["0.5", "2.0"])),
        st.tuples(st.just("clip"), st.just("value"), st.just("0.3")),
        st.tuples(st.just("schedule")),
        exprs.flatmap(lambda e: st.tuples(st.just("grad"), st.just(f"({e.code}).sum()"),
                                          st.just(",".join(sorted(e.leaves))))),
    )
    actions = tuple(draw(st.lists(action, min_size=1, max_size=8)))
    return Program(leaves, draw(st.sampled_from(OPTIMIZERS)), actions)
