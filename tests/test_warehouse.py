"""Names from users are parsed and quoted, never pasted."""

from __future__ import annotations

import pytest

from recsql.warehouse import UnsafeName, quote


@pytest.mark.parametrize(
    ("name", "quoted"),
    [
        ("recommendations", '"recommendations"'),
        ("bi.recs", '"bi"."recs"'),
        ('"Weird Name"', '"Weird Name"'),
    ],
)
def test_plain_names_are_quoted(name: str, quoted: str) -> None:
    assert quote(name) == quoted


@pytest.mark.parametrize(
    "name",
    [
        "recs; drop table fct_candidates",
        'recs"; drop table x; --',
        "a b",
        "x -- comment",
        "f(1)",
        "a.b.c.d",
        "",
    ],
)
def test_anything_else_is_refused_with_the_name_in_the_message(name: str) -> None:
    with pytest.raises(UnsafeName, match="not a plain table or column name"):
        quote(name)
