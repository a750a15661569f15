"""How fast the explorer answers in a real browser (``python -m tools.bench --ui``): Chromium, driven by Playwright,
on ``streamlit run explorer.py`` with the built-in demo, on fresh servers.

- cold start: from launching the server to the **Run Grad-CAM** button being enabled (goal <= 5 s);
- run: from the click to the frame player being on the page, against the explanation's own time (the "Done in"
  of the page): goal player <= explanation + 0.5 s.

Each figure is the minimum over ``servers`` fresh servers (the machine's other load only ever adds time).
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = Path("/usr/bin/chromium")
RUN = "Run Grad-CAM"
PLAYER = ".js-plotly-plot .slider-container"  # the frame player's slider (tests/browser.py: CURRENT_FRAME)
GOALS = {"cold": 5.0, "slack": 0.5}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def stop(proc: subprocess.Popen) -> None:
    """Stop a server: terminate, then kill when it has not ended within 15 s."""
    proc.terminate()
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def _healthy(url: str, deadline: float) -> None:
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=1) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("streamlit did not start")


def one_server(browser, folder: Path) -> dict[str, float]:
    """Start a fresh server, open the explorer, wait for Run, click it, wait for the player; the seconds."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = dict(os.environ, MMCAM_UPLOADS=str(folder / "uploads"))
    page = browser.new_page(viewport={"width": 1500, "height": 1800})
    started = time.monotonic()
    with open(folder / f"{port}.log", "wb") as log:
        proc = subprocess.Popen([sys.executable, "-m", "streamlit", "run", "explorer.py", "--server.headless", "true",
                                 "--server.port", str(port), "--server.address", "127.0.0.1"],
                                cwd=ROOT, stdout=log, stderr=log, env=env)
    try:
        _healthy(url, started + 60)
        page.goto(url)
        button = page.get_by_role("button", name=RUN)
        button.wait_for(timeout=60_000)
        page.wait_for_function(f"""() => [...document.querySelectorAll('button')].some(
            b => b.innerText.includes('{RUN}') && !b.disabled)""", timeout=60_000, polling=20)
        cold = time.monotonic() - started
        clicked = time.monotonic()
        button.click()
        page.wait_for_selector(PLAYER, timeout=120_000)
        player = time.monotonic() - clicked
        page.get_by_text(re.compile(r"Done in [\d.]+ s")).first.wait_for(timeout=60_000)
        done = re.search(r"Done in ([\d.]+) s", page.content())
        explain = float(done.group(1)) if done else float("nan")
        page.wait_for_selector("video", timeout=60_000)
        video = time.monotonic() - clicked
    finally:
        page.close()
        stop(proc)
    return {"cold": cold, "player": player, "explain": explain, "video": video}


def ui_table(servers: int = 3) -> int:
    """Print the cold start and the click-to-player time (min over ``servers`` fresh servers); 0, or 2 when
    Chromium or Playwright is missing."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        print("the UI benchmark needs the playwright package (requirements-dev.txt)", file=sys.stderr)
        return 2
    if not CHROMIUM.exists():
        print(f"the UI benchmark needs Chromium at {CHROMIUM}", file=sys.stderr)
        return 2
    runs = []
    with tempfile.TemporaryDirectory() as tmp, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update"])
        try:
            for i in range(servers):
                runs.append(one_server(browser, Path(tmp)))
                print(f"server {i + 1}: " + ", ".join(f"{k} {v:.2f} s" for k, v in runs[-1].items()), flush=True)
        finally:
            browser.close()
    best = {key: min(r[key] for r in runs) for key in runs[0]}
    over = min(r["player"] - r["explain"] for r in runs)
    print(f"explorer in Chromium, demo model, min of {servers} fresh servers:")
    print(f"  cold start (server launched -> Run enabled): {best['cold']:.2f} s   (goal <= {GOALS['cold']:.0f} s)")
    print(f"  click -> frame player: {best['player']:.2f} s; explanation ('Done in'): {best['explain']:.2f} s; "
          f"player - explanation: {over:.2f} s   (goal <= {GOALS['slack']} s)")
    print(f"  click -> overlay video: {best['video']:.2f} s")
    return 0
