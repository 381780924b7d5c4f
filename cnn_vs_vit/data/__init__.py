"""Datasets as whole in-memory uint8 tensors, the subsets a run trains on, and batched augmentation.

load_dataset(name)            -> ImageDataset (train/test images and labels, classes)
stratified_subset(labels, f, data_seed) -> the indices a run trains on; subset_hash records them
probe_sample(dataset, n)      -> the class-stratified test images every probe reads, with its record
random_translate, random_flip -> per-image augmentation of a whole batch at once
"""

from cnn_vs_vit.data.augment import random_flip, random_translate
from cnn_vs_vit.data.dataset import ImageDataset
from cnn_vs_vit.data.probe_sample import ProbeSample, probe_sample
from cnn_vs_vit.data.registry import DATASET_NAMES, load_dataset
from cnn_vs_vit.data.subsets import stratified_subset, subset_hash, training_split

__all__ = [
    "DATASET_NAMES",
    "ImageDataset",
    "ProbeSample",
    "load_dataset",
    "probe_sample",
    "random_flip",
    "random_translate",
    "stratified_subset",
    "subset_hash",
    "training_split",
]
