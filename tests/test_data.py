"""Datasets: the synthetic set, splits, batched augmentation, and the real CIFAR-10 loader."""

from __future__ import annotations

import os
import tarfile
from pathlib import Path

import pytest
import torch
import torchvision.transforms.functional as TF

from benchmark.data import (
    MEAN,
    STD,
    DeviceLoader,
    load_splits,
    synthetic_splits,
    train_length,
)
from benchmark.data.schema import SyntheticDatasetConf
from benchmark.errors import ConfigError
from tests.conftest import REPO, compose_config

ARCHIVE = Path(os.environ.get("CIFAR10_ARCHIVE", REPO.parent / "shared" / "data" / "cifar-10-python.tar.gz"))


def synthetic(**kw):
    base = dict(name="synthetic", seed=0, train_size=300, test_size=100, num_classes=10, noise=0.5, distractor=0.7,
                val_size=0, train_subset=None, split_seed=0)
    return SyntheticDatasetConf(**{**base, **kw})


def test_synthetic_is_deterministic_from_its_seed():
    a, _ = synthetic_splits(synthetic(seed=1))
    b, _ = synthetic_splits(synthetic(seed=1))
    c, _ = synthetic_splits(synthetic(seed=2))
    assert torch.equal(a.images, b.images) and torch.equal(a.labels, b.labels)
    assert not torch.equal(a.images, c.images)


def test_synthetic_images_are_cifar_shaped_and_use_every_class():
    train, test = synthetic_splits(synthetic(train_size=1000))
    assert train.images.shape == (1000, 3, 32, 32) and train.images.dtype == torch.uint8
    assert len(test) == 100
    assert torch.bincount(train.labels, minlength=10).min() > 50


def test_synthetic_classes_differ_in_their_statistics():
    """A nearest-class-mean classifier on colour-frequency features beats chance: the labels carry signal."""
    train, test = synthetic_splits(synthetic(train_size=2000, test_size=500, noise=0.2))
    feats = lambda s: torch.fft.rfft2(s.images.float() - 127.5).abs().flatten(1)  # noqa: E731
    means = torch.stack([feats(train)[train.labels == c].mean(0) for c in range(10)])
    pred = torch.cdist(feats(test), means).argmin(1)
    assert (pred == test.labels).float().mean() > 0.3


def test_validation_split_and_subset_are_seeded_and_disjoint():
    cfg = synthetic(val_size=50, train_subset=100, split_seed=7)
    a, b = load_splits(cfg), load_splits(cfg)
    assert len(a.val) == 50 and len(a.train) == 100
    assert torch.equal(a.val.images, b.val.images) and torch.equal(a.train.images, b.train.images)
    full, _ = synthetic_splits(cfg)
    rows = {bytes(x.flatten().tolist()) for x in full.images}
    val_rows = {bytes(x.flatten().tolist()) for x in a.val.images}
    train_rows = {bytes(x.flatten().tolist()) for x in a.train.images}
    assert val_rows <= rows and train_rows <= rows and not (val_rows & train_rows)
    other = load_splits(synthetic(val_size=50, train_subset=100, split_seed=8))
    assert not torch.equal(other.val.images, a.val.images)
    assert train_length(cfg) == 100


def _reference_crop_flip(image: torch.Tensor, dy: int, dx: int, flip: bool) -> torch.Tensor:
    """torchvision's functional ops, one image at a time: the reference pipeline."""
    out = TF.crop(TF.pad(image, [4]), dy, dx, 32, 32)
    return TF.hflip(out) if flip else out


def test_batched_augmentation_equals_torchvision_per_image():
    train, _ = synthetic_splits(synthetic(train_size=64))
    loader = DeviceLoader(train, 64, torch.device("cpu"), augment=True, seed=5)
    shifts = torch.randint(0, 9, (64, 2), generator=torch.Generator().manual_seed(0))
    flips = torch.rand(64, generator=torch.Generator().manual_seed(1)) < 0.5
    batch = loader._augment(torch.arange(64), shifts, flips)
    mean, std = torch.tensor(MEAN).view(3, 1, 1), torch.tensor(STD).view(3, 1, 1)
    for i in range(64):
        ref = _reference_crop_flip(train.images[i], int(shifts[i, 0]), int(shifts[i, 1]), bool(flips[i]))
        assert torch.allclose(batch[i], (ref.float() / 255 - mean) / std, atol=1e-5)


def test_epochs_are_reproducible_and_differ_from_each_other():
    train, _ = synthetic_splits(synthetic(train_size=100))
    loader = DeviceLoader(train, 32, torch.device("cpu"), augment=True, seed=3)
    first = [x for x, _ in loader.epoch(0)]
    again = [x for x, _ in loader.epoch(0)]
    second = [x for x, _ in loader.epoch(1)]
    assert len(first) == len(loader) == 4
    assert all(torch.equal(a, b) for a, b in zip(first, again))
    assert not torch.equal(first[0], second[0])
    labels = torch.cat([y for _, y in loader.epoch(0)])
    assert sorted(labels.tolist()) == sorted(train.labels.tolist())  # a permutation: every image once


def test_missing_cifar_without_download_names_the_root(tmp_path):
    cfg = compose_config(["dataset=cifar10", f"dataset.root={tmp_path}/nowhere", "dataset.download=false"])
    with pytest.raises(ConfigError, match="nowhere") as info:
        load_splits(cfg.dataset)
    assert "\n" not in str(info.value)


@pytest.fixture(scope="session")
def cifar_root(tmp_path_factory):
    if not ARCHIVE.exists():
        pytest.skip(f"real CIFAR-10 archive not found at {ARCHIVE} (a fresh clone has no ../shared)")
    root = tmp_path_factory.mktemp("cifar")
    with tarfile.open(ARCHIVE) as archive:
        archive.extractall(root, filter="data")
    return root


@pytest.mark.cifar
def test_real_cifar10_loads_with_official_counts_and_values(cifar_root):
    cfg = compose_config(["dataset=cifar10", f"dataset.root={cifar_root}", "dataset.download=false",
                          "dataset.val_size=5000"])
    splits = load_splits(cfg.dataset)
    assert len(splits.train) == 45000 and len(splits.val) == 5000 and len(splits.test) == 10000
    full = compose_config(["dataset=cifar10", f"dataset.root={cifar_root}", "dataset.download=false"])
    everything = load_splits(full.dataset)
    # data/SOURCE.md: train labels begin 6, 9, 9, 4, 1; row 0 begins R=59, 43, 50; mean 125.3 / 123.0 / 113.9.
    assert everything.train.labels[:5].tolist() == [6, 9, 9, 4, 1]
    assert everything.train.images[0, 0, 0, :3].tolist() == [59, 43, 50]
    means = everything.train.images.double().mean(dim=(0, 2, 3))
    assert means.tolist() == pytest.approx([125.306918046875, 122.950394140625, 113.86538318359375])
    assert torch.bincount(everything.test.labels).tolist() == [1000] * 10


@pytest.mark.cifar
@pytest.mark.cell
def test_short_real_cifar10_cell_learns(cifar_root, tiny_cfg, tmp_path):
    from benchmark.cell import run_cell

    cfg = tiny_cfg("dataset=cifar10", f"dataset.root={cifar_root}", "dataset.download=false",
                   "dataset.train_subset=2000", "dataset.val_size=500", "model.width=0.5",
                   "recipe.epochs=3", "recipe.milestones=[2]", "budget.epochs=1", "schedule=ft")
    record = run_cell(cfg, tmp_path / "out").as_dict()
    assert record["status"] == "finished"
    assert record["steps_per_epoch"] == 32  # 2000 images / batch 64, rounded up
    assert record["metrics"]["baseline_test_top1"] > 20.0  # chance is 10%
    assert 0.0 <= record["metrics"]["val_top1"] <= 100.0


def test_synthetic_image_size_sets_the_side_the_loader_and_the_model_see():
    from benchmark.data import image_size
    from tests.conftest import compose_config

    cfg = compose_config(["+experiment=demo", "device=cpu"])
    assert image_size(cfg.dataset) == cfg.dataset.image_size == 16
    train, _ = synthetic_splits(cfg.dataset)
    batch, _ = next(DeviceLoader(train, 64, torch.device("cpu"), augment=True).epoch(0))
    assert batch.shape == (64, 3, 16, 16)
    assert image_size(compose_config(["dataset=synthetic"]).dataset) == 32  # the default stays CIFAR's side
