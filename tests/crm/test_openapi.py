from typing import Any

from litestar.testing import AsyncTestClient


async def test_every_api_operation_declares_its_problem_responses(client: AsyncTestClient[Any]) -> None:
    document = (await client.get("/schema/openapi.json")).json()
    assert {"apiKey", "apiKeyHeader"} <= document["components"]["securitySchemes"].keys()
    assert "ProblemDetails" in document["components"]["schemas"]
    operations = [
        (method, path, operation)
        for path, item in document["paths"].items()
        if path.startswith("/api/v1/")
        for method, operation in item.items()
        if method in ("get", "post", "put", "patch", "delete")
    ]
    assert len(operations) > 50
    for method, path, operation in operations:
        for status in ("401", "403", "404", "429"):
            content = operation["responses"][status]["content"]
            assert "application/problem+json" in content, (method, path, status)
        if method in ("put", "patch", "delete"):
            assert "412" in operation["responses"], (method, path)


async def test_reads_return_an_etag_that_updates_require_for_if_match(client: AsyncTestClient[Any]) -> None:
    document = (await client.get("/schema/openapi.json")).json()
    lead = document["paths"]["/api/v1/leads/{lead_id}"]
    assert "ETag" in lead["get"]["responses"]["200"]["headers"]
    assert any(p["name"] == "If-Match" and p["in"] == "header" for p in lead["patch"]["parameters"])
    upsert = document["paths"]["/api/v1/leads/by-external-id/{external_id}"]["put"]["responses"]
    assert {"200", "201"} <= upsert.keys()
