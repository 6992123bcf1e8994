"""Labels and image size carried inside saved model files."""

import zipfile

import h5py
import pytest

from catdog_queue.shared.model_metadata import ModelFileError, read_metadata, write_metadata

METADATA = {"labels": ["cat", "dog"], "image_size": 32, "model": "mlp"}


@pytest.fixture(scope="module")
def saved_models(tmp_path_factory):
    from catdog_queue.training.models import make_mlp

    folder = tmp_path_factory.mktemp("models")
    model = make_mlp((4, 4, 3), 2)
    for name in ("model.keras", "model.h5"):
        model.save(folder / name)
    return folder


@pytest.mark.parametrize("name", ["model.keras", "model.h5"])
def test_metadata_round_trips_and_the_model_still_loads(saved_models, tmp_path, name):
    import keras

    path = tmp_path / name
    path.write_bytes((saved_models / name).read_bytes())
    write_metadata(path, METADATA)
    assert read_metadata(path) == METADATA
    assert keras.saving.load_model(path, compile=False).input_shape == (None, 4, 4, 3)


@pytest.mark.parametrize("name", ["model.keras", "model.h5"])
def test_a_model_without_metadata_says_so(saved_models, name):
    with pytest.raises(ModelFileError, match="lacks catdog metadata"):
        read_metadata(saved_models / name)


def test_files_that_are_not_models_are_refused(tmp_path):
    (tmp_path / "text.keras").write_text("hello")
    with pytest.raises(ModelFileError, match="is not a Keras model"):
        read_metadata(tmp_path / "text.keras")
    with zipfile.ZipFile(tmp_path / "other.keras", "w") as archive:
        archive.writestr("readme.txt", "no model here")
    with pytest.raises(ModelFileError, match="zip archive but not a Keras model"):
        read_metadata(tmp_path / "other.keras")
    with h5py.File(tmp_path / "data.h5", "w") as data:
        data["x"] = [1, 2, 3]
    with pytest.raises(ModelFileError, match="HDF5 file but not a Keras model"):
        read_metadata(tmp_path / "data.h5")
    with pytest.raises(ModelFileError, match="not found"):
        read_metadata(tmp_path / "missing.keras")


def test_invalid_metadata_is_refused(saved_models, tmp_path):
    path = tmp_path / "model.keras"
    path.write_bytes((saved_models / "model.keras").read_bytes())
    write_metadata(path, {"labels": ["only"], "image_size": 32})
    with pytest.raises(ModelFileError, match="invalid metadata"):
        read_metadata(path)


def test_other_suffixes_cannot_carry_metadata(tmp_path):
    with pytest.raises(ValueError, match=r"\.keras or \.h5"):
        write_metadata(tmp_path / "model.pt", METADATA)
