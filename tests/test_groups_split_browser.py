"""The classroom page's groups panel: splits mixing schools and by hand (issue #15 part 1)."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.async_api import Browser, Page, expect

from .browser import axe_serious
from .support import Running, token

pytestmark = pytest.mark.browser

PUPILS = {"a1": "school-a", "a2": "school-a", "b1": "school-b", "b2": "school-b"}


async def class_of_two_schools(
        browser: Browser, live: Running, clients: Any) -> tuple[Page, dict[str, Any]]:
    page = await (await browser.new_context(bypass_csp=True)).new_page()
    await page.goto(f"{live.url}/room/maths#token={token(sub='t', role='teacher', name='T')}")
    await expect(page.locator("twinspace-chat")).to_have_attribute("data-state", "online")
    pupils = {}  # joining after the teacher, who opens the room
    for sub, school in PUPILS.items():
        pupils[sub] = await clients(live.url, sub=sub, name=sub.upper(), school=school)
        assert (await pupils[sub].call("join", {"room": "maths"}))["ok"]
    await expect(page.locator("#grid .tile")).to_have_count(5)
    return page, pupils


async def moved_to(pupil: Any) -> str:
    return str((await pupil.wait_for("room:moved", timeout=20))["to"])


async def test_mixing_schools_puts_both_schools_in_every_group(
        browser: Browser, live: Running, clients: Any) -> None:
    teacher, pupils = await class_of_two_schools(browser, live, clients)
    await teacher.locator("#groups-count").fill("2")
    await teacher.locator("#groups-how").select_option("mix")
    await teacher.locator("#groups .groups-form button[type=submit]").click()
    await expect(teacher.locator("#groups ul.groups li")).to_have_count(2)
    rooms = {sub: await moved_to(pupil) for sub, pupil in pupils.items()}
    assert len(set(rooms.values())) == 2
    for room in set(rooms.values()):
        assert {PUPILS[sub] for sub, r in rooms.items() if r == room} == {"school-a", "school-b"}
    names = await teacher.locator("#groups .group-names").all_text_contents()
    assert all(("A1" in n) != ("A2" in n) and ("B1" in n) != ("B2" in n) for n in names)


async def test_by_hand_sends_the_chosen_groups_and_leaves_the_rest(
        browser: Browser, live: Running, clients: Any) -> None:
    teacher, pupils = await class_of_two_schools(browser, live, clients)
    await teacher.locator("#groups-how").select_option("hand")
    await expect(teacher.locator("#groups-how")).to_be_focused()
    await expect(teacher.locator("#groups .groups-hand select")).to_have_count(4)
    assert await axe_serious(teacher) == []
    # nobody chosen: said, and nothing sent
    await teacher.locator("#groups .groups-form button[type=submit]").click()
    await expect(teacher.locator("#announcer")).to_have_text(
        "Choose a group for at least one pupil.")
    await expect(teacher.locator("#groups-count")).to_be_visible()
    # three groups offered, then two: a choice beyond the count falls back to the main room
    await teacher.locator("#groups-count").fill("3")
    await teacher.locator("#groups-count").press("Tab")
    await teacher.get_by_label("B2", exact=True).select_option("3")
    await teacher.locator("#groups-count").fill("2")
    await teacher.locator("#groups-count").press("Tab")
    await expect(teacher.get_by_label("B2", exact=True)).to_have_value("0")
    await teacher.get_by_label("A1", exact=True).select_option("2")
    await teacher.get_by_label("B1", exact=True).select_option("2")
    await teacher.get_by_label("A2", exact=True).select_option("1")
    await teacher.locator("#groups .groups-form button[type=submit]").click()
    await expect(teacher.locator("#groups ul.groups li")).to_have_count(2)
    await expect(teacher.locator("#groups .group-names")).to_have_text(["A2", "A1, B1"])
    first, second = await moved_to(pupils["a2"]), await moved_to(pupils["a1"])
    assert await moved_to(pupils["b1"]) == second != first
    assert pupils["b2"].events["room:moved"] == []
