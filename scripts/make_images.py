"""Draw the share card (static/share.png) and the home-screen icon with the local Chromium; run once, commit.

    .venv/bin/python scripts/make_images.py

The PNGs are then reduced to a small palette with Pillow when it can be imported (it is deliberately not a
requirement: put a throwaway environment's site-packages on PYTHONPATH for the one run).
"""

from __future__ import annotations

import sys
from pathlib import Path

from playwright.sync_api import sync_playwright

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from microsite.config import DEFAULT_CLINIC_FILE  # noqa: E402
from microsite.content.article import load_article  # noqa: E402
from microsite.content.clinic import load_clinic  # noqa: E402

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]  # fmt: skip
MARK = (ROOT / "static" / "favicon.svg").read_text()

CARD = """<!doctype html><html><head><meta charset="utf-8"><style>
body {{ margin:0; width:1200px; height:630px; display:flex; flex-direction:column; justify-content:center;
  padding:0 90px; box-sizing:border-box; background:#fbfaf7; color:#1c2a2f;
  font-family: system-ui, "DejaVu Sans", sans-serif; border-left:24px solid #1f5f5b; }}
.mark {{ width:88px; height:88px; margin-bottom:36px; }}
h1 {{ font-size:64px; line-height:1.1; margin:0 0 28px; letter-spacing:-1px; }}
p {{ font-size:32px; margin:0; color:#35464b; }}
</style></head><body><div class="mark">{mark}</div><h1>{title}</h1>
<p>{clinic}<br>{cities}</p></body></html>"""

ICON = """<!doctype html><html><head><style>body{{margin:0;width:180px;height:180px}}
svg{{width:180px;height:180px;display:block}}</style></head><body>{mark}</body></html>"""


def squeeze(path: Path, colors: int) -> None:
    """Reduce to a small palette: the card is flat colour and text, so it stays sharp."""
    try:
        from PIL import Image  # noqa: PLC0415 -- Pillow is optional: only this script uses it
    except ImportError:
        print(f"Pillow is not importable: {path.name} keeps its full colours")
        return
    with Image.open(path) as image:
        small = image.convert("RGB").quantize(colors=colors, method=Image.Quantize.MEDIANCUT)
    small.save(path, optimize=True)


def main() -> None:
    clinic = load_clinic(DEFAULT_CLINIC_FILE)
    article = load_article()
    cities = " and ".join(o.city for o in clinic.offices) + ", Florida"
    card = CARD.format(mark=MARK, title=article.title, clinic=clinic.name, cities=cities)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1200, "height": 630})
        page.set_content(card)
        page.screenshot(path=ROOT / "static" / "share.png")
        page.set_viewport_size({"width": 180, "height": 180})
        page.set_content(ICON.format(mark=MARK))
        page.screenshot(path=ROOT / "static" / "apple-touch-icon.png")
        browser.close()
    squeeze(ROOT / "static" / "share.png", 32)
    squeeze(ROOT / "static" / "apple-touch-icon.png", 16)
    for name in ("share.png", "apple-touch-icon.png"):
        print(name, (ROOT / "static" / name).stat().st_size, "bytes")


if __name__ == "__main__":
    main()
