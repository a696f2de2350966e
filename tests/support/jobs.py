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


#: Film n of a job of :func:`numbered_films` has layout ``NUMBERED_LAYOUTS[n - 1]``: the printer's
#: record of a film says which one it is.
NUMBERED_LAYOUTS = ("STANDARD\\1,1", "STANDARD\\1,2", "STANDARD\\2,1", "STANDARD\\2,2", "STANDARD\\3,3")


def numbered_films(images, count: int = 2, printer: str = "sim", **fields) -> dict:
    """A job of ``count`` films told apart at the printer by their layout (see :func:`copies`)."""
    frames = [images["CT_small.dcm"], images["MR_small.dcm"]]
    return {"printer": printer, **fields, "films": [
        {"layout": layout, "frames": frames[:min(number, 2)]}
        for number, layout in enumerate(NUMBERED_LAYOUTS[:count], start=1)]}


def copies(simulator) -> list[str]:
    """What came out of the simulator, as the numbers of :func:`numbered_films`' films, in the order
    printed."""
    return [str(NUMBERED_LAYOUTS.index(f["film_box"]["image_display_format"]) + 1) for f in simulator.films]
