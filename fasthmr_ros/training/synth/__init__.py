"""Synthetic people and motion: rendered training scenes, sampled poses, motion clips, simulated HMR errors."""
