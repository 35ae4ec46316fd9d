"""Real text through ``datasets``: a hub dataset or local text/JSON files, and its tokenisation."""

from __future__ import annotations

from typing import Dict, Iterable, List, Optional

from benchmark.errors import ConfigError
from benchmark.lm import require
from benchmark.lm.schema import TextDatasetConf


def read_texts(dataset: TextDatasetConf) -> Dict[str, Iterable[str]]:
    """The text column of each split (train, validation, test), hub datasets streamed (C4 is not
    downloaded whole: only the documents up to the configured token counts are read)."""
    datasets = require("datasets", "dataset=text with a hub dataset or files")
    if dataset.source == "hub":
        if not dataset.path:
            raise ConfigError("dataset.source=hub needs dataset.path (a datasets hub name, e.g. wikitext)")
        try:
            loaded = datasets.load_dataset(dataset.path, dataset.subset, streaming=True)
        except Exception as error:  # offline and not cached, a wrong name: one line
            raise ConfigError(f"dataset.path={dataset.path!r} (subset {dataset.subset!r}) does not load: "
                              f"{' '.join(str(error).split())[:200]}") from None
    else:
        files = {split: list(getattr(dataset.files, split)) for split in ("train", "validation", "test")}
        missing = [split for split, names in files.items() if not names]
        if missing:
            raise ConfigError(f"dataset.source=files needs dataset.files.{missing[0]} (a list of .txt or .json files)")
        builder = "json" if files["train"][0].endswith((".json", ".jsonl")) else "text"
        try:
            loaded = datasets.load_dataset(builder, data_files=files)
        except Exception as error:
            raise ConfigError(f"dataset.files do not load as {builder}: {' '.join(str(error).split())[:200]}") from None
    texts = {}
    for split in ("train", "validation", "test"):
        source = dataset.split_names.get(split, split)
        if source not in loaded:
            raise ConfigError(f"the dataset has no {source!r} split (set dataset.split_names.{split}); it has: "
                              f"{', '.join(loaded)}")
        columns = loaded[source].column_names
        if columns is not None and dataset.text_field not in columns:
            raise ConfigError(f"dataset.text_field={dataset.text_field!r} is not a column; columns: {', '.join(columns)}")
        texts[split] = (row[dataset.text_field] for row in loaded[source])
    return texts


def tokenize(texts: Iterable[str], dataset: TextDatasetConf, model_name: Optional[str], limit: int) -> List[int]:
    """Token ids of the texts joined (each followed by the tokenizer's end-of-text token), stopping
    once ``limit`` tokens are reached."""
    if dataset.tokenizer == "bytes":
        data = bytearray()
        for text in texts:
            data += text.encode("utf-8") + b"\n"
            if len(data) >= limit:
                break
        return list(data[:limit])
    tokenizer = load_tokenizer(dataset.tokenizer or model_name)
    ids: List[int] = []
    eos = [tokenizer.eos_token_id] if tokenizer.eos_token_id is not None else []
    for text in texts:
        if text.strip():
            ids.extend(tokenizer(text, add_special_tokens=False)["input_ids"] + eos)
        if len(ids) >= limit:
            break
    return ids


def load_tokenizer(name: Optional[str]):
    """The tokenizer by hub id or local path, from local files only when offline."""
    transformers = require("transformers", "dataset=text with a model's tokenizer")
    if not name:
        raise ConfigError("dataset.tokenizer is null and the model has no name to take a tokenizer from; "
                          "set dataset.tokenizer=bytes or a tokenizer's hub id")
    try:
        return transformers.AutoTokenizer.from_pretrained(name)
    except Exception as error:
        raise ConfigError(f"tokenizer {name!r} does not resolve (offline, it must be a local folder or in the "
                          f"Hugging Face cache): {' '.join(str(error).split())[:160]}") from None
