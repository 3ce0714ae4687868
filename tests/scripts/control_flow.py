"""Control flow whose line events differ between tracing hooks if they are ever going to: one-line
loops, generators, try/finally, with, match, recursion, exceptions unwinding through frames."""
import contextlib
import torch

def gen(n):
    for i in range(n):
        yield i
    return "done"

def one_line_loops():
    x = 0
    for i in range(3): x += i
    while x < 10: x += 1
    y = [j * 2 for j in range(3)]
    z = {k: k for k in range(2)}
    return x, y, z

def tries():
    try:
        1 / 0
    except ZeroDivisionError:
        pass
    try:
        raise ValueError("x")
    except ValueError as e:
        msg = str(e)
    finally:
        msg = msg + "!"
    for i in range(3):
        try:
            if i == 1:
                continue
            if i == 2:
                break
        finally:
            pass
    return msg

def inner_raise():
    raise KeyError("k")

def outer():
    try:
        inner_raise()
    except KeyError:
        return "caught"

@contextlib.contextmanager
def ctx():
    yield 1

def withs():
    with ctx() as c:
        a = c + 1
    with open(__file__) as f:
        f.readline()
    return a

def multiline(a,
              b):
    r = max(
        a,
        b,
    )
    if (a >
            b):
        r += 1
    elif a == b:
        r -= 1
    else:
        r = (r
             + 2)
    return r

def whiles():
    n = 0
    while True:
        n += 1
        if n > 3:
            break
    while n:
        n -= 1
    return n

def gens():
    total = 0
    for v in gen(3):
        total += v
    g = gen(2)
    next(g)
    g.close()
    g = gen(1)
    try:
        g.throw(RuntimeError("t"))
    except RuntimeError:
        pass
    s = sum(x for x in range(4))
    return total, s

class K:
    a = 1
    def m(self):
        return self.a
    @property
    def p(self):
        return 2

def lambdas():
    f = lambda q: q + 1
    return f(1) + K().m() + K().p

def recursion(n):
    if n == 0:
        return 0
    return 1 + recursion(n - 1)

def unwind():
    def deep():
        raise OSError("o")
    try:
        deep()
    except OSError:
        pass
    assert True
    try:
        assert False, "no"
    except AssertionError:
        pass

async def co():
    return 5

def coros():
    c = co()
    try:
        c.send(None)
    except StopIteration as s:
        return s.value

def matches(v):
    match v:
        case 1:
            return "one"
        case [a, b]:
            return a + b
        case _:
            return None

for fn in (one_line_loops, tries, outer, withs, whiles, gens, lambdas, unwind, coros):
    fn()
multiline(1, 2); multiline(2, 1); multiline(1, 1)
recursion(3)
matches(1); matches([1, 2]); matches("x")
i = 0
while i < 2: i += 1
for i in range(2): pass
w = torch.ones(2, requires_grad=True)
for k in range(2): (w * k).sum().backward()
print("done", w.grad.tolist())
