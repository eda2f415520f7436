"""Hyper-parameter search over the zoo with keras-tuner (and AutoKeras, later), on one machine or many."""
