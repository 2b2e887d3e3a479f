"""A workload's timeline in ``batchyard ui``, in a real headless Chromium over the real platform on real Kafka and
PostgreSQL: a pending workload's id in the dashboard opens its timeline, which shows why it waits and then, live,
its reservation, placement and run once another workload is cancelled; a finished workload looked up with the form
shows the steps the read model assembles; an unknown id is a 404 with its reason; a team's token does not read
another team's workload; and axe-core finds no serious or critical accessibility violation on the page."""

from __future__ import annotations

import json
import os

import asyncpg
import pytest

from cli.roles import apply, database_of, roles_sql
from cli.workloads_view import step_words, waiting_line
from libs.platform.observer import FlowObserver
from libs.platform.publisher import EventPublisher
from libs.readmodel import describe_workload
from services.admission.signing import demo_signer
from tests.integration.test_cancel import cancel, platform, submission  # noqa: F401 - platform: a fixture
from tests.integration.test_read_scoping import as_role
from tests.integration.test_ui import (WAIT_MS, browser, fetch, s_ends_a_runs_b_waits, screenshot,  # noqa: F401
                                      start_ui, ui)  # browser, ui: fixtures

pytestmark = pytest.mark.integration
PREFIX = "uitl_"
STEPS = "#steps tbody tr"


async def described(database_url: str, workload_id: str):
    conn = await asyncpg.connect(database_url)
    try:
        return await describe_workload(conn, workload_id)
    finally:
        await conn.close()


async def shown(page) -> list[list[str]]:
    """Returns the timeline table's rows as the page shows them (the cells' text)."""
    return [await r.locator("td").all_inner_texts() for r in await page.locator(STEPS).all()]


async def test_a_workloads_timeline_live_scoped_and_accessible(
        ui, browser, platform, kafka_bootstrap, namespace, database_url, tmp_path):  # noqa: F811
    o = await FlowObserver(kafka_bootstrap, namespace).start()
    async with EventPublisher(kafka_bootstrap, namespace) as pub:
        # 1. s runs ten simulated minutes and succeeds; a then holds vision's 8 GPUs, and b waits behind it.
        await s_ends_a_runs_b_waits(o, pub, platform, s_duration=600)

        # 2. b's id in the pending table opens its timeline: accepted by admission, and why it waits, as describe
        #    says it.
        page = await browser.new_page()
        await page.goto(ui)
        await page.get_by_role("link", name="b", exact=True).click()
        await page.wait_for_url("**/workloads/b")
        await page.locator(STEPS).first.wait_for(timeout=WAIT_MS)
        b = await described(database_url, "b")
        assert b.waiting is not None and b.waiting.source == "quota"
        await page.get_by_text(waiting_line(b.waiting)).wait_for(timeout=WAIT_MS)
        assert [row[3] for row in await shown(page)] == ["submitted"]
        assert await page.title() == "batchyard: workload b"

        # 3. live: a is cancelled, so b is reserved, placed and runs; the open page shows it without a reload.
        await page.evaluate("() => { window.notReloaded = true; }")
        await pub.publish([cancel("a")])
        await page.locator(STEPS).filter(has_text="running on").first.wait_for(timeout=WAIT_MS)
        assert await page.evaluate("() => window.notReloaded === true")
        rows = await shown(page)
        kinds = [row[3] for row in rows if row[3] != "unschedulable"]  # the scheduler may wait for a's nodes
        assert kinds == ["submitted", "reserved", "placed", "running"], rows
        [placed] = [row for row in rows if row[3] == "placed"]
        assert placed[2] == "scheduler" and placed[5] and placed[5] in placed[6], placed  # its node, in its words
        assert await page.locator("#waiting").inner_text() == ""
        await screenshot(page, "ui-timeline.png")

    # 4. a's timeline: the cancel request (by whom) before the end it caused.
    await page.goto(ui.rstrip("/") + "/workloads/a")
    await page.locator(STEPS).filter(has_text="cancel requested by").first.wait_for(timeout=WAIT_MS)
    assert "cancelled" in await page.locator("#w-state").inner_text()

    # 5. the look-up form opens s's timeline: the very steps the read model assembles, in its order and words, with
    #    the cost so far and the trace id.
    await page.goto(ui)
    await page.get_by_label("Workload id").fill("s")
    await page.get_by_role("button", name="Look up").click()
    await page.wait_for_url("**/workloads/s")
    await page.locator(STEPS).filter(has_text="succeeded on").first.wait_for(timeout=WAIT_MS)
    s = await described(database_url, "s")
    assert [(row[2], row[3], row[6]) for row in await shown(page)] == [
        (step.source, step.kind, step_words(step)) for step in s.steps]
    assert [step.kind for step in s.steps][-3:] == ["placed", "running", "succeeded"]
    assert await page.locator("#w-trace").inner_text() == s.trace_id and len(s.trace_id) == 32
    assert (await page.locator("#w-cost").inner_text()).startswith("$")
    assert await page.locator("#w-state").inner_text() == "finished (succeeded)"

    # 6. no serious or critical accessibility violation (axe-core) on the timeline page.
    from axe_playwright_python.async_playwright import Axe
    results = await Axe().run(page)
    bad = [v for v in results.response["violations"] if v["impact"] in ("serious", "critical")]
    assert bad == [], json.dumps(bad, indent=1)[:4000]

    # 7. an unknown workload: a 404 with its reason, as JSON and as a page; a bad id: a 400.
    status, body = await fetch(page, "/api/workloads/nosuch")
    assert (status, body["reason"]) == (404, "unknown_workload"), body
    response = await page.goto(ui.rstrip("/") + "/workloads/nosuch")
    text = await page.inner_text("body")
    assert response.status == 404 and "unknown_workload" in text and "Traceback" not in text, text
    await page.goto(ui)
    status, body = await fetch(page, "/api/workloads/-a")
    assert (status, body["reason"]) == (400, "bad_workload"), body

    # 8. scoped: a view reading as nlp's token does not read vision's workload; one reading as vision's does.
    await apply(database_url, roles_sql(database_of(database_url), prefix=PREFIX, tenants=("acme/vision", "acme/nlp")))
    env = {**os.environ, "BATCHYARD_DATABASE_URL": as_role(database_url, f"{PREFIX}reader")}
    for team, status, reason in [("nlp", 404, "unknown_workload"), ("vision", 200, None)]:
        token = demo_signer(f"someone@{team}").token("acme", team)
        proc, url = start_ui({**env, "BATCHYARD_TOKEN": token}, tmp_path / f"ui-{team}.log")
        try:
            await page.goto(url)
            answer, body = await fetch(page, "/api/workloads/s")
            assert (answer, body.get("reason")) == (status, reason), (team, body)
            if reason is None:
                assert [step["kind"] for step in body["steps"]] == [step.kind for step in s.steps]
        finally:
            proc.terminate()
            proc.wait(15)
    await o.stop()
    platform.assert_alive()
