"""A long result's or argument list's repr, rendered from its prefix, is exactly Celery's."""

from __future__ import annotations

from typing import Any

from celery.app import trace
from celery.utils.saferepr import saferepr
from hypothesis import given, settings
from hypothesis import strategies as st

from tasks import app  # noqa: F401  (connects modelfleet's hooks, which install the repr)
from worker_config.reprs import prefix_saferepr


class EmptyRepr:
    def __repr__(self) -> str:
        return ""


scalars = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=40),
    st.binary(max_size=8), st.just(EmptyRepr()),
)  # fmt: skip
values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=6),
        st.tuples(inner, inner),
        st.dictionaries(st.text(max_size=5), inner, max_size=4),
    ),
    max_leaves=30,
)


MAXLENS = st.sampled_from([1, 2, 3, 4, 5, 8, 13, 40, 100, 1024])


@settings(max_examples=400, deadline=None)
@given(items=st.lists(values, max_size=300), as_tuple=st.booleans(), maxlen=MAXLENS)
def test_a_long_result_renders_exactly_as_celery_renders_it(
    items: list[Any], as_tuple: bool, maxlen: int
) -> None:
    value: Any = tuple(items) if as_tuple else items
    assert prefix_saferepr(value, maxlen) == saferepr(value, maxlen)


@settings(max_examples=300, deadline=None)
@given(
    groups=st.lists(st.lists(values, max_size=120) | values, min_size=1, max_size=8),
    maxlen=MAXLENS,
)
def test_long_lists_one_level_down_render_exactly_as_celery_renders_them(
    groups: list[Any], maxlen: int
) -> None:
    # argsrepr of predict_batch is [[id, id, ...]]; a result may hold lists of lists
    assert prefix_saferepr(groups, maxlen) == saferepr(groups, maxlen)
    assert prefix_saferepr([groups], maxlen) == saferepr([groups], maxlen)


def test_a_batch_result_walks_only_the_items_its_repr_can_show() -> None:
    touched: set[int] = set()

    class Item:
        """Records each item Celery's repr looks at (``isinstance`` reads ``__class__``)."""

        def __init__(self, n: int) -> None:
            self.n = n

        @property  # type: ignore[misc]
        def __class__(self) -> type:
            touched.add(self.n)
            return Item

        def __repr__(self) -> str:
            return f"<{self.n}>"

    result = [Item(i) for i in range(12_500)]
    assert prefix_saferepr(result, 1024) == saferepr(result, 1024)
    touched.clear()
    saferepr(result, 1024)
    assert len(touched) == len(result)  # Celery's own walks every item to close brackets
    touched.clear()
    prefix_saferepr(result, 1024)
    assert len(touched) <= 1024 // 2 + 2
    assert prefix_saferepr([result], 1024) == saferepr([result], 1024)  # a batch's argsrepr
    touched.clear()
    prefix_saferepr([result], 1024)
    assert len(touched) <= 1024 // 2 + 2


def test_the_worker_tracer_uses_the_prefix_repr() -> None:
    assert trace.saferepr is prefix_saferepr  # type: ignore[attr-defined]
