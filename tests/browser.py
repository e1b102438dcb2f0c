"""Opening pages in headless Chromium (the ``chromium_service`` fixture's browser) for the report tests.

Each call starts a fresh browser with a profile of its own and no network
chatter. What a page looks like is read back two ways: a screenshot, and the
DOM of a page that shows it in a frame as wide as a phone (headless Chromium
keeps its window at least 500 pixels wide) and writes into itself the
page's scroll width and where each of its links points.
"""

from __future__ import annotations

import json
import re
import subprocess
import uuid
from pathlib import Path
from urllib.parse import quote

from PIL import Image

PHONE = 390
MEASURE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>measure</title></head><body style="margin:0">
<iframe id="page" src="{name}" style="width:{width}px;height:900px;border:0"></iframe>
<script>
document.getElementById("page").addEventListener("load", function () {{
  var shown = this.contentDocument;
  document.body.setAttribute("data-measured", JSON.stringify({{
    scrollWidth: shown.documentElement.scrollWidth,
    links: Array.prototype.map.call(shown.querySelectorAll("a[href]"), function (a) {{ return a.href; }})
  }}));
}});
</script>
</body></html>
"""


class Browser:
    def __init__(self, path: str, work: Path):
        self.path = path
        self.work = work

    def _run(self, *args: str) -> str:
        profile = self.work / f"chromium-profile-{uuid.uuid4().hex}"
        command = [self.path, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                   "--disable-component-update", "--no-first-run", "--hide-scrollbars",
                   f"--user-data-dir={profile}", *args]
        done = subprocess.run(command, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        return done.stdout

    def measure(self, page: Path, width: int = PHONE) -> dict:
        """{"scrollWidth": ..., "links": [absolute URLs]} of ``page`` shown ``width`` pixels wide."""
        frame = page.with_name(f".measure-{page.name}")
        frame.write_text(MEASURE.format(name=quote(page.name), width=width))
        try:
            # The frame's document is readable from its parent only when files may read files.
            dom = self._run("--allow-file-access-from-files", "--dump-dom", frame.as_uri())
        finally:
            frame.unlink()
        found = re.search(r'data-measured="([^"]*)"', dom)
        assert found, dom[:500]
        return json.loads(found.group(1).replace("&quot;", '"').replace("&amp;", "&"))

    def screenshot(self, page: Path, width: int = PHONE, height: int = 900) -> Image.Image:
        target = self.work / f"shot-{uuid.uuid4().hex}.png"
        self._run(f"--window-size={width},{height}", f"--screenshot={target}", page.as_uri())
        return Image.open(target).convert("RGB")


def inked(image: Image.Image) -> float:
    """The fraction of pixels that are not (nearly) white."""
    grey = image.convert("L")
    histogram = grey.histogram()
    return sum(histogram[:240]) / (grey.width * grey.height)


def coloured(image: Image.Image) -> float:
    """The fraction of pixels with a colour (not a grey: text and axes are black or grey)."""
    saturation = image.convert("HSV").getchannel("S")
    return sum(saturation.histogram()[100:]) / (image.width * image.height)


def chart_pages(html: str, directory: Path) -> list[Path]:
    """Each inline SVG chart of a page alone on a page of its own (to screenshot one chart at a time)."""
    pages = []
    for index, svg in enumerate(re.findall(r"<svg.*?</svg>", html, re.S)):
        page = directory / f"chart-{index}.html"
        page.write_text(f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>chart</title></head>'
                        f'<body style="margin:0">{svg}</body></html>')
        pages.append(page)
    return pages
