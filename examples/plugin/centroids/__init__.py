"""An example modelfleet plug-in: a model (``centroids.model``) and a source (``.source``)."""
