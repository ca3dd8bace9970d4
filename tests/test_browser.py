import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not Path(CHROMIUM).exists(), reason="Debian chromium is not installed (apt-get install chromium)"
    ),
]
PASSWORD = "board-test-password"
THRESHOLD = 60
# Set it to keep the picture of the board the test ends on; otherwise it goes to the test's tmp_path.
SCREENSHOT = os.environ.get("WARMLINE_BOARD_SCREENSHOT")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def crm(env: dict[str, str], *args: str) -> str:
    result = subprocess.run([sys.executable, "-m", "crm", *args], env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, str]]:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("CRM_")}
    env.update(
        CRM_DATA_DIR=str(tmp_path),
        CRM_PORT=str(port),
        CRM_LOG_LEVEL="WARNING",
        CRM_LEAD_SCORE_THRESHOLD=str(THRESHOLD),
    )
    crm(env, "db", "upgrade")
    crm(env, "user", "create", "rep@example.com", "--role", "sales_rep", "--name", "Riley Rep", "--password", PASSWORD)
    crm(env, "user", "create", "admin@example.com", "--role", "admin")
    key = crm(env, "apikey", "create", "admin@example.com")
    process = subprocess.Popen(
        [sys.executable, "-m", "crm", "serve"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                if httpx.get(f"{base}/ready", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.2)
        else:
            pytest.fail("the server did not start")
        yield base, key
    finally:
        process.terminate()
        process.wait(timeout=20)


def test_a_rep_signs_in_drafts_a_dm_and_marks_it_sent_in_a_real_browser(
    server: tuple[str, str], tmp_path: Path
) -> None:
    from playwright.sync_api import expect, sync_playwright

    base, key = server
    api = httpx.Client(base_url=base, headers={"Authorization": f"Bearer {key}"}, timeout=10)
    watch = api.post(
        "/api/v1/watches", json={"name": "crm", "keywords": ["crm"], "competitors": [{"name": "HubSpot"}]}
    ).json()
    mentions = [
        {
            "platform": "bluesky",
            "id": "at://did:plc:x/app.bsky.feed.post/1",
            "created_at": "2026-11-21T08:00:00Z",
            "text": "Fed up with HubSpot. Any CRM alternative you would recommend?",
            "url": "https://bsky.app/profile/ana/post/1",
            "author": {"handle": "ana.bsky.social", "display_name": "Ana Lima", "followers": 3200, "dm_open": True},
        },
        {
            "platform": "bluesky",
            "id": "at://did:plc:y/app.bsky.feed.post/2",
            "created_at": "2026-11-21T09:00:00Z",
            "text": "our crm works fine",
            "url": "javascript:alert(document.cookie)",
            "author": {"handle": "bo.bsky.social", "display_name": "Bo Noise"},
        },
    ]
    body = "\n".join(json.dumps(m) for m in mentions)
    assert api.post(f"/api/v1/watches/{watch['id']}/mentions/import", content=body).json()["new_leads"] == 2
    for _ in range(50):  # the in-process worker scores them
        if all(lead["score"] is not None for lead in api.get("/api/v1/leads").json()["items"]):
            break
        time.sleep(0.1)
    scores = {lead["display_name"]: lead["score"] for lead in api.get("/api/v1/leads").json()["items"]}
    assert scores["Ana Lima"] >= THRESHOLD > scores["Bo Noise"], scores

    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"]
        )
        page = browser.new_page()
        # The pages run under a script-only-from-this-site policy: anything the policy blocks shows up here.
        refused: list[str] = []
        page.on("console", lambda m: refused.append(m.text) if "Content Security Policy" in m.text else None)
        page.goto(f"{base}/board")
        expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
        page.get_by_label("Email").fill("rep@example.com")
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Sign in").click()

        new_column = page.locator('section.column[data-stage="new"]')
        expect(new_column.locator(".card")).to_have_count(1)  # Bo scores below the threshold: hidden
        expect(new_column.locator(".card .name")).to_have_text("Ana Lima")
        page.get_by_label("Watch").select_option(str(watch["id"]))  # board.js submits the pick
        expect(page).to_have_url(re.compile(rf"watch_id={watch['id']}"))
        expect(new_column.locator(".card")).to_have_count(1)
        page.get_by_role("link", name="Show all leads").click()
        expect(new_column.locator(".card")).to_have_count(2)
        new_column.locator(".card", has_text="Bo Noise").click()
        expect(page.locator("#detail")).to_contain_text("not a web link")
        assert page.locator("#detail a[href^='javascript']").count() == 0
        page.get_by_role("link", name=f"Hide leads below {THRESHOLD}").click()
        expect(new_column.locator(".card")).to_have_count(1)

        new_column.locator(".card").click()
        expect(page.locator("#detail")).to_contain_text("mentions competitor HubSpot")
        page.get_by_role("button", name="Draft first DM").click()
        expect(page.locator("#messages")).to_contain_text("Hi Ana")
        page.get_by_role("button", name="Mark as sent").click()
        contacted = page.locator('section.column[data-stage="contacted"]')
        expect(contacted.locator(".card .name")).to_have_text("Ana Lima")
        page.screenshot(path=SCREENSHOT or str(tmp_path / "board.png"), full_page=True)
        browser.close()
    assert not refused, refused
    leads = {lead["display_name"]: lead for lead in api.get("/api/v1/leads").json()["items"]}
    assert leads["Ana Lima"]["stage"] == "contacted"
