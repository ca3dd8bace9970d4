import asyncio
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

from litestar.testing import AsyncTestClient
from openapi_spec_validator.validation import OpenAPIV31SpecValidator

from crm.access.idempotency import serves
from tests.conftest import Caller


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


async def served_document(client: AsyncTestClient[Any]) -> dict[str, Any]:
    response = await client.get("/schema/openapi.json")
    assert response.status_code == 200
    document: dict[str, Any] = response.json()
    return document


async def test_every_post_the_idempotency_middleware_serves_declares_its_headers(client: AsyncTestClient[Any]) -> None:
    document = await served_document(client)
    served = [
        (path, item["post"])
        for path, item in document["paths"].items()
        if "post" in item and serves("POST", path) and item["post"].get("security") != [{}]
    ]
    assert len(served) > 25
    for path, operation in served:
        keys = [p for p in operation.get("parameters", []) if p["name"] == "Idempotency-Key" and p["in"] == "header"]
        assert len(keys) == 1 and keys[0]["schema"]["type"] == "string", path
        for status, response in operation["responses"].items():
            if status.startswith("2"):
                assert "Idempotent-Replayed" in response.get("headers", {}), (path, status)
    others = [
        (path, method)
        for path, item in document["paths"].items()
        for method, operation in item.items()
        if method in ("get", "put", "patch", "delete")
        and any(p["name"] == "Idempotency-Key" for p in operation.get("parameters", []))
    ]
    assert others == []
    webhook = document["paths"]["/api/v1/webhooks/mentions/{watch_id}"]["post"]
    assert not any(p["name"] == "Idempotency-Key" for p in webhook.get("parameters", []))


async def test_imports_and_exports_declare_their_real_bodies_and_statuses(client: AsyncTestClient[Any]) -> None:
    paths = (await served_document(client))["paths"]
    for path in ("/api/v1/leads/export.csv", "/api/v1/contacts/export.csv"):
        assert list(paths[path]["get"]["responses"]["200"]["content"]) == ["text/csv; charset=utf-8"], path
    csv_import = paths["/api/v1/contacts/import"]["post"]
    assert "text/csv" in csv_import["requestBody"]["content"]
    assert {"200", "201"} <= csv_import["responses"].keys()
    assert "application/problem+json" in csv_import["responses"]["422"]["content"]
    jsonl = paths["/api/v1/watches/{watch_id}/mentions/import"]["post"]
    assert "application/x-ndjson" in jsonl["requestBody"]["content"]
    assert "application/json" in paths["/api/v1/webhooks/mentions/{watch_id}"]["post"]["requestBody"]["content"]


async def test_a_csv_import_refused_as_a_whole_answers_with_a_problem_document(
    client: AsyncTestClient[Any], admin: Caller
) -> None:
    response = await client.post(
        "/api/v1/contacts/import",
        params={"mapping": '{"name": "shoe_size"}'},
        content=b"name\nAda\n",
        headers=admin.headers,
    )
    assert response.status_code == 422
    assert response.headers["content-type"].startswith("application/problem+json")
    assert "shoe_size" in response.json()["errors"][0]["message"]


async def test_the_served_document_passes_openapi_spec_validator(client: AsyncTestClient[Any]) -> None:
    document = await served_document(client)
    errors = [f"{list(e.absolute_path)}: {e.message[:200]}" for e in OpenAPIV31SpecValidator(document).iter_errors()]
    assert errors == []


async def test_openapi_python_client_generates_a_client_from_the_document_without_warnings(
    client: AsyncTestClient[Any], tmp_path: Path
) -> None:
    document = await served_document(client)
    spec = tmp_path / "openapi.json"
    spec.write_text(json.dumps(document), encoding="utf-8")
    # The generator takes only JSON, form and binary bodies; CSV and JSON Lines uploads are bytes to it.
    config = tmp_path / "generator.yaml"
    config.write_text(
        "content_type_overrides:\n  text/csv: application/octet-stream\n  application/x-ndjson: application/octet-stream\n"
    )
    bin_dir = Path(sys.executable).parent
    environment = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"}
    generated = await asyncio.to_thread(
        subprocess.run,
        [
            str(bin_dir / "openapi-python-client"),
            "generate",
            "--path",
            str(spec),
            "--meta",
            "none",
            "--config",
            str(config),
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        env=environment,
        check=False,
    )
    output = generated.stdout + generated.stderr
    assert generated.returncode == 0, output
    assert "warning" not in output.lower() and "error" not in output.lower(), output
    package = tmp_path / "warmline_client"
    assert (package / "api" / "leads").is_dir()
    models = {p.stem for p in (package / "models").glob("*.py")}
    assert {"import_report", "mention_import_report", "problem_details"} <= models


async def test_the_docs_viewer_loads_from_this_server_only(client: AsyncTestClient[Any]) -> None:
    for page in ("/schema", "/schema/swagger"):
        response = await client.get(page)
        assert response.status_code == 200 and response.headers["content-type"].startswith("text/html")
        html = response.text
        referenced = re.findall(r"""(?:src|href)\s*=\s*["']([^"']+)["']""", html)
        assert referenced, html[:500]
        assert all(url.startswith("/") and not url.startswith("//") for url in referenced), referenced
        assert not re.search(r"https?://", html.split("spec:")[0]), "an external URL outside the document itself"
        assert "validatorUrl: null" in html
        for url in referenced:
            asset = await client.get(url)
            assert asset.status_code == 200 and len(asset.content) > 100, url
