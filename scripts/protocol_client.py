"""A Streamlit session without a browser: the client half of Streamlit's own websocket protocol, for the
classroom load test (issue 13 §3), so that thirty students cost the server what thirty browsers would and
cost this machine almost nothing.

What a browser tab does and this client does too:
  - loads the app's static files once (index.html, everything it references, and the large chunks the
    browser loads lazily for this app's pages: Plotly, the data grid, the icon font), sent gzip-compressed
    where the server compresses them;
  - opens ``/_stcore/stream`` (subprotocol ``streamlit``) and asks for a page by name, as a visit to
    ``/<page>`` does;
  - keeps every widget's current value, as the frontend's widget manager does, and sends all of them with
    each rerun (a changed selectbox, slider or radio; a page change from the sidebar);
  - fetches any message the server sends by reference (``/_stcore/message``).
What it does not do: draw anything, or run Plotly's animation (a browser does that on its own CPU, with no
message to the server).  Every run is read to its ``script_finished``; exception boxes and error alerts are
collected as errors.
"""
from __future__ import annotations

import asyncio
import re
import time
import urllib.request
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import websockets
from streamlit.proto.Alert_pb2 import Alert
from streamlit.proto.BackMsg_pb2 import BackMsg
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg
from streamlit.proto.Slider_pb2 import Slider
from streamlit.proto.WidgetStates_pb2 import WidgetState

WIDGETS = ("selectbox", "radio", "slider", "checkbox")  # the widget kinds whose values the app's pages use
LAZY_ASSETS = ("static/js/PlotlyChart.*.js", "static/js/DataFrame.*.js", "static/js/arrowFormatUtils.*.js",
               "static/media/MaterialSymbols-Rounded.*.woff2")
_REFERENCE = re.compile(r'(?:src|href)="\./(static/[^"]+)"')
FINISHED = ForwardMsg.ScriptFinishedStatus


@dataclass
class Run:
    """One script run as the client saw it: from sending the rerun to its ``script_finished``."""
    seconds: float = 0.0
    messages: int = 0
    bytes: int = 0
    status: str = ""
    errors: list[str] = field(default_factory=list)  # exception boxes and error alerts the run drew
    auto_reruns: int = 0  # fragments asking the client to rerun them on a timer (only while a model trains)
    drawn: Counter = field(default_factory=Counter)  # element kind -> how many the run drew


def static_assets(base: str) -> list[str]:
    """The URLs a browser loads before the app runs: index.html, what it references, the big lazy chunks."""
    import streamlit

    with urllib.request.urlopen(base + "/", timeout=30) as response:
        index = response.read().decode()
    paths = list(dict.fromkeys(_REFERENCE.findall(index)))
    static_root = Path(streamlit.__file__).parent / "static"
    for pattern in LAZY_ASSETS:
        paths += [str(p.relative_to(static_root)) for p in sorted(static_root.glob(pattern))]
    return [base + "/"] + [f"{base}/{p}" for p in paths]


def fetch(url: str) -> int:
    """GET ``url`` as a browser does (gzip accepted); the number of bytes the server sent."""
    request = urllib.request.Request(url, headers={"Accept-Encoding": "gzip"})
    with urllib.request.urlopen(request, timeout=120) as response:
        return len(response.read())


class Session:
    """One browser tab's conversation with the server."""

    def __init__(self, base: str):
        self.base = base
        self.ws = None
        self.widgets: dict[str, tuple[str, object]] = {}  # widget id -> (kind, its proto in the last run)
        self.values: dict[str, WidgetState] = {}  # widget id -> the value the frontend would send
        self.pages: dict[str, str] = {}  # url path -> page script hash (from the navigation message)
        self.page_hash = ""
        self.query = ""  # the URL's query string, sent with each rerun until the next page change
        self.drawn: Counter = Counter()  # what the last run drew, by element kind
        self.static_bytes = 0

    async def open(self, page: str, assets: list[str] | None = None, query: str = "") -> Run:
        """Load the static files (``assets``), connect, and run ``page`` (its url path; "" for the home page)
        with the URL's ``query`` string (e.g. "dataset=synthetic-10k", a deep link)."""
        self.query = query
        for url in assets or ():
            self.static_bytes += await asyncio.to_thread(fetch, url)
        ws_url = self.base.replace("http://", "ws://", 1) + "/_stcore/stream"
        self.ws = await websockets.connect(ws_url, subprotocols=["streamlit"], max_size=None, open_timeout=60)
        return await self.rerun(page_name=page)

    async def close(self) -> None:
        if self.ws is not None:
            await self.ws.close()

    # the user's actions ---------------------------------------------------------------------------------
    def find(self, kind: str, label: re.Pattern | None = None, key_suffix: str | None = None) -> list[str]:
        """Ids of the last run's widgets of ``kind`` whose label matches (or whose key ends with the suffix)."""
        return [wid for wid, (k, proto) in self.widgets.items() if k == kind
                and (label is None or label.search(proto.label))
                and (key_suffix is None or wid.endswith(key_suffix))]

    def options(self, wid: str) -> list[str]:
        return list(self.widgets[wid][1].options)

    def value(self, wid: str):
        state = self.values[wid]
        kind = state.WhichOneof("value")
        return list(getattr(state, kind).data) if kind.endswith("_array_value") else getattr(state, kind)

    async def choose(self, wid: str, option: str) -> Run:
        """Pick ``option`` in a selectbox or radio."""
        self.values[wid] = WidgetState(id=wid, string_value=option)
        return await self.rerun()

    async def slide(self, wid: str, steps: int) -> Run:
        """Move a slider by ``steps`` of its step (an arrow key press is one), within its range; a select
        slider moves to a neighbouring option."""
        proto = self.widgets[wid][1]
        if proto.type == Slider.SELECT_SLIDER:
            options = list(proto.options)
            moved = [options[min(len(options) - 1, max(0, options.index(v) + steps))] for v in self.value(wid)]
            self.values[wid] = WidgetState(id=wid, string_array_value={"data": moved})
        else:
            moved = [min(proto.max, max(proto.min, v + steps * proto.step)) for v in self.value(wid)]
            self.values[wid] = WidgetState(id=wid, double_array_value={"data": moved})
        return await self.rerun()

    async def go_to(self, page: str) -> Run:
        """Follow the sidebar's link to ``page`` (its url path); the new URL has no query string."""
        self.query = ""
        return await self.rerun(page_hash=self.pages[page])

    # the protocol ---------------------------------------------------------------------------------------
    async def rerun(self, page_name: str | None = None, page_hash: str | None = None) -> Run:
        msg = BackMsg()
        state = msg.rerun_script
        state.query_string = self.query
        if page_name is not None:
            state.page_name = page_name
        else:
            state.page_script_hash = page_hash or self.page_hash
        state.widget_states.widgets.extend(self.values.values())
        start = time.perf_counter()
        await self.ws.send(msg.SerializeToString())
        return await self._read_run(start)

    async def _read_run(self, start: float) -> Run:
        run, seen = Run(), {}
        while True:
            data = await self.ws.recv()
            run.messages += 1
            run.bytes += len(data)
            fwd = ForwardMsg()
            fwd.ParseFromString(data)
            if fwd.WhichOneof("type") == "ref_hash":
                fwd = await self._fetch_reference(fwd.ref_hash, run)
            kind = fwd.WhichOneof("type")
            if kind == "delta" and fwd.delta.WhichOneof("type") == "new_element":
                self._element(fwd.delta.new_element, run, seen)
            elif kind == "navigation":
                self.pages = {p.url_pathname: p.page_script_hash for p in fwd.navigation.app_pages}
                self.page_hash = fwd.navigation.page_script_hash
            elif kind == "auto_rerun":
                run.auto_reruns += 1
            elif kind == "page_not_found":
                run.errors.append(f"page not found: {fwd.page_not_found.page_name}")
            elif kind == "script_finished":
                run.status = FINISHED.Name(fwd.script_finished)
                if fwd.script_finished == FINISHED.FINISHED_EARLY_FOR_RERUN:
                    continue  # a newer run follows; read on to its end
                run.seconds = time.perf_counter() - start
                self.widgets, self.drawn = seen, run.drawn
                self.values = {wid: self.values[wid] for wid in seen if wid in self.values}
                return run

    async def _fetch_reference(self, ref: str, run: Run) -> ForwardMsg:
        def get() -> bytes:
            with urllib.request.urlopen(f"{self.base}/_stcore/message?hash={ref}", timeout=60) as response:
                return response.read()

        data = await asyncio.to_thread(get)
        run.bytes += len(data)
        fwd = ForwardMsg()
        fwd.ParseFromString(data)
        return fwd

    def _element(self, element, run: Run, seen: dict) -> None:
        kind = element.WhichOneof("type")
        proto = getattr(element, kind)
        run.drawn[kind] += 1
        if kind == "exception":
            run.errors.append(f"exception box: {proto.type}: {proto.message[:200]}")
        elif kind == "alert" and proto.format == Alert.ERROR:
            run.errors.append(f"error message: {proto.body[:200]}")
        elif kind in WIDGETS and proto.id:
            seen[proto.id] = (kind, proto)
            if proto.id not in self.values:  # first drawn: the frontend starts from the widget's value
                self.values[proto.id] = _initial_state(kind, proto)


def _initial_state(kind: str, proto) -> WidgetState:
    if kind in ("selectbox", "radio"):
        value = proto.raw_value if proto.set_value else (proto.options[proto.default] if proto.options else "")
        return WidgetState(id=proto.id, string_value=value)
    if kind == "slider" and proto.type == Slider.SELECT_SLIDER:  # values are the options' labels
        value = list(proto.raw_value) if proto.set_value else [proto.options[int(i)] for i in proto.default]
        return WidgetState(id=proto.id, string_array_value={"data": value})
    if kind == "slider":
        value = list(proto.value) if proto.set_value else list(proto.default)
        return WidgetState(id=proto.id, double_array_value={"data": value})
    return WidgetState(id=proto.id, bool_value=proto.value if proto.set_value else proto.default)
