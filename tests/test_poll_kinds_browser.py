"""Poll kinds in Chromium (docs/protocol.md "Poll kinds"): a teacher runs a quiz from the
console, a pupil answers on the classroom page and sees the answer only once revealed; open
answers published by the teacher; a word cloud; the console's CSV export; moving a member
between groups from the classroom page's groups panel."""

from __future__ import annotations

import csv
import io
import re
from typing import Any

import pytest
from playwright.async_api import Browser, Page, expect

from .browser import axe_serious
from .support import Running, token
from .test_console_browser import console

pytestmark = pytest.mark.browser


async def room_page(browser: Browser, url: str, room: str, sub: str,
                    role: str = "student") -> Page:
    page = await (await browser.new_context(bypass_csp=True)).new_page()
    await page.goto(f"{url}/room/{room}#token={token(sub=sub, role=role, name=sub.title())}")
    await expect(page.locator("twinspace-chat")).to_have_attribute("data-state", "online")
    return page


async def create(page: Page, kind: str, question: str, options: tuple[str, ...] = (),
                 correct: int | None = None, hidden: bool = False) -> None:
    await page.locator("#poll-kind").select_option(kind)
    await page.locator("#poll-question").fill(question)
    for i, option in enumerate(options):
        await page.locator("#poll-options input[name=option]").nth(i).fill(option)
    if correct is not None:
        await page.locator("#poll-options input[name=correct]").nth(correct).check()
    if hidden:
        await page.locator("#poll-hidden").check()
    await page.locator("#poll-form button[type=submit]").click()


async def test_quiz_from_the_console_answered_on_the_classroom_page(browser: Browser,
                                                                    live: Running) -> None:
    pupil = await room_page(browser, live.url, "r", "ana")
    page = await console(browser, live.url, bypass_csp=True)
    await page.locator("#poll-kind").select_option("quiz")
    await expect(page.locator("#poll-options .correct-pick").first).to_be_visible()
    await create(page, "quiz", "Largest planet?", ("Mars", "Jupiter", "Venus"), correct=1,
                 hidden=True)
    poll = page.locator("#polls li[data-poll]")
    await expect(poll).to_have_count(1)
    await expect(poll.locator('li[data-correct="true"]')).to_contain_text("Jupiter")
    form = pupil.locator("twinspace-chat form[data-poll]")
    await expect(form).to_contain_text("Quiz: Largest planet?")
    await expect(form.locator(".poll-note")).to_have_text(
        "Results are shown when the poll closes.")
    assert await form.locator(".correct-mark").count() == 0
    assert await form.locator(".count").count() == 0  # hidden: no counts for pupils
    await form.locator('input[value="1"]').check()
    await form.locator("button.vote").click()
    await expect(form.locator(".poll-status")).to_have_text("Your vote was counted.")
    await expect(poll.locator('.count[data-option="1"]')).to_have_text("1")  # teachers: live
    assert await axe_serious(pupil) == []
    # the CSV export of the quiz
    async with page.expect_download() as info:
        await poll.locator('button[data-act="csv"]').click()
    download = await info.value
    path = await download.path()
    rows = list(csv.reader(io.StringIO(path.read_text(encoding="utf-8"))))
    assert rows[0] == ["row", "option", "text", "count", "correct", "user_id", "user_name"]
    assert ["vote", "2", "Jupiter", "", "yes", "ana", "Ana"] in rows
    # the reveal: the pupil sees the answer and that theirs was right
    await poll.locator('button[data-act="reveal"]').click()
    await expect(form).to_have_attribute("data-open", "false")
    await expect(form.locator(".correct-mark")).to_have_count(1)
    await expect(form.locator('label[data-correct="true"]')).to_contain_text("Jupiter")
    await expect(form.locator(".poll-verdict")).to_have_text("Your answer is right.")
    await expect(form.locator('.count[data-option="1"]')).to_have_text("1")
    await expect(poll.locator('button[data-act="reveal"]')).to_have_count(0)
    await page.locator("#poll-scores-show").click()
    await expect(page.locator("#poll-scores li")).to_have_text(["Ana: 1 of 1 right"])
    await expect(page.locator("#audit tbody tr").filter(has_text="poll:reveal")).to_have_count(1)
    assert await axe_serious(page) == []
    assert await axe_serious(pupil) == []


async def test_open_answers_wait_for_the_teacher_and_the_cloud_grows(browser: Browser,
                                                                     live: Running) -> None:
    pupil = await room_page(browser, live.url, "r", "ana")
    page = await console(browser, live.url, bypass_csp=True)
    await create(page, "text", "What surprised you?")
    poll = page.locator('#polls li[data-kind="text"]')
    form = pupil.locator('twinspace-chat form[data-kind="text"]')
    field = form.get_by_label("Your answer")
    await field.fill("The volcanoes")
    await form.locator("button.vote").click()
    await expect(form.locator(".poll-status")).to_have_text("Your answer was sent.")
    await expect(poll.locator(".answers li")).to_contain_text("The volcanoes")
    await expect(poll.locator(".answers li")).to_contain_text("Ana")
    assert await form.locator(".poll-answers").count() == 0  # not published yet
    await poll.locator('button[data-act="publish"]').click()
    await expect(form.locator(".poll-answers li")).to_have_text(["The volcanoes"])
    await expect(poll.locator(".answers .badge")).to_have_text("Published")
    # a word cloud, folded and counted
    await create(page, "cloud", "One word for Europe")
    cloud = pupil.locator('twinspace-chat form[data-kind="cloud"]')
    await cloud.get_by_label("Your answer").fill("Café")
    await cloud.get_by_label("Your answer").press("Enter")
    await expect(cloud.locator(".poll-cloud li")).to_have_text(["cafe (1)"])
    await expect(page.locator('#polls li[data-kind="cloud"] .cloud li')).to_have_text(
        ["cafe (1)"])
    assert await axe_serious(pupil) == []
    assert await axe_serious(page) == []


async def test_teacher_moves_a_member_to_another_group(browser: Browser, live: Running) -> None:
    teacher = await room_page(browser, live.url, "maths", "t", "teacher")
    ana = await room_page(browser, live.url, "maths", "ana")
    ben = await room_page(browser, live.url, "maths", "ben")
    await teacher.locator("#groups-count").fill("2")
    await teacher.locator("#groups .groups-form button[type=submit]").click()
    await expect(teacher.locator("#groups ul.groups li")).to_have_count(2)
    for page in (ana, ben):
        await page.wait_for_url(re.compile(r"/room/maths-g\d-"))
    await expect(ana.locator("twinspace-chat")).to_have_attribute("data-state", "online")
    was = re.search(r"maths-g(\d)-", ana.url)
    assert was is not None
    other = "2" if was.group(1) == "1" else "1"
    ben_room = ben.url
    select = teacher.get_by_label("Move Ana to")
    await select.select_option(label=f"Group {other}")
    await teacher.locator('#groups button[data-move="ana"]').click()
    await ana.wait_for_url(re.compile(rf"/room/maths-g{other}-"))
    await expect(ana.locator("twinspace-chat")).to_have_attribute("data-state", "online")
    await expect(teacher.get_by_label("Move Ana to")).to_be_focused()
    await expect(teacher.locator("#groups ul.groups li").nth(int(other) - 1)).to_contain_text(
        "Ana")
    assert ben.url == ben_room  # only the moved member's page moves
    assert await axe_serious(teacher) == []


async def test_console_lists_polls_closed_before_it_opened(browser: Browser, live: Running,
                                                            clients: Any) -> None:
    t = await clients(live.url, sub="t2", role="teacher", name="Mr T")
    assert (await t.call("join", {"room": "r"}))["ok"]
    pid = (await t.call("poll:create", {"room": "r", "question": "Earlier quiz", "kind": "quiz",
                                        "options": ["a", "b"], "correct": [0]}))["poll"]["id"]
    await t.call("poll:reveal", {"room": "r", "poll": pid})
    # (not `console()`: its check of console errors races Chromium's request of /favicon.ico,
    # which the service answers 404, when nothing else is loading)
    page = await (await browser.new_context()).new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    await page.goto(f"{live.url}/console#token={token(sub='t', role='teacher', name='Ms T')}")
    await page.locator('#rooms button[data-room="r"]').click()
    poll = page.locator(f'#polls li[data-poll="{pid}"]')
    await expect(poll).to_have_attribute("data-open", "false")
    await expect(poll.locator('li[data-correct="true"]')).to_contain_text("a")
    await expect(poll.locator('button[data-act="csv"]')).to_be_visible()
    assert errors == []
