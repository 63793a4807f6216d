"""Training, export and evaluation of portraitcli's bundled segmentation network."""
