"""JupyterLab seen through Playwright: open a notebook, Run All, find an ipywidgets slider,
move it with the keyboard or the mouse, and check that its figure and printed text follow.

The checks compare what the slider's cell shows (``Shown``: readout, image data URL, text)
before and after a move, so they fail when a callback is not wired, redraws a stale figure
or prints stale numbers.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass

from browser_harness import LabServer

# JupyterLab 4 renders an error as stderr text (there is no error mime type in the page), so
# an error is a stderr output of the shown notebook that holds a traceback's header.
FIND_ERROR = """() => [...document.querySelectorAll('.jp-NotebookPanel:not(.lm-mod-hidden) '
    + '.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]')].find(
    e => e.textContent.includes('Traceback (most recent call last)'))"""
NUMBER = re.compile(r"-?\d+(?:\.\d+)?(?:e-?\d+)?")


def open_notebook(page, server: LabServer, relative: str, timeout_ms: float = 60_000,
                  dismiss_dialogs: bool = True) -> None:
    """Open ``relative`` (to the server root) and wait until its kernel is idle.

    With ``dismiss_dialogs=False`` a dialog (e.g. "Select Kernel") fails the call instead:
    the notebook must start its kernel without asking.
    """
    page.goto(server.notebook_url(relative), timeout=timeout_ms)
    wait_notebook_ready(page, timeout_ms, dismiss_dialogs)


def wait_notebook_ready(page, timeout_ms: float, dismiss_dialogs: bool = True) -> None:
    """Wait until a notebook's cells show and its kernel is idle (see ``open_notebook``)."""
    page.locator(".jp-NotebookPanel .jp-Cell").first.wait_for(timeout=timeout_ms)
    if dismiss_dialogs:
        _dismiss_dialogs(page)
    try:
        wait_kernel_idle(page, timeout_ms)
    except Exception as exc:
        dialog = page.locator(".jp-Dialog")
        if dialog.count():
            raise AssertionError(f"JupyterLab asked instead of starting the notebook's "
                                 f"kernel:\n{dialog.first.inner_text()}") from exc
        raise


def kernel_name(page) -> str:
    """The kernel's display name as the status bar shows it ("Segmentation course")."""
    texts = page.locator(".jp-StatusBar-TextItem").all_inner_texts()
    found = [t.strip().rsplit(" | ", 1)[0] for t in texts if " | " in t]
    return found[0] if found else ""


def _dismiss_dialogs(page) -> None:
    # A kernel-selection or "kernel not found" dialog would block every click.
    dialog = page.locator(".jp-Dialog")
    if dialog.count():
        page.locator(".jp-Dialog .jp-mod-accept").first.click()


def wait_kernel_idle(page, timeout_ms: float) -> None:
    """Wait until the status bar names a kernel and reports it idle.

    The toolbar's execution indicator says "idle" before any kernel is attached, and a
    Run All issued then is dropped, so the status bar's "<kernel> | Idle" is the signal.
    """
    page.wait_for_function(
        """() => [...document.querySelectorAll('.jp-StatusBar-TextItem')].some(
            e => / \\| Idle$/.test(e.textContent.trim())
                 && !e.textContent.trim().startsWith('No Kernel'))""",
        timeout=timeout_ms,
    )


def run_all_cells(page, timeout_ms: float, allow_error: bool = False) -> str:
    """Run > Run All Cells from the menu bar, then wait until no cell is queued or running
    and the kernel is idle. Fails with the notebook's error output when a cell raised, or,
    with ``allow_error``, returns that output ("" when none)."""
    page.locator(".lm-MenuBar-item", has_text=re.compile(r"^Run$")).click()
    page.locator('.lm-Menu-item[data-command="runmenu:run-all"]').click()
    running = """() => [...document.querySelectorAll(
        '.jp-NotebookPanel:not(.lm-mod-hidden) .jp-InputPrompt')].some(
        p => p.textContent.includes('[*]'))"""
    # a cell that fails at once may end before "[*]" is ever seen
    page.wait_for_function(f"() => ({running})() || ({FIND_ERROR})()", timeout=15_000)
    page.wait_for_function(
        f"""() => ({FIND_ERROR})()
                  || !({running})() && [...document.querySelectorAll('.jp-StatusBar-TextItem')]
                     .some(e => / \\| Idle$/.test(e.textContent.trim()))""",
        timeout=timeout_ms,
        polling=250,
    )
    error = page.evaluate(f"() => ({FIND_ERROR})()?.innerText || ''")
    if not error:
        return ""
    if allow_error:
        wait_kernel_idle(page, timeout_ms)  # Run All stops at the error; let it settle
        return error
    raise AssertionError(f"a cell raised in the browser:\n{error[-3000:]}")


@dataclass
class Slider:
    """One ipywidgets slider and the output of the code cell that displays it."""

    widget: object  # the slider's Locator (``.widget-slider``)
    cell: object  # the code cell's Locator

    @property
    def handle(self):
        return self.widget.locator(".noUi-handle").first

    def readout(self) -> str:
        return self.widget.locator(".widget-readout").inner_text().strip()

    def image(self) -> str:
        """The ``src`` of the last image in the cell's outputs (a PNG data URL)."""
        images = self.cell.locator(".jp-OutputArea img")
        return images.last.get_attribute("src") if images.count() else ""

    def text(self) -> str:
        """The text the callback printed: the cell's text outputs, widget labels excluded."""
        parts = self.cell.locator(".jp-OutputArea .jp-RenderedText").all_inner_texts()
        return "\n".join(p.strip() for p in parts if p.strip())


def find_slider(page, description: re.Pattern, timeout_ms: float) -> Slider:
    """The slider whose description label matches ``description`` (e.g. ``gamma``).

    Its readout must have rendered, i.e. the widget model arrived from the kernel.
    """
    labelled = page.locator(".widget-slider").filter(
        has=page.locator(".widget-label", has_text=description))
    cell = page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-CodeCell").filter(
        has=labelled).first
    widget = cell.locator(".widget-slider").filter(
        has=page.locator(".widget-label", has_text=description)).first
    widget.locator(".noUi-handle").wait_for(timeout=timeout_ms)
    # The slider at the top of the notebook's view, so full-page screenshots show its figure.
    widget.evaluate("e => e.scrollIntoView({block: 'start'})")
    return Slider(widget, cell)


def slider_labels(page) -> list[str]:
    """Description labels of every slider on the page (for failure messages)."""
    return page.locator(".widget-slider .widget-label").all_inner_texts()


@dataclass(frozen=True)
class Shown:
    """What a slider's cell shows at one moment."""

    readout: str
    image: str
    text: str

    def metrics(self, skip: tuple[float | None, ...] = ()) -> list[float]:
        """The numbers in the printed text, except those close to a value in ``skip``
        (the slider's values, which the text may echo)."""
        skip = [v for v in skip if v is not None]
        return [n for n in numbers(self.text) if not any(_close(n, v) for v in skip)]


def shown(slider: Slider) -> Shown:
    return Shown(slider.readout(), slider.image(), slider.text())


def settle(page, slider: Slider, timeout_ms: float, quiet_s: float = 1.5) -> Shown:
    """Wait until the kernel is idle and the cell has not changed for ``quiet_s`` seconds
    (each key press queues its own callback), then return what it shows."""
    deadline = time.monotonic() + timeout_ms / 1000
    last, since = shown(slider), time.monotonic()
    while time.monotonic() < deadline:
        time.sleep(0.25)
        now = shown(slider)
        if now != last:
            last, since = now, time.monotonic()
        elif time.monotonic() - since >= quiet_s and kernel_idle(page):
            return now
    raise TimeoutError(f"the slider's output kept changing for {timeout_ms / 1000:.0f} s")


def kernel_idle(page) -> bool:
    return page.evaluate(
        """() => [...document.querySelectorAll('.jp-StatusBar-TextItem')].some(
            e => / \\| Idle$/.test(e.textContent.trim()))""")


def move_and_compare(page, slider: Slider, move, timeout_ms: float) -> tuple[Shown, Shown]:
    """Settle, ``move(page, slider)``, wait for the output to change and settle again.

    Returns what the cell showed before and after. Raises ``AssertionError`` when the
    readout moved but the figure or the printed text did not follow within ``timeout_ms``.
    """
    before = settle(page, slider, timeout_ms)
    move(page, slider)
    deadline = time.monotonic() + timeout_ms / 1000
    while time.monotonic() < deadline:
        now = shown(slider)
        if now.image != before.image and now.text != before.text:
            break
        time.sleep(0.25)
    after = settle(page, slider, timeout_ms)
    assert_follows(before, after)
    return before, after


def assert_follows(before: Shown, after: Shown) -> None:
    """The slider moved, and the figure and the printed metrics followed it."""
    assert after.readout != before.readout, f"the slider did not move (readout {before.readout})"
    where = f"slider {before.readout} -> {after.readout}"
    assert after.image, f"{where}: the cell shows no figure"
    assert after.image != before.image, f"{where}: the figure did not change"
    old, new = _number(before.readout), _number(after.readout)
    assert after.metrics((old, new)) != before.metrics((old, new)), (
        f"{where}: the printed metrics did not change:\n{after.text}")
    if old is not None and any(_close(n, old) for n in numbers(before.text)):
        assert any(_close(n, new) for n in numbers(after.text)), (
            f"{where}: the text printed {old} before but not {new} after:\n{after.text}")


def move_by_keyboard(*keys: str):
    """A move: focus the handle and press ``keys`` (e.g. ArrowRight, End), as noUiSlider's
    keyboard support understands them."""

    def move(page, slider: Slider) -> None:
        slider.handle.focus()
        for key in keys:
            page.keyboard.press(key)

    move.__name__ = "keyboard " + "+".join(keys)
    return move


def move_by_drag(fraction: float):
    """A move: drag the handle by ``fraction`` of the track's width (negative: left)."""

    def move(page, slider: Slider) -> None:
        handle = slider.handle.bounding_box()
        track = slider.widget.locator(".noUi-target").first.bounding_box()
        x, y = handle["x"] + handle["width"] / 2, handle["y"] + handle["height"] / 2
        target = min(max(x + fraction * track["width"], track["x"]),
                     track["x"] + track["width"])
        page.mouse.move(x, y)
        page.mouse.down()
        page.mouse.move(target, y, steps=12)
        page.mouse.up()

    move.__name__ = f"drag {fraction:+.0%}"
    return move


def numbers(text: str) -> list[float]:
    return [float(n) for n in NUMBER.findall(text)]


def _number(text: str) -> float | None:
    found = numbers(text)
    return found[0] if len(found) == 1 else None


def _close(a: float, b: float) -> bool:
    return abs(a - b) <= 1e-6 + 1e-3 * abs(b)
