"""Evaluation: DAVIS J&F metrics and scoring of result folders or trackers."""
