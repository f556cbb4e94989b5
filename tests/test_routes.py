"""API routes: ``:param`` segments, static-first matching, 405s and conflicts."""

from __future__ import annotations

import pytest

from motiad.routes import Match, RouteConflict, RouteTable


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
