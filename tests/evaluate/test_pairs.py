
import pytest

from bggan import evaluate as ev
from bggan.errors import BgganError
from tests.evaluate.common import image, save


def test_pair_folders_matches_stems_in_natural_order_across_suffixes(tmp_path):
    for name in ("10.png", "2.jpg", "1.webp", "only_pred.png", "dup.png", "dup.jpg"):
        save(tmp_path / "pred" / name, image(8, 8))
    for name in ("2.png", "10.jpeg", "1.png", "only_target.png", "dup.png"):
        save(tmp_path / "target" / name, image(8, 8))
    (tmp_path / "target" / "notes.txt").write_text("not an image")
    pairing = ev.pair_folders(tmp_path / "pred", tmp_path / "target")
    assert [name for name, _ in pairing.pairs.entries] == ["1", "2", "10"]
    assert pairing.pairs.entries[1][1] == {"pred": tmp_path / "pred" / "2.jpg", "target": tmp_path / "target" / "2.png"}
    assert sorted(pairing.unmatched) == ["pred/only_pred.png", "target/only_target.png"]
    assert pairing.unmatched_line().startswith("2 files without a partner, not scored: ")
    assert [s.name for s in pairing.ambiguous] == ["dup"] and "pred/dup.jpg" in pairing.ambiguous[0].reason


def test_pair_folders_with_inputs_needs_all_three(tmp_path):
    for folder in ("pred", "target", "input"):
        for name in ("a", "b"):
            if not (folder == "input" and name == "b"):
                save(tmp_path / folder / f"{name}.png", image(8, 8))
    pairing = ev.pair_folders(tmp_path / "pred", tmp_path / "target", tmp_path / "input")
    assert [n for n, _ in pairing.pairs.entries] == ["a"]
    assert sorted(pairing.unmatched) == ["pred/b.png", "target/b.png"]
    item = pairing.pairs[0]
    assert set(item) == {"name", "pred", "target", "input"} and item["pred"].shape == (8, 8, 3)


def test_unmatched_line_shows_the_first_few_names(tmp_path):
    pairing = ev.Pairing(ev.FilePairs([]), [f"pred/{i}.png" for i in range(8)], [])
    assert pairing.unmatched_line() == ("8 files without a partner, not scored: pred/0.png, pred/1.png, pred/2.png, "
                                        "pred/3.png, pred/4.png and 3 more")
    assert ev.Pairing(ev.FilePairs([]), [], []).unmatched_line() is None


def test_pair_folders_missing_folder(tmp_path):
    with pytest.raises(BgganError, match="no such folder"):
        ev.pair_folders(tmp_path / "nope", tmp_path)
