"""Where a feed client resumes (`Last-Event-ID`, `?after=`) is read as ASCII digits within the event id column's
range, on both databases: anything else is 422 before the stream starts, never a 500 or a stream that dies
mid-way with a stack trace."""

from __future__ import annotations

import httpx
import pytest

from api.app import create_app
from api.inputs import EVENT_ID_MAX
from testkit.http_server import served
from testkit.service import bearer, service_settings

JAMES = "james_li_5688"
ODD = ["²", "١٢", "１２", "+12", "1 2", "1_2", "-1", "12.0", "0x10", str(EVENT_ID_MAX + 1), "9" * 40, ""]


@pytest.mark.parametrize("odd", ODD, ids=range(len(ODD)))
async def test_an_odd_resume_point_is_422(database_url: str, odd: str) -> None:
    app = create_app(service_settings(database_url))
    async with served(app) as url, httpx.AsyncClient(base_url=url, timeout=30) as client:
        conversation = (await client.post("/v1/conversations", headers=bearer(JAMES))).json()["id"]
        path = f"/v1/conversations/{conversation}/events"
        by_query = await client.get(path, headers=bearer(JAMES), params={"after": odd})
        assert by_query.status_code == 422, by_query.text
        assert by_query.json()["error"]["code"] == "invalid_after"
        if odd.strip():  # a blank header means "no header"
            by_header = await client.get(path, headers={**bearer(JAMES), "Last-Event-ID": odd.encode()})
            assert by_header.status_code == 422, by_header.text
            assert by_header.json()["error"]["code"] == "invalid_last_event_id"


async def test_the_largest_id_the_column_holds_opens_the_stream(database_url: str) -> None:
    app = create_app(service_settings(database_url))
    async with served(app) as url, httpx.AsyncClient(base_url=url, timeout=30) as client:
        conversation = (await client.post("/v1/conversations", headers=bearer(JAMES))).json()["id"]
        path = f"/v1/conversations/{conversation}/events"
        for headers, query in (({"Last-Event-ID": str(EVENT_ID_MAX)}, {}), ({}, {"after": str(EVENT_ID_MAX)})):
            async with client.stream("GET", path, headers={**bearer(JAMES), **headers}, params=query) as response:
                assert response.status_code == 200
                first = await anext(response.aiter_lines())
                assert first.startswith("retry:")
