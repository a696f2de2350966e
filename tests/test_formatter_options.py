"""Formatter options: check_frame_options / check_film_options validate, normalise and name the
field of every refusal."""
from __future__ import annotations

import pytest

from hcserver import formatter as F
from tests.support.images import bundled

WHERE = "films[0].frames[2]"


def test_frame_defaults_are_filled():
    assert F.check_frame_options({"image": "ct"}, WHERE) == {
        "image": "ct", "frame": 0, "position": None, "window": None, "voi_function": None,
        "polarity": "NORMAL", "contrast": 1.0, "brightness": 0.0, "true_size": False,
        "annotations": [], "graphics": [], "overlays": True, "rect_mm": None, "native_size": False,
        "magnification": None, "smoothing": None, "requested_image_size": None}
    assert set(F.check_frame_options("ct", WHERE)) == set(F.FRAME_OPTIONS)


def test_frame_options_are_normalised():
    frame = F.check_frame_options({
        "image": "ct", "frame": 3, "position": 2, "window": "AUTO", "voi_function": "sigmoid",
        "polarity": "reverse", "contrast": 2, "brightness": -0.25, "true_size": True, "overlays": False,
        "annotations": [{"text": "{PatientName}", "at": "TOP-LEFT", "size_mm": 4, "color": "#FF8000"}],
        "graphics": [{"type": "Ellipse", "center": [1, 2], "radii": [3, 4], "grey": 0.5, "outline": False},
                     {"type": "scale-bar", "length_mm": 20}]}, WHERE)
    assert (frame["window"], frame["voi_function"], frame["polarity"]) == ("auto", "SIGMOID", "REVERSE")
    assert (frame["contrast"], frame["brightness"], frame["true_size"], frame["overlays"]) == (2.0, -0.25, True, False)
    assert frame["annotations"] == [{"text": "{PatientName}", "at": "top-left", "size_mm": 4.0,
                                     "grey": None, "color": [255, 128, 0], "outline": True}]
    assert frame["graphics"][0] == {"type": "ellipse", "width_mm": None, "center": [1.0, 2.0],
                                    "radii": [3.0, 4.0], "grey": 0.5, "color": None, "outline": False}
    assert frame["graphics"][1]["at"] == "bottom-right"
    for window in ({"center": -600, "width": 1500}, {"index": 1}, {"explanation": "BONE"}):
        assert F.check_frame_options({"image": "ct", "window": window}, WHERE)["window"] == window


@pytest.mark.parametrize("frame, field, message", [
    ({"image": "x", "annotations": [{"text": "a", "at": "top"}, {"text": "b", "at": "middle"}]},
     "annotations[1].at", "'middle' is not one of: top-left, top, top-right, left, right, bottom-left, bottom, "
                          "bottom-right"),
    ({"image": "x", "annotations": [{"text": "{Nope}", "at": "top"}]}, "annotations[0].text",
     "{Nope} is neither a DICOM keyword"),
    ({"image": "x", "annotations": [{"at": "top"}]}, "annotations[0].text", "missing"),
    ({"image": "x", "annotations": [{"text": "a"}]}, "annotations[0].at", "missing"),
    ({"image": "x", "annotations": [{"text": "a", "at": "top", "size_mm": 0}]}, "annotations[0].size_mm",
     "expected a number from 0.5 to 50"),
    ({"image": "x", "annotations": [{"text": "a", "at": "top", "font": "x"}]}, "annotations[0].font",
     "unknown field"),
    ({"image": "x", "annotations": [{"text": "a", "at": "top", "grey": 0.5, "color": "#000000"}]},
     "annotations[0].color", "grey or color, not both"),
    ({"image": "x", "annotations": [{"text": "a", "at": "top", "color": "red"}]}, "annotations[0].color",
     "expected \"#rrggbb\""),
    ({"image": "x", "annotations": [{"text": "a", "at": "top", "grey": 2}]}, "annotations[0].grey",
     "from 0 to 1"),
    ({"image": "x", "annotations": {"text": "a"}}, "annotations", "expected a list"),
    ({"image": "x", "annotations": [{"text": "a", "at": "top"}] * 33}, "annotations", "limit of 32"),
    ({"image": "x", "window": {"center": 40}}, "window", "expected {\"center\""),
    ({"image": "x", "window": {"center": 40, "width": 0}}, "window", "expected {\"center\": number"),
    ({"image": "x", "window": {"center": 40, "width": 1e12}}, "window", "at most 1e+09"),
    ({"image": "x", "window": {"center": True, "width": 10}}, "window", "expected {\"center\": number"),
    ({"image": "x", "window": {"index": -1}}, "window.index", "whole number >= 0"),
    ({"image": "x", "window": {"explanation": ""}}, "window.explanation", "non-empty"),
    ({"image": "x", "window": "bright"}, "window", "'bright': expected"),
    ({"image": "x", "voi_function": "CURVY"}, "voi_function", "'CURVY' is not one of: LINEAR, LINEAR_EXACT, SIGMOID"),
    ({"image": "x", "polarity": "INVERSE"}, "polarity", "not one of: NORMAL, REVERSE"),
    ({"image": "x", "contrast": 0}, "contrast", "more than 0 to 10"),
    ({"image": "x", "brightness": 1.5}, "brightness", "from -1 to 1"),
    ({"image": "x", "true_size": "yes"}, "true_size", "true or false"),
    ({"image": "x", "overlays": 1}, "overlays", "true or false"),
    ({"image": "x", "frame": -1}, "frame", "whole number >= 0"),
    ({"image": "x", "position": 0}, "position", "whole number >= 1"),
    ({"image": "x", "rect_mm": [0, 0, 10]}, "rect_mm", "[x, y, width, height]"),
    ({"image": "x", "graphics": [{"type": "circle"}]}, "graphics[0].type", "'circle' is not one of: line"),
    ({"image": "x", "graphics": [{"type": "line", "points": [[0, 0]]}]}, "graphics[0].points",
     "a line needs exactly 2 points, got 1"),
    ({"image": "x", "graphics": [{"type": "polyline", "points": [[0, 0], [1, "a"]]}]}, "graphics[0].points[1]",
     "expected [x, y]"),
    ({"image": "x", "graphics": [{"type": "ellipse", "center": [0, 0]}]}, "graphics[0].radii", "missing"),
    ({"image": "x", "graphics": [{"type": "ellipse", "center": [0, 0], "radii": [1, 0]}]}, "graphics[0].radii",
     "expected [rx, ry] > 0"),
    ({"image": "x", "graphics": [{"type": "line", "points": [[0, 0], [1, 1]], "width_mm": 50}]},
     "graphics[0].width_mm", "from 0.05 to 10"),
    ({"image": "x", "graphics": [{"type": "rectangle", "points": [[0, 0], [1, 1]], "closed": True}]},
     "graphics[0].closed", "unknown field"),
    ({"image": "x", "graphics": [{"type": "scale-bar"}]}, "graphics[0].length_mm", "more than 0"),
    ({"image": "x", "colour": "red"}, "colour", "unknown field (allowed: image, frame"),
])
def test_frame_refusals_start_with_the_field_path(frame, field, message):
    with pytest.raises(F.OptionError) as info:
        F.check_frame_options(frame, WHERE)
    assert info.value.field == f"{WHERE}.{field}"
    assert str(info.value).startswith(f"{WHERE}.{field}: ")
    assert message in info.value.problem
    assert isinstance(info.value, ValueError)


def test_image_dependent_frame_checks():
    mr = F.inspect_image(bundled("MR_small.dcm"))               # one window, 64x64 at 0.3125 mm
    F.check_frame_options({"image": "x", "window": {"index": 0}, "true_size": True}, WHERE, mr)
    with pytest.raises(F.OptionError, match=r"frames\[2\]\.frame: frame 1 does not exist: the image has 1 frame$"):
        F.check_frame_options({"image": "x", "frame": 1}, WHERE, mr)
    with pytest.raises(F.OptionError, match=r"window\.index: 1: the image has 1 VOI transform "):
        F.check_frame_options({"image": "x", "window": {"index": 1}}, WHERE, mr)
    with pytest.raises(F.OptionError, match=r"window\.explanation: 'BONE': the image has no such window"):
        F.check_frame_options({"image": "x", "window": {"explanation": "BONE"}}, WHERE, mr)
    with pytest.raises(F.OptionError, match=r"graphics\[0\]\.length_mm: 50 mm is longer than the image is wide "
                                            r"\(20\.0 mm\)"):
        F.check_frame_options({"image": "x", "graphics": [{"type": "scale-bar", "length_mm": 50}]}, WHERE, mr)
    rgb = F.inspect_image(bundled("SC_rgb_rle.dcm"))
    F.check_frame_options({"image": "x", "window": {"index": 3}}, WHERE, rgb)     # colour: ignored


def film(**changes) -> dict:
    spec = {"film_size": "14INX17IN", "orientation": "PORTRAIT", "layout": "STANDARD\\2,2",
            "frames": [{"image": "a"}, {"image": "b"}]}
    spec.update(changes)
    return spec


def test_film_options_are_normalised():
    out = F.check_film_options(film(layout=" standard\\ 2, 2", orientation="landscape", magnification="cubic",
                                    border_density="white", empty_image_density=150), "films[1]")
    assert set(out) == set(F.FILM_OPTIONS)
    assert (out["layout"], out["orientation"], out["magnification"]) == ("STANDARD\\2,2", "LANDSCAPE", "CUBIC")
    assert (out["border_density"], out["empty_image_density"]) == ("WHITE", "150")
    assert [f["image"] for f in out["frames"]] == ["a", "b"] and out["frames"][0]["polarity"] == "NORMAL"
    assert F.check_film_options(film(orientation=None), "films[0]")["orientation"] == "PORTRAIT"


@pytest.mark.parametrize("changes, field, message", [
    ({"film_size": "9INX9IN"}, "film_size", "'9INX9IN' is not one of: 8INX10IN"),
    ({"film_size": None}, "film_size", "missing"),
    ({"orientation": "UPRIGHT"}, "orientation", "not one of: PORTRAIT, LANDSCAPE"),
    ({"layout": None}, "layout", "missing"),
    ({"layout": "STANDARD\\0,2"}, "layout", "at least 1"),
    ({"layout": "STANDARD\\1,1"}, "frames", "2 frames do not fit layout STANDARD\\1,1 (1 image box)"),
    ({"magnification": "SINC"}, "magnification", "not one of: REPLICATE, BILINEAR, CUBIC, NONE"),
    ({"border_density": "PURPLE"}, "border_density", "expected BLACK, WHITE or a density"),
    ({"min_density": -1}, "min_density", "0 to 65535"),
    ({"trim": ""}, "trim", "non-empty"),
    ({"frames": []}, "frames", "non-empty list"),
    ({"frames": [{"image": "a", "position": 5}]}, "frames[0].position", "5 is not an image box of layout "
                                                                        "STANDARD\\2,2 (1..4)"),
    ({"frames": [{"image": "a", "position": 2}, {"image": "b", "position": 2}]}, "frames[1].position",
     "box 2 is already used by frames[0]"),
    ({"frames": [{"image": "a", "window": {"index": "x"}}]}, "frames[0].window.index", "whole number"),
    ({"paper": "glossy"}, "paper", "unknown field"),
    ({"layout": "CUSTOM"}, "frames[0].rect_mm", "missing: a CUSTOM film needs [x, y, width, height] in mm for "
                                                "every frame (the film is 355.6 x 431.8 mm)"),
    ({"layout": "CUSTOM", "frames": [{"image": "a", "rect_mm": [300, 0, 100, 100]}]}, "frames[0].rect_mm",
     "reaches 400 x 100 mm, outside the 14INX17IN PORTRAIT film (355.6 x 431.8 mm)"),
    ({"layout": "CUSTOM", "frames": [{"image": "a", "rect_mm": [0, 0, 10, 10]}] * 101}, "frames",
     "101 frames do not fit layout CUSTOM (100 frames at most)"),
])
def test_film_refusals_start_with_the_field_path(changes, field, message):
    with pytest.raises(F.OptionError) as info:
        F.check_film_options(film(**changes), "films[3]")
    assert info.value.field == f"films[3].{field}"
    assert message in info.value.problem


def test_custom_film_options():
    out = F.check_film_options(film(layout="custom", frames=[{"image": "a", "rect_mm": [0, 0, 355.6, 200]},
                                                             {"image": "b", "rect_mm": [10, 200, 100.5, 231.8]}]),
                               "films[0]")
    assert out["layout"] == "CUSTOM" and out["frames"][1]["rect_mm"] == [10.0, 200.0, 100.5, 231.8]


def test_film_check_uses_image_infos():
    infos = {"a": F.inspect_image(bundled("MR_small.dcm"))}
    with pytest.raises(F.OptionError, match=r"films\[0\]\.frames\[0\]\.frame: frame 2 does not exist"):
        F.check_film_options(film(frames=[{"image": "a", "frame": 2}]), "films[0].", infos)


def test_format_film_applies_the_same_checks():
    spec = film(frames=[{"image": "mr", "annotations": [{"text": "x", "at": "middle"}]}])
    with pytest.raises(F.OptionError, match=r"^films\[4\]\.frames\[0\]\.annotations\[0\]\.at: 'middle'"):
        F.format_film(spec, {"mr": bundled("MR_small.dcm")}, F.PrinterProfile(dpi=30), index=4)


def test_native_size_and_requested_size_are_checked():
    with pytest.raises(F.OptionError, match=r"native_size: give native_size or true_size"):
        F.check_frame_options({"image": "ct", "native_size": True, "true_size": True}, WHERE)
    with pytest.raises(F.OptionError, match=r"native_size: expected true or false"):
        F.check_frame_options({"image": "ct", "native_size": "yes"}, WHERE)
    with pytest.raises(F.OptionError, match=r"requested_image_size: expected a number more than 0"):
        F.check_frame_options({"image": "ct", "requested_image_size": 0}, WHERE)
    assert F.check_frame_options({"image": "ct", "native_size": True, "requested_image_size": 120}, WHERE)[
        "requested_image_size"] == 120.0
