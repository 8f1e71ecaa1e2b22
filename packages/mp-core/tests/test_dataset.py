from pathlib import Path

import pytest

from mp_core.errors import InvalidDataset
from mp_core.ml.dataset import load_dataset, write_csv
from mp_core.ml.synthetic import generate

HEADER = "Age,Gender,Department,CGPA,Sleep_Duration,Study_Hours,Social_Media_Hours,Physical_Activity,Stress_Level,Depression"


def test_round_trip_of_a_generated_dataset(tmp_path: Path) -> None:
    frame = generate(1000, 2)
    write_csv(frame, tmp_path / "d.csv")
    loaded = load_dataset(tmp_path / "d.csv")
    assert loaded.frame.equals(frame)
    assert loaded.bad_lines == {}


def test_bad_lines_are_reported_by_number_and_rule(tmp_path: Path) -> None:
    path = tmp_path / "user.csv"
    path.write_text(
        "\n".join(
            [
                HEADER,
                "20,Male,Law,3,7,3,2,100,5,1",  # line 2: fine
                "20,Male,Law,3,7,3,2,100,5",  # 3: a field short
                "15,Male,Law,3,7,3,2,100,5,1",  # 4: too young
                "20,Robot,Law,3,7,3,2,100,5,1",  # 5: unknown category
                "20,Male,Law,3,nan,3,2,100,5,1",  # 6: NaN
                "20,Male,Law,3,7,3,2,100,5,2",  # 7: target not 0/1
                "20.5,Male,Law,3,7,3,2,100,5,0",  # 8: age not whole
                "20,Female,Arts,3.9,6.5,2,4,0,9,0",  # 9: fine
            ]
        )
        + "\n"
    )
    with pytest.raises(InvalidDataset) as caught:
        load_dataset(path)
    message = str(caught.value)
    assert set(caught.value.bad_lines) == {3, 4, 5, 6, 7, 8}
    assert "line 4: Age must be a whole number from 16 to 100" in message
    assert "line 5: Gender must be one of" in message
    assert "line 7: Depression must be 0 or 1" in message

    skipped = load_dataset(path, on_bad="skip")
    assert len(skipped.frame) == 2
    assert skipped.n_bad == 6


def test_missing_columns_are_named(tmp_path: Path) -> None:
    path = tmp_path / "x.csv"
    path.write_text("Age,Gender\n20,Male\n")
    with pytest.raises(InvalidDataset, match="missing column\\(s\\) Department, CGPA"):
        load_dataset(path)


def test_extra_columns_are_ignored_and_reported(tmp_path: Path) -> None:
    path = tmp_path / "x.csv"
    path.write_text("id," + HEADER + "\n" + "1,20,Male,Law,3,7,3,2,100,5,1\n")
    loaded = load_dataset(path)
    assert loaded.ignored_columns == ("id",)
    assert len(loaded.frame) == 1


@pytest.mark.parametrize(("content", "match"), [("", "empty"), (b"\xff\xfe", "not UTF-8")])
def test_empty_and_binary_files(tmp_path: Path, content: str | bytes, match: str) -> None:
    path = tmp_path / "x.csv"
    path.write_bytes(content.encode() if isinstance(content, str) else content)
    with pytest.raises(InvalidDataset, match=match):
        load_dataset(path)
