"""A student's path through the app, and two ways to walk it: in a real browser tab (Playwright and Chromium)
or over Streamlit's websocket protocol without a browser (protocol_client.py).

The path (issue 13 §3), over three pages A, B, C:
  page A  open it, pick a test user, move a slider (one arrow key), press the animation's Play (if it has one)
  page B  go there from the sidebar, switch the language, move a slider, press Play
  page C  go there from the sidebar, pick another test user
with a pause of ``think`` seconds (uniform 0.5x..1.5x) before each action.  Each step is recorded as
{"step", "page", "t"} plus the client's time ("browser_s": to an idle page; "client_s": to the run's
``script_finished``), or "skipped" (the control was not drawn), or "error".
"""
from __future__ import annotations

import asyncio
import random
import re
import time
from pathlib import Path

import serverbench as sb

PICK_USER = re.compile("Pick a test user|选择一个测试用户")
LANGUAGE_LABEL = {"zh": "English", "en": "中文"}  # the radio option that switches away from the current language
PLAY = re.compile("Play|播放")
ERROR_TEXT = re.compile("went wrong|出错")
ANIMATED = {"tdm", "dr", "nann", "sid"}  # pages with a Plotly animation (Play / Pause)
WATCH_S = 3  # how long a student watches the animation after Play


async def follow_path(student, path: list[dict]) -> None:
    """Walk ``path`` (pages A, B, C) with ``student`` (a BrowserStudent or a ProtocolStudent)."""
    a, b, c = path
    await student.open(a)
    for action in (lambda: student.pick_user(a["slug"]), lambda: student.move_slider(a["slug"]),
                   lambda: student.play(a["slug"]), lambda: student.navigate(b),
                   lambda: student.switch_language(b["slug"]), lambda: student.move_slider(b["slug"]),
                   lambda: student.play(b["slug"]), lambda: student.navigate(c), lambda: student.pick_user(c["slug"])):
        await student.pause()
        await action()


async def wait_idle(page, runs_before: int | None = None, timeout_s: float = 300, quiet_s: float = 1.0) -> float:
    """perf_counter time at which the page became idle (start of a ``quiet_s`` idle period); with
    ``runs_before``, first give the rerun an action caused up to 3 s to start."""
    deadline = time.perf_counter() + timeout_s
    if runs_before is not None:
        start = time.perf_counter()
        while time.perf_counter() - start < 3 and (await page.evaluate(sb.PAGE_STATE_JS))["runs"] <= runs_before:
            await asyncio.sleep(0.05)
    window = sb.QuietWindow(quiet_s)
    while time.perf_counter() < deadline:
        since = window.idle_since(await page.evaluate(sb.PAGE_STATE_JS))
        if since is not None:
            return since
        await asyncio.sleep(0.1)
    raise TimeoutError("the page did not become idle")


class BrowserStudent:
    """The path in a real browser tab (a Playwright page): clicks and key presses, timed to an idle page."""

    def __init__(self, number: int, page, base: str, think: float, rng: random.Random,
                 skip_shots: Path | None = None, query: str = ""):
        self.number, self.page, self.base, self.think, self.rng = number, page, base, think, rng
        self.query = query  # the first page's URL query (a deep link such as dataset=synthetic-10k)
        self.skip_shots = skip_shots  # where a page without the expected control is photographed
        self.steps: list[dict] = []
        self.errors: list[str] = []  # what the app showed: exception boxes, error messages
        self.failed: list[str] = []  # steps the browser could not complete (a timeout, a missing control)
        self.lang = "zh"

    async def pause(self) -> None:
        await asyncio.sleep(self.think * self.rng.uniform(0.5, 1.5))

    async def step(self, name: str, where: str, action, expect_run: bool = True) -> None:
        """Do ``action``, wait for the page to be idle again, and record the browser-side time."""
        record = {"step": name, "page": where, "t": time.time()}
        try:
            runs = (await self.page.evaluate(sb.PAGE_STATE_JS))["runs"]
            start = time.perf_counter()
            await action()
            idle_at = await wait_idle(self.page, runs if expect_run else None)
            record["browser_s"] = round(idle_at - start, 3)
            record["runs_seen"] = (await self.page.evaluate(sb.PAGE_STATE_JS))["runs"] - runs
            await self.check(name)
        except Exception as exc:  # noqa: BLE001 — every failure is a finding of the load test
            record["error"] = f"{type(exc).__name__}: {str(exc).splitlines()[0][:200]}"
            self.failed.append(f"{name} on {where}: {record['error']}")
        self.steps.append(record)

    async def check(self, name: str) -> None:
        if await self.page.locator("[data-testid='stException']").count():
            self.errors.append(f"{name}: exception box on the page")
        if await self.page.locator("[data-testid='stAlert']").filter(has_text=ERROR_TEXT).count():
            self.errors.append(f"{name}: error message on the page")

    # the actions --------------------------------------------------------------------------------------
    async def open(self, page: dict) -> None:
        url = sb.page_url(self.base, page) + (f"?{self.query}" if self.query else "")
        await self.step("open", page["slug"], lambda: self.page.goto(url), expect_run=False)

    async def navigate(self, page: dict) -> None:
        link = self.page.locator(f"[data-testid='stSidebarNav'] a[href$='/{page['slug']}']").first
        if page["default"]:
            link = self.page.locator("[data-testid='stSidebarNav'] a").first
        await self.step("navigate", page["slug"], link.click)

    async def present(self, locator, name: str, where: str, timeout_s: float = 60) -> bool:
        """Wait for the control to be drawn; a page without it is recorded as a skipped step."""
        try:
            await locator.first.wait_for(state="attached", timeout=timeout_s * 1000)
            return True
        except Exception:  # noqa: BLE001
            self.steps.append({"step": name, "page": where, "t": time.time(), "skipped": "control not found"})
            if self.skip_shots is not None and len(list(self.skip_shots.glob("*.png"))) < 5:
                self.skip_shots.mkdir(parents=True, exist_ok=True)
                await self.page.screenshot(path=str(self.skip_shots / f"s{self.number}-{name}-{where}.png"))
            return False

    async def pick_user(self, where: str) -> None:
        boxes = self.page.locator("[data-testid='stMain'] [data-testid='stSelectbox']")
        if not await self.present(boxes, "pick_user", where):
            return
        users = boxes.filter(has_text=PICK_USER)
        box = users.first if await users.count() else boxes.first

        async def choose():  # open the list, move down a few users, Enter (the keyboard works wherever it opens)
            combobox = box.locator("[role='combobox']")
            await combobox.scroll_into_view_if_needed()
            await combobox.click()
            try:
                await self.page.locator("[role='option']").first.wait_for(timeout=5000)
            except Exception:  # noqa: BLE001 — the list did not open on the click
                await self.page.keyboard.press("ArrowDown")
            for _ in range(1 + self.rng.randrange(8)):
                await self.page.keyboard.press("ArrowDown")
            await self.page.keyboard.press("Enter")

        await self.step("pick_user", where, choose)

    async def move_slider(self, where: str) -> None:
        sliders = self.page.locator("[data-testid='stMain'] [data-testid='stSlider'] input[type='range']")
        if not await self.present(sliders, "slider", where):
            return
        slider = sliders.nth(self.rng.randrange(min(2, await sliders.count())))

        async def move():
            await slider.focus()
            await self.page.keyboard.press(self.rng.choice(["ArrowRight", "ArrowLeft"]))

        await self.step("slider", where, move)

    async def play(self, where: str) -> None:
        if where not in ANIMATED:
            return
        buttons = self.page.locator("g.updatemenu-button").filter(has_text=PLAY)
        if not await self.present(buttons, "play", where):
            return

        async def press():
            await buttons.first.click()

        await self.step("play", where, press, expect_run=False)  # Plotly animates in the browser
        await asyncio.sleep(WATCH_S)  # the student watches a few frames

    async def switch_language(self, where: str) -> None:
        label = LANGUAGE_LABEL[self.lang]
        await self.step("language", where,
                        lambda: self.page.locator("[data-testid='stSidebar']").get_by_text(label, exact=True).click())
        self.lang = "en" if self.lang == "zh" else "zh"


class ProtocolStudent:
    """The same path over Streamlit's websocket protocol (protocol_client.Session): the same messages a
    browser tab sends, timed from sending each one to its run's ``script_finished``.  Play is the browser's
    own work (Plotly animates the frames it already has), so here it is only the time spent watching."""

    def __init__(self, number: int, base: str, think: float, rng: random.Random, assets: list[str],
                 query: str = ""):
        from protocol_client import Session

        self.number, self.think, self.rng, self.assets, self.query = number, think, rng, assets, query
        self.session = Session(base)
        self.steps: list[dict] = []
        self.errors: list[str] = []
        self.failed: list[str] = []

    async def pause(self) -> None:
        await asyncio.sleep(self.think * self.rng.uniform(0.5, 1.5))

    async def step(self, name: str, where: str, action) -> None:
        record = {"step": name, "page": where, "t": time.time()}
        try:
            run = await action()
            record.update(client_s=round(run.seconds, 3), messages=run.messages, bytes=run.bytes, status=run.status)
            self.errors += [f"{name} on {where}: {e}" for e in run.errors]
            if run.auto_reruns:
                record["auto_reruns"] = run.auto_reruns
        except Exception as exc:  # noqa: BLE001 — every failure is a finding of the load test
            record["error"] = f"{type(exc).__name__}: {str(exc).splitlines()[0][:200] if str(exc) else ''}"
            self.failed.append(f"{name} on {where}: {record['error']}")
        self.steps.append(record)

    def _skip(self, name: str, where: str) -> None:
        self.steps.append({"step": name, "page": where, "t": time.time(), "skipped": "control not found"})

    @staticmethod
    def page_path(page: dict) -> str:
        """The URL path of a page as Streamlit names it ("" for the home page)."""
        return "" if page["default"] else page["slug"]

    async def open(self, page: dict) -> None:
        await self.step("open", page["slug"],
                        lambda: self.session.open(self.page_path(page), self.assets, self.query))

    async def navigate(self, page: dict) -> None:
        await self.step("navigate", page["slug"], lambda: self.session.go_to(self.page_path(page)))

    async def pick_user(self, where: str) -> None:
        boxes = self.session.find("selectbox", PICK_USER)
        if not boxes:
            return self._skip("pick_user", where)
        box = boxes[0]
        options = self.session.options(box)
        current = options.index(self.session.value(box)) if self.session.value(box) in options else 0
        choice = options[(current + 1 + self.rng.randrange(8)) % len(options)]  # a few users down the list
        await self.step("pick_user", where, lambda: self.session.choose(box, choice))

    async def move_slider(self, where: str) -> None:
        sliders = self.session.find("slider")
        if not sliders:
            return self._skip("slider", where)
        slider = sliders[self.rng.randrange(min(2, len(sliders)))]
        await self.step("slider", where, lambda: self.session.slide(slider, self.rng.choice([1, -1])))

    async def play(self, where: str) -> None:
        if where not in ANIMATED:
            return
        if not self.session.drawn["plotly_chart"]:
            return self._skip("play", where)
        self.steps.append({"step": "play", "page": where, "t": time.time(), "client_side": True})
        await asyncio.sleep(WATCH_S)

    async def switch_language(self, where: str) -> None:
        radios = self.session.find("radio", key_suffix="-lang")
        if not radios:
            return self._skip("language", where)
        other = [o for o in self.session.options(radios[0]) if o != self.session.value(radios[0])][0]
        await self.step("language", where, lambda: self.session.choose(radios[0], other))

    async def close(self) -> None:
        await self.session.close()
