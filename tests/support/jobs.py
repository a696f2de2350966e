"""Job specs submitted to a daemon under test."""
from __future__ import annotations

from tests.support.images import unique_image

FILMS_PER_JOB = 6   # of a batch (submit_batch)


def job_of(images, films=1, layout="STANDARD\\2,2", per_film=4, printer="sim", **fields):
    """``films`` films of pydicom's CT and MR (``images``: the fixture), ``per_film`` frames each."""
    frames = [images["CT_small.dcm"], images["MR_small.dcm"]] * per_film
    return {"printer": printer, **fields, "films": [
        {"film_size": "14INX17IN", "layout": layout, "frames": frames[:per_film]} for _ in range(films)]}


def submit_batch(hc, tmp_path, first_number: int, jobs: int, printer: str = "sim") -> list[int]:
    """``jobs`` jobs of FILMS_PER_JOB films, each film with its own numbered image."""
    ids = []
    for job in range(jobs):
        paths = []
        for film in range(FILMS_PER_JOB):
            number = first_number + job * FILMS_PER_JOB + film
            path = tmp_path / f"image-{number}.dcm"
            unique_image(path, number)
            paths.append(str(path))
        ids.append(hc.submit({"printer": printer, "label": f"crash {first_number + job}", "films": [
            {"layout": "STANDARD\\1,1", "film_size": "8INX10IN", "frames": [p]} for p in paths]}))
    return ids
