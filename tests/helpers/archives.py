"""A tiny generated aclImdb archive: short reviews whose sentiment words make the label learnable."""

from __future__ import annotations

import io
import random
import tarfile
from pathlib import Path

POSITIVE_WORDS = ["great", "wonderful", "superb", "moving", "brilliant", "loved"]


NEGATIVE_WORDS = ["awful", "boring", "terrible", "dull", "worst", "hated"]


NEUTRAL_WORDS = ["the", "film", "movie", "a", "plot", "actor", "scene", "and", "of", "it"]


def make_review(rng: random.Random, positive: bool, length: int) -> str:
    """A short review whose sentiment words make the label learnable."""
    sentiment = POSITIVE_WORDS if positive else NEGATIVE_WORDS
    words = [rng.choice(NEUTRAL_WORDS + sentiment * 2) for _ in range(length)]
    half = len(words) // 2
    return " ".join(words[:half]).capitalize() + ".<br /><br />" + " ".join(words[half:]) + "!"


def write_aclimdb(
    destination: Path, reviews_per_class: int = 20, seed: int = 0, as_archive: bool = True,
    extra_test_words: tuple[str, ...] = ("unseenword",),
) -> Path:
    """Write an aclImdb-layout .tar.gz (or folder) with generated reviews."""
    rng = random.Random(seed)
    files: dict[str, str] = {"aclImdb/README": "generated for tests\n"}
    for split in ("train", "test"):
        for label in ("pos", "neg"):
            for review_id in range(reviews_per_class):
                rating = rng.randint(7, 10) if label == "pos" else rng.randint(1, 4)
                text = make_review(rng, label == "pos", rng.randint(5, 40))
                if split == "test" and review_id == 0:
                    text += " " + " ".join(extra_test_words)
                files[f"aclImdb/{split}/{label}/{review_id}_{rating}.txt"] = text
    if not as_archive:
        for name, text in files.items():
            (destination / name).parent.mkdir(parents=True, exist_ok=True)
            (destination / name).write_text(text)
        return destination / "aclImdb"
    destination.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(destination, "w:gz") as archive:
        for name, text in files.items():
            payload = text.encode()
            info = tarfile.TarInfo(name)
            info.size = len(payload)
            archive.addfile(info, io.BytesIO(payload))
    return destination
