"""API routes: ``:param`` segments, static-first matching, 405s and conflicts."""

from __future__ import annotations

import pytest

from motiad.routes import STATIC_MATCHES_KEPT, Match, RouteConflict, RouteTable


def table() -> RouteTable[str]:
    routes: RouteTable[str] = RouteTable()
    routes.add("GET", "/messages/:text", "get-message")
    routes.add("POST", "/messages", "send")
    routes.add("GET", "/users/me", "me")
    routes.add("GET", "/users/:id", "user")
    routes.add("DELETE", "/users/:userId", "delete-user")
    return routes


def test_path_parameters_are_named_by_each_route() -> None:
    routes = table()
    assert routes.match("GET", "/messages/hi") == Match("get-message", {"text": "hi"})
    assert routes.match("GET", "/users/42") == Match("user", {"id": "42"})
    assert routes.match("DELETE", "/users/42") == Match("delete-user", {"userId": "42"})


def test_static_segments_win_over_parameters() -> None:
    assert table().match("GET", "/users/me") == Match("me", {})


def test_trailing_slashes_do_not_matter() -> None:
    assert table().match("POST", "/messages/") == Match("send", {})


def test_unknown_paths_give_none_and_wrong_methods_the_allowed_ones() -> None:
    routes = table()
    assert routes.match("GET", "/nope") is None
    assert routes.match("PUT", "/messages") == ["POST"]


def test_head_falls_back_to_get() -> None:
    assert table().match("HEAD", "/users/me") == Match("me", {})


def test_same_method_and_shape_conflict_whatever_the_parameter_names() -> None:
    routes = table()
    with pytest.raises(RouteConflict) as caught:
        routes.add("GET", "/messages/:id", "other")
    assert caught.value.existing == "get-message"


def test_a_remembered_static_match_follows_every_change_of_the_table() -> None:
    # static paths are remembered after their first match (the hot path): a
    # route removed or added later (motiad dev reloads) must be seen at once
    routes = table()
    assert routes.match("GET", "/users/me") == Match("me", {})
    assert routes.match("GET", "/users/me") == Match("me", {})
    routes.remove("GET", "/users/me")
    assert routes.match("GET", "/users/me") == Match("user", {"id": "me"})
    routes.add("GET", "/users/me", "me again")
    assert routes.match("GET", "/users/me") == Match("me again", {})
    assert routes.match("HEAD", "/users/me") == Match("me again", {})
    routes.add("HEAD", "/users/me", "head")
    assert routes.match("HEAD", "/users/me") == Match("head", {})


def test_each_match_gets_its_own_path_parameters() -> None:
    routes = table()
    first = routes.match("GET", "/users/me")
    assert isinstance(first, Match)
    first.path_params["injected"] = "x"  # a caller may hand them on and change them
    assert routes.match("GET", "/users/me") == Match("me", {})


def test_the_remembered_paths_are_bounded() -> None:
    # one route spelt many ways (``/users/me/``, ``//users/me``...) by a client
    routes = table()
    for slashes in range(1, STATIC_MATCHES_KEPT + 100):
        assert routes.match("GET", "/users/me" + "/" * slashes) == Match("me", {})
    assert len(routes._static) == STATIC_MATCHES_KEPT
