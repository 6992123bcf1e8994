"""``history.png`` drawn with Pillow: loss and accuracy per epoch, train and held-out.

Every train job draws this plot while its cluster is still up; matplotlib
took about a second to import and draw it on 2 cores, Pillow takes
milliseconds. The look follows the matplotlib plot it replaces: two panels,
grid, legend, the job's title.
"""

import io
import math

from PIL import Image, ImageDraw, ImageFont

WIDTH, HEIGHT = 1000, 400
MARGIN = {"left": 70, "right": 20, "top": 50, "bottom": 50}
GAP = 80  # between the two panels
SERIES = (("train", "", (31, 119, 180)), ("held-out", "val_", (255, 127, 14)))


def _font(size: int):
    try:
        return ImageFont.load_default(size=size)
    except (TypeError, OSError):  # a Pillow without FreeType: the fixed bitmap font
        return ImageFont.load_default()


def nice_ticks(low: float, high: float, count: int = 5) -> list[float]:
    """About ``count`` round values (1, 2 or 5 times a power of ten apart) covering the range."""
    if not (math.isfinite(low) and math.isfinite(high)):
        return []
    if high <= low:
        low, high = low - 0.5, high + 0.5
    raw_step = (high - low) / max(count - 1, 1)
    power = 10 ** math.floor(math.log10(raw_step))
    step = next(factor * power for factor in (1, 2, 5, 10) if factor * power >= raw_step)
    first, last = math.floor(low / step), math.ceil(high / step)
    return [round(number * step, 10) for number in range(first, last + 1)]


def _panel(draw, box, history, metric, font) -> None:
    left, top, right, bottom = box
    values = [
        row.get(prefix + metric) for _, prefix, _ in SERIES for row in history
    ]  # fmt: skip
    values = [value for value in values if value is not None and math.isfinite(value)]
    ticks = nice_ticks(min(values, default=0.0), max(values, default=1.0))
    low, high = (ticks[0], ticks[-1]) if len(ticks) > 1 else (0.0, 1.0)
    epochs = max(len(history), 1)

    def x_of(epoch: int) -> float:
        return left + (right - left) * ((epoch - 1) / max(epochs - 1, 1))

    def y_of(value: float) -> float:
        return bottom - (bottom - top) * ((value - low) / (high - low))

    for tick in ticks:
        y = y_of(tick)
        draw.line([(left, y), (right, y)], fill=(225, 225, 225))
        draw.text((left - 6, y), f"{tick:g}", fill="black", anchor="rm", font=font)
    step = max(1, math.ceil(epochs / 10))
    for epoch in range(1, epochs + 1, step):
        x = x_of(epoch)
        draw.line([(x, top), (x, bottom)], fill=(225, 225, 225))
        draw.text((x, bottom + 6), str(epoch), fill="black", anchor="mt", font=font)
    draw.rectangle([left, top, right, bottom], outline="black")
    draw.text(((left + right) / 2, bottom + 26), "epoch", fill="black", anchor="mt", font=font)
    draw.text(((left + right) / 2, top - 6), metric, fill="black", anchor="md", font=font)
    draw.rectangle([right - 118, top + 2, right - 4, top + 46], fill="white", outline=(200,) * 3)
    for number, (name, prefix, colour) in enumerate(SERIES):
        points = [
            (x_of(epoch), y_of(row[prefix + metric]))
            for epoch, row in enumerate(history, start=1)
            if row.get(prefix + metric) is not None and math.isfinite(row[prefix + metric])
        ]
        if len(points) > 1:
            draw.line(points, fill=colour, width=2)
        for x, y in points if len(points) <= 30 else []:
            draw.ellipse([x - 2.5, y - 2.5, x + 2.5, y + 2.5], fill=colour)
        legend_y = top + 14 + 18 * number
        draw.line([(right - 110, legend_y), (right - 85, legend_y)], fill=colour, width=3)
        draw.text((right - 80, legend_y), name, fill="black", anchor="lm", font=font)


def draw_history(history: list[dict], title: str) -> bytes:
    """The plot as PNG bytes."""
    image = Image.new("RGB", (WIDTH, HEIGHT), "white")
    draw = ImageDraw.Draw(image)
    font = _font(13)
    draw.text((WIDTH / 2, 14), title, fill="black", anchor="mt", font=_font(16))
    panel_width = (WIDTH - MARGIN["left"] - MARGIN["right"] - GAP) / 2
    for number, metric in enumerate(("loss", "accuracy")):
        left = MARGIN["left"] + number * (panel_width + GAP)
        box = (left, MARGIN["top"], left + panel_width, HEIGHT - MARGIN["bottom"])
        _panel(draw, box, history, metric, font)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()
