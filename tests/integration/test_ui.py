"""``batchyard ui`` in a real headless Chromium (Debian's, driven by Playwright) over the real platform on real Kafka
and PostgreSQL: the panels show what the services recorded, a new pending workload arrives without a reload, the
cancel action is refused without an admin token and carried out with one, bad parameters are a 400 with a reason,
and axe-core finds no serious or critical accessibility violation."""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import asyncpg
import pytest

from libs.localinfra.processes import REPO
from libs.platform.observer import FlowObserver
from libs.platform.publisher import EventPublisher
from services.admission.signing import demo_signer, signer_from_file
from tests.integration.test_cancel import platform, submission  # noqa: F401 - the fixture is used by name

pytestmark = pytest.mark.integration
CHROMIUM = "/usr/bin/chromium"
ADMIN_KEYS = REPO / "deploy" / "kube" / "connector-keys.yaml"  # a platform key (demo); signs the admin's token
WAIT_MS = 90_000
SCREENSHOTS = os.environ.get("BATCHYARD_UI_SCREENSHOTS")  # a directory: `./task ui:screenshots` sets docs/img


async def screenshot(page, name: str) -> None:
    if SCREENSHOTS:
        await page.screenshot(path=str(Path(SCREENSHOTS) / name), full_page=True)


def start_ui(env: dict[str, str], log: Path, *args: str) -> tuple[subprocess.Popen, str]:
    """Starts ``batchyard ui --port 0`` (output to ``log``) and returns (the process, its URL) once it serves."""
    with open(log, "wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "cli.main", "ui", "--port", "0", *args], cwd=REPO, env=env,
                                stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    for _ in range(1200):  # 60 s
        if match := re.search(r"serving on (http://127\.0\.0\.1:\d+/)", log.read_text(errors="replace")):
            return proc, match.group(1)
        if proc.poll() is not None:
            break
        time.sleep(0.05)
    proc.kill()
    raise AssertionError("batchyard ui did not start:\n" + log.read_text(errors="replace"))


@pytest.fixture
async def ui(platform, kafka_bootstrap, database_url, namespace, tmp_path):  # noqa: F811 - platform is the fixture
    env = {**os.environ, "BATCHYARD_DATABASE_URL": database_url, "BATCHYARD_KAFKA_BOOTSTRAP": kafka_bootstrap,
           "BATCHYARD_TOPIC_NAMESPACE": namespace}
    env.pop("BATCHYARD_TOKEN", None)
    proc, url = start_ui(env, tmp_path / "ui.log", "--refresh", "0.5", "--sample", "0.5", "--key-file", str(ADMIN_KEYS))
    yield url
    proc.terminate()
    try:
        proc.wait(15)
    except subprocess.TimeoutExpired:
        proc.kill()
        raise AssertionError("batchyard ui did not stop on SIGTERM within 15 s")


@pytest.fixture
async def browser():
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: `./task ui:browser` installs Debian's chromium (./task test does)")
    from playwright.async_api import async_playwright
    async with async_playwright() as p:
        b = await p.chromium.launch(executable_path=CHROMIUM, headless=True)
        yield b
        await b.close()


async def s_ends_a_runs_b_waits(o: FlowObserver, pub: EventPublisher, platform, *,  # noqa: F811
                                s_duration: float) -> None:
    """Opens a UI test: s runs ``s_duration`` simulated seconds and succeeds; then a holds vision's 8 GPUs and
    runs, and b waits behind it."""
    await pub.publish([submission("s", duration_s=s_duration)])
    assert await o.wait_for(lambda o: o.workloads["s"].state == "succeeded", timeout=120), platform.logs()
    await pub.publish([submission("a")])
    assert await o.wait_for(lambda o: o.workloads["a"].state == "running", timeout=120), platform.logs()
    await pub.publish([submission("b")])
    assert await o.wait_for(lambda o: o.workloads["b"].state == "pending", timeout=60)


async def fetch(page, path: str, method: str = "GET", token: str | None = None) -> tuple[int, dict]:
    """Calls the view from the page, as its own script does; returns (status, JSON body)."""
    return tuple(await page.evaluate(
        """async ([path, method, token]) => {
             const r = await fetch(path, {method, headers: token ? {Authorization: "Bearer " + token} : {}});
             return [r.status, await r.json()]; }""", [path, method, token]))


async def fetch_rows(database_url: str, sql: str, *args) -> list[tuple]:
    conn = await asyncpg.connect(database_url)
    try:
        return [tuple(r) for r in await conn.fetch(sql, *args)]
    finally:
        await conn.close()


def cells(table: str) -> str:
    return f"#{table} tbody tr"


async def test_the_dashboard_shows_the_platform_live_and_cancels_only_for_an_admin(
        ui, browser, platform, kafka_bootstrap, namespace, database_url, tmp_path):  # noqa: F811
    o = await FlowObserver(kafka_bootstrap, namespace).start()
    async with EventPublisher(kafka_bootstrap, namespace) as pub:
        # 1. s runs three simulated hours and ends (cost closes hours by event time: this moves it); then a holds
        #    vision's 8 GPUs and runs, and b waits behind it.
        await s_ends_a_runs_b_waits(o, pub, platform, s_duration=3 * 3600)

        page = await browser.new_page()
        response = await page.goto(ui)
        assert response.status == 200, (tmp_path / "ui.log").read_text()
        # 2. queues: usage and depth, b's position and why it waits, as quota recorded them.
        pending = page.locator(cells("pending"))
        await pending.filter(has_text="b").first.wait_for(timeout=WAIT_MS)
        [(reason, message)] = await fetch_rows(database_url, "select pending_reason, pending_message from "
                                               "quota.workloads where workload_id = 'b'")
        row = [await c.inner_text() for c in await pending.first.locator("td").all()]
        assert row[:4] == ["vision-cq", "1", "b", "vision"] and row[5] == f"{reason}: {message}", row
        gpu_usage = page.locator(cells("usage")).filter(has_text="nvidia.com/gpu")
        await gpu_usage.filter(has_text="100").first.wait_for(timeout=WAIT_MS)
        assert [await c.inner_text() for c in await gpu_usage.first.locator("td").all()] == [
            "vision-cq", "a100-onprem", "nvidia.com/gpu", "8", "8", "100", "1"]
        # 3. nodes by pool, every node node repair knows, with its state.
        known = dict(await fetch_rows(database_url, "select pool, count(*) from node_repair.repair_nodes group by 1"))
        for pool, count in known.items():
            table = page.locator(f"[id='pool-{pool}']")
            await table.wait_for(timeout=WAIT_MS)
            assert await table.locator("tbody tr").count() == count
            assert "healthy" in await table.locator("caption").inner_text()
        # 4. GPUs sampled from the scheduler: a's 8 GPUs in pool a100, a series growing.
        a100 = page.locator(cells("gpu")).filter(has_text="a100")
        await page.wait_for_function("() => [...document.querySelectorAll('#gpu tbody tr')].some("
                                     "r => r.cells[0].textContent === 'a100' && r.cells[2].textContent === '8')",
                                     timeout=WAIT_MS)
        assert (await a100.first.locator("td").all_inner_texts())[1] == "192"
        assert "allocated" in await page.locator("#gpu-chart svg").get_attribute("aria-label")
        # 5. cost per org, team and day, from the ledger cost reporting books.
        #    The fleet's clock runs 1800x (a simulated day in 48 s): compare with the ledger until both agree.
        for _ in range(180):
            [(last_day,)] = await fetch_rows(database_url, "select (max(hour) at time zone 'UTC')::date::text "
                                             "from cost_reporting.ledger where team = 'vision'")
            shown = [(await r.locator("td").all_inner_texts())[:3] for r in await page.locator(cells("cost")).all()]
            if last_day and [last_day, "acme", "vision"] in shown:
                break
            await asyncio.sleep(0.5)
        else:
            raise AssertionError(f"cost of acme/vision on {last_day} never shown: {shown}")

        # 6. a live change arrives without a reload: c is submitted and shows up second in line.
        await page.evaluate("() => { window.notReloaded = true; }")
        await pub.publish([submission("c")])
        await page.wait_for_function("() => [...document.querySelectorAll('#pending tbody tr')].some("
                                     "r => r.cells[2].textContent === 'c')", timeout=WAIT_MS)  # "vision-cq" has a c
        assert await page.evaluate("() => window.notReloaded === true")
        await screenshot(page, "ui-dashboard.png")
        assert await page.locator(cells("pending")).nth(1).locator("td").nth(2).inner_text() == "c"

    # 7. read-only without an admin token: no action offered, and the action refused with the reason.
    assert await page.get_by_role("button", name="Cancel b", exact=True).count() == 0
    team_token = demo_signer("alice@acme").token("acme", "vision")
    for token, status, reason in [(None, 403, "admin_token_required"), ("junk", 403, "token_malformed"),
                                  (team_token, 403, "not_admin")]:
        answer, body = await fetch(page, "/api/workloads/b/cancel", "POST", token)
        assert (answer, body["reason"]) == (status, reason), body
    # 8. with an admin token: the cancel button appears and the cancel is carried out by the platform.
    admin = signer_from_file(ADMIN_KEYS, subject="root@ops").token("acme", "vision")
    assert (await fetch(page, "/api/workloads/nosuch/cancel", "POST", admin))[1]["reason"] == "unknown_workload"
    await page.get_by_label("Admin token").fill(admin)
    await page.get_by_role("button", name="Use token").click()
    await page.get_by_text("Admin: root@ops").wait_for(timeout=WAIT_MS)
    await screenshot(page, "ui-admin.png")
    await page.get_by_role("button", name="Cancel b", exact=True).click()
    await page.get_by_text("cancel requested for b").wait_for(timeout=WAIT_MS)
    await page.wait_for_function("() => ![...document.querySelectorAll('#pending tbody tr')].some("
                                 "r => r.cells[2].textContent === 'b')", timeout=WAIT_MS)
    assert await o.wait_for(lambda o: o.workloads["b"].state == "cancelled", timeout=60)
    await o.stop()
    assert await fetch_rows(database_url, "select workload_id, outcome, subject from admission.audit_log "
                            "where action = 'cancel'") == [("b", "accepted", "root@ops")]
    assert await page.locator(cells("pending")).first.locator("td").nth(2).inner_text() == "c"

    # 9. no serious or critical accessibility violation (axe-core), with the admin controls shown.
    from axe_playwright_python.async_playwright import Axe
    results = await Axe().run(page)
    bad = [v for v in results.response["violations"] if v["impact"] in ("serious", "critical")]
    assert bad == [], json.dumps(bad, indent=1)[:4000]

    # 10. bad parameters: a 400 with the reason, never a traceback.
    for path, reason in [("/?days=abc", "bad_days"), ("/?bogus=1", "unknown_parameter"),
                         ("/?queue=nosuch", "unknown_queue")]:
        response = await page.goto(ui.rstrip("/") + path)
        text = await page.inner_text("body")
        assert response.status == 400 and reason in text and "Traceback" not in text, (path, text)
    await page.goto(ui)
    status, body = await fetch(page, "/api/snapshot?days=0")
    assert (status, body["reason"]) == (400, "bad_days")
    status, body = await fetch(page, "/events?queue=%00")
    assert (status, body["reason"]) == (400, "bad_queue")
    platform.assert_alive()
