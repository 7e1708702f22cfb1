#!/usr/bin/env python3
"""The Pillow side of `layerwise bench data`: the same images, decoded and transformed by Pillow.

Reads a manifest (JSON: a list of [path, offset, length] of encoded images, as `layerwise bench data`
writes it) and prints JSON rows {"what", "workers", "img_per_s"} for:
  decode        Image.open(BytesIO(bytes)).convert("RGB")
  decode+train  decode, then torchvision's RandomResizedCrop(224) + RandomHorizontalFlip() (torchvision
                when importable; otherwise the same algorithm in plain Python: PIL crop + resize(BILINEAR)
                + transpose, which is what torchvision runs on PIL images)
  decode+eval   decode, then Resize(256) + CenterCrop(224) (torchvision, or the same in plain Python)
Workers are processes (multiprocessing.Pool, as torch's DataLoader uses), started and warmed up before
timing; each reads its images from the files itself, and the transformed images stay in the worker
(nothing is sent back but a count), which if anything favours this side.

Usage: python3 bench_data_pillow.py MANIFEST.json WORKERS[,WORKERS...]
"""
import io
import json
import math
import multiprocessing
import random
import sys
import time

from PIL import Image

try:
    import torchvision.transforms as T

    TRAIN = T.Compose([T.RandomResizedCrop(224), T.RandomHorizontalFlip()])
    EVAL = T.Compose([T.Resize(256), T.CenterCrop(224)])
    TORCHVISION = True
except Exception:  # no torchvision: the same algorithms on PIL images
    TORCHVISION = False

    def TRAIN(img):
        w, h = img.size
        area = w * h
        lo, hi = math.log(3 / 4), math.log(4 / 3)
        for _ in range(10):
            target = area * random.uniform(0.08, 1.0)
            aspect = math.exp(random.uniform(lo, hi))
            cw, ch = int(round(math.sqrt(target * aspect))), int(round(math.sqrt(target / aspect)))
            if 0 < cw <= w and 0 < ch <= h:
                top, left = random.randint(0, h - ch), random.randint(0, w - cw)
                break
        else:
            ratio = w / h
            if ratio < 3 / 4:
                cw, ch = w, int(round(w / (3 / 4)))
            elif ratio > 4 / 3:
                cw, ch = int(round(h * 4 / 3)), h
            else:
                cw, ch = w, h
            top, left = (h - ch) // 2, (w - cw) // 2
        img = img.crop((left, top, left + cw, top + ch)).resize((224, 224), Image.BILINEAR)
        return img.transpose(Image.FLIP_LEFT_RIGHT) if random.random() < 0.5 else img

    def EVAL(img):
        w, h = img.size
        if w <= h:
            size = (256, int(256 * h / w))
        else:
            size = (int(256 * w / h), 256)
        img = img.resize(size, Image.BILINEAR)
        left, top = int(round((size[0] - 224) / 2)), int(round((size[1] - 224) / 2))
        return img.crop((left, top, left + 224, top + 224))


def run(job):
    what, items = job
    for path, offset, length in items:
        with open(path, "rb") as f:
            f.seek(offset)
            data = f.read(length)
        img = Image.open(io.BytesIO(data)).convert("RGB")
        if what == "decode+train":
            img = TRAIN(img)
        elif what == "decode+eval":
            img = EVAL(img)
        img.tobytes()
    return len(items)


def main():
    items = json.load(open(sys.argv[1]))
    workers = [int(w) for w in sys.argv[2].split(",")]
    rows = []
    for what in ["decode", "decode+train", "decode+eval"]:
        for w in workers:
            chunks = [(what, items[i : i + 16]) for i in range(0, len(items), 16)]
            with multiprocessing.Pool(w) as pool:
                pool.map(run, chunks[: 2 * w])  # warm up: processes started, files in the page cache
                t0 = time.perf_counter()
                done = sum(pool.map(run, chunks, chunksize=1))
                seconds = time.perf_counter() - t0
            rows.append({"what": what, "workers": w, "img_per_s": done / seconds})
    print(json.dumps({"torchvision": TORCHVISION, "pillow": Image.__version__, "rows": rows}))


if __name__ == "__main__":
    main()
