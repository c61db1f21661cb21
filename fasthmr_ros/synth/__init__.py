"""Synthetic motion and simulated HMR errors for training and evaluating the temporal decoder."""
