"""``innerear-seg phantom``: files, preview, counts and usage errors."""
import json

import pytest

from InnerEarSegLib.cli.main import main


def test_phantom_command_writes_ct_labels_sidecar_and_preview(tmp_path, capsys):
    rc = main(["phantom", "--seed", "7", "--count", "2", "--out", str(tmp_path), "--fov", "left", "--matrix", "128",
               "--slices", "40", "--pathology", "missing_canal:lateral", "--preview"])
    assert rc == 0
    for seed in (7, 8):
        stem = f"phantom_{seed:05d}_missing_canal+lateral_left"
        for suffix in ("_ct.nii.gz", "_labels.nii.gz", ".json", "_preview.png"):
            assert (tmp_path / f"{stem}{suffix}").is_file(), stem + suffix
        meta = json.loads((tmp_path / f"{stem}.json").read_text())
        assert meta["ears"][0]["likert"] == 2
    assert "Likert 2" in capsys.readouterr().out


@pytest.mark.parametrize("argv", [["--pathology", "warts"], ["--protocol", "pet"], ["--count", "0"],
                                  ["--seed", "-3"]])
def test_phantom_command_refuses_bad_arguments_with_usage_error(tmp_path, argv):
    args = ["phantom", "--seed", "1", "--out", str(tmp_path)] + argv
    with pytest.raises(SystemExit) as exc:
        main(args)
    assert exc.value.code == 2
