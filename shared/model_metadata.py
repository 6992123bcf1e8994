"""What a saved model needs to be used correctly: its labels and image size.

The metadata travels inside the model files, so ``predict`` needs no other
option: a ``catdog.json`` member in the ``.keras`` zip archive (Keras ignores
members it does not know) and a ``catdog_metadata`` attribute in ``.h5``
files. Reading it needs neither TensorFlow nor Keras.
"""

import json
import zipfile
from pathlib import Path

METADATA_MEMBER = "catdog.json"
METADATA_ATTRIBUTE = "catdog_metadata"


class ModelFileError(ValueError):
    """The file is not a Keras model saved by this project."""


def write_metadata(model_path: str | Path, metadata: dict) -> None:
    text = json.dumps(metadata, sort_keys=True)
    model_path = Path(model_path)
    if model_path.suffix == ".keras":
        with zipfile.ZipFile(model_path, "a") as archive:
            archive.writestr(METADATA_MEMBER, text)
    elif model_path.suffix == ".h5":
        import h5py

        with h5py.File(model_path, "a") as model_file:
            model_file.attrs[METADATA_ATTRIBUTE] = text
    else:
        raise ValueError(f"expected a .keras or .h5 path, received {model_path}")


def read_metadata(model_path: str | Path) -> dict:
    """The metadata of a model file, or ModelFileError saying what is wrong."""
    model_path = Path(model_path)
    if not model_path.is_file():
        raise ModelFileError(f"model file not found: {model_path}")
    if zipfile.is_zipfile(model_path):
        text = _read_from_archive(model_path)
    elif is_hdf5(model_path):
        text = _read_from_hdf5(model_path)
    else:
        raise ModelFileError(
            f"{model_path} is not a Keras model (expected a .keras archive or an .h5 file)"
        )
    try:
        metadata = json.loads(text)
        labels, image_size = metadata["labels"], metadata["image_size"]
    except (ValueError, KeyError, TypeError):
        raise ModelFileError(f"{model_path} has unreadable catdog metadata") from None
    if len(labels) < 2 or not isinstance(image_size, int) or image_size < 1:
        raise ModelFileError(f"{model_path} has invalid metadata: {metadata}")
    return metadata


def _read_from_archive(model_path: Path) -> str:
    with zipfile.ZipFile(model_path) as archive:
        names = archive.namelist()
        if "config.json" not in names:
            raise ModelFileError(f"{model_path} is a zip archive but not a Keras model")
        if METADATA_MEMBER not in names:
            raise _missing_metadata(model_path)
        return archive.read(METADATA_MEMBER).decode()


def is_hdf5(model_path) -> bool:
    with open(model_path, "rb") as model_file:
        return model_file.read(8) == b"\x89HDF\r\n\x1a\n"


def _read_from_hdf5(model_path: Path) -> str:
    import h5py

    with h5py.File(model_path, "r") as model_file:
        if "model_config" not in model_file.attrs:
            raise ModelFileError(f"{model_path} is an HDF5 file but not a Keras model")
        if METADATA_ATTRIBUTE not in model_file.attrs:
            raise _missing_metadata(model_path)
        return model_file.attrs[METADATA_ATTRIBUTE]


def _missing_metadata(model_path: Path) -> ModelFileError:
    return ModelFileError(
        f"{model_path} lacks catdog metadata (labels, image size): use a model"
        " saved by `submit.py train`"
    )
