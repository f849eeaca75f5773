"""Exceptions raised by the data loaders."""

from __future__ import annotations

import os


class DatasetNotFoundError(FileNotFoundError):
    """A data set's files are missing or incomplete; the message says which files go where and how to get them."""


class DatasetFormatError(ValueError):
    """A data set file exists but does not hold the expected format (wrong magic number, keys or sizes)."""


def missing_files_error(
    dataset: str,
    folder: os.PathLike | str,
    missing: list[str],
    expected: list[str],
    get_it: str,
    data_dir_origin: str,
) -> DatasetNotFoundError:
    """The instructive :class:`DatasetNotFoundError` for ``dataset``: ``missing`` files belong in ``folder``."""
    state = "incomplete" if os.path.isdir(folder) else "not found"
    return DatasetNotFoundError(
        f"{dataset} {state}: missing {', '.join(missing)} in {folder}.\n"
        f"Put these files in {folder}: {', '.join(expected)}.\n"
        f"{get_it}\n"
        f"Or pass download=True (CLI: --download) to fetch them there.\n"
        f"The data folder came from {data_dir_origin}; choose another with data_dir= (CLI: --data-dir) "
        f"or the EVOHEBB_DATA environment variable."
    )
