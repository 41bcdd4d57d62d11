"""The comparison page in headless Chromium: its layout at a window width, and screenshots."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

CHROMIUM = shutil.which("chromium")
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--no-first-run", "--disable-sync", "--hide-scrollbars"]
# Added to a copy of the page: once the plots are loaded, the layout facts go into the DOM
# that --dump-dom prints.
LAYOUT_PROBE = """<script>
window.addEventListener("load", () => {
  const box = document.getElementById("comparison").parentElement;
  const facts = {window_width: window.innerWidth, page_width: document.documentElement.scrollWidth,
                 box_width: box.clientWidth, table_width: box.scrollWidth,
                 images: [...document.images].map(image => image.getBoundingClientRect().right)};
  const output = document.createElement("pre");
  output.id = "layout-facts";
  output.textContent = JSON.stringify(facts);
  document.body.appendChild(output);
});
</script>"""


def chromium(arguments: list[str], profile: Path) -> subprocess.CompletedProcess:
    return subprocess.run([CHROMIUM, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *arguments],
                          capture_output=True, text=True, timeout=120)


def layout_facts(page: Path, width: int, profile: Path) -> dict:
    probed = page.with_name(f"probed_{width}.html")
    probed.write_text(page.read_text(encoding="utf-8").replace("</body>", LAYOUT_PROBE + "</body>"),
                      encoding="utf-8")
    result = chromium([f"--window-size={width},768", "--dump-dom", probed.as_uri()], profile)
    assert result.returncode == 0, result.stderr[-2000:]
    assert '<pre id="layout-facts">' in result.stdout, "the probe did not run: " + result.stderr[-2000:]
    return json.loads(result.stdout.split('<pre id="layout-facts">', 1)[1].split("</pre>", 1)[0])
