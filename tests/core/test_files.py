"""core/files.py: output checks before work (the input is never the output, names that fit,
dangling links, what a path is) and temporary names that always fit."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from brushwork.core.errors import InputError, OutputError
from brushwork.core.files import check_output, check_readable, name_max, refuse_inputs, temporary_file, write_atomically


@pytest.fixture
def photo(tmp_path: Path) -> Path:
    p = tmp_path / "photo.png"
    p.write_bytes(b"precious")
    return p


def _spellings(photo: Path) -> list[Path]:
    folder = photo.parent
    (folder / "sub").mkdir()
    (folder / "link.png").symlink_to(photo)
    os.link(photo, folder / "hard.png")
    return [photo, folder / "." / photo.name, folder / "sub" / ".." / photo.name, folder / "link.png", folder / "hard.png"]


def test_an_output_that_is_an_input_is_refused_however_it_is_spelled(photo):
    for out in _spellings(photo):
        for overwrite in (False, True):
            with pytest.raises(OutputError, match="is the input"):
                check_output(out, overwrite, inputs=[photo])
    with pytest.raises(OutputError, match="is the input"):  # a folder of inputs
        refuse_inputs([photo.parent / "sub" / ".." / "photo.png"], [photo.parent])
    assert photo.read_bytes() == b"precious"
    check_output(photo.parent / "other.png", inputs=[photo])  # another name is fine


def test_case_insensitive_spelling_is_the_same_file(photo):
    upper = photo.with_name("PHOTO.PNG")
    if not upper.exists():
        pytest.skip("this file system tells letter case apart")
    with pytest.raises(OutputError, match="is the input"):
        check_output(upper, True, inputs=[photo])


def test_too_long_names_are_refused_before_work_and_temporary_names_always_fit(tmp_path):
    limit = name_max(tmp_path)
    fits = tmp_path / ("a" * (limit - 4) + ".png")
    check_output(fits)
    write_atomically(fits, lambda tmp: Path(tmp).write_bytes(b"x"))
    assert fits.read_bytes() == b"x" and [p.name for p in tmp_path.iterdir()] == [fits.name]
    tmp = temporary_file(tmp_path / ("é" * 200 + ".png"))  # multi-byte: cut on a character boundary
    assert len(os.fsencode(Path(tmp).name)) <= limit
    os.unlink(tmp)
    with pytest.raises(OutputError, match=f"more than the {limit}"):
        check_output(tmp_path / ("a" * limit + ".png"))


def test_a_dangling_link_as_output_is_decided_before_work(tmp_path):
    link = tmp_path / "out.png"
    link.symlink_to(tmp_path / "gone.png")
    with pytest.raises(OutputError, match="symbolic link to .*gone.png.*does not exist"):
        check_output(link)
    check_output(link, overwrite=True)
    write_atomically(link, lambda tmp: Path(tmp).write_bytes(b"x"), overwrite=True)
    assert not link.is_symlink() and link.read_bytes() == b"x"


def test_a_file_where_a_folder_should_be_is_called_a_file(tmp_path):
    (tmp_path / "afile").write_text("x")
    with pytest.raises(OutputError, match="'.*afile' is a file, not a folder"):
        check_output(tmp_path / "afile" / "x.png")
    with pytest.raises(OutputError, match="does not exist: create it"):
        check_output(tmp_path / "nope" / "x.png")


def test_special_files_are_named_for_what_they_are(tmp_path):
    fifo = tmp_path / "pipe.png"
    os.mkfifo(fifo)
    with pytest.raises(InputError, match="named pipe"):
        check_readable(fifo, "content image")
    with pytest.raises(InputError, match="character device"):
        check_readable(Path("/dev/zero"), "content image")
    dangling = tmp_path / "d.png"
    dangling.symlink_to(tmp_path / "gone.png")
    with pytest.raises(InputError, match="symbolic link"):
        check_readable(dangling, "content image")


def test_weights_with_nan_are_refused_on_load():
    """A VGG weights file holding NaN would paint noise and blame --style-weight: refused as damaged."""
    import torch

    from brushwork.core.errors import WeightsError
    from brushwork.core.vgg import _detect_arch, conv_names

    weights, in_ch = {}, 3
    for name in conv_names("vgg16"):
        weights[name] = (torch.zeros(4, in_ch, 3, 3), torch.zeros(4))
        in_ch = 4
    assert _detect_arch(weights, "w.pth") == "vgg16"
    weights["conv3_1"][0][0, 0, 0, 0] = float("nan")
    with pytest.raises(WeightsError, match="NaN"):
        _detect_arch(weights, "w.pth")


def test_a_special_file_as_weights_is_named(tmp_path):
    from brushwork.core.errors import WeightsError
    from brushwork.core.vgg import load_weights

    fifo = tmp_path / "w.pth"
    os.mkfifo(fifo)
    with pytest.raises(WeightsError, match="named pipe"):
        load_weights(fifo)
    with pytest.raises(WeightsError, match="is a folder"):
        load_weights(tmp_path)
