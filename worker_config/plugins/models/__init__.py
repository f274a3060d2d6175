"""Built-in model plug-ins."""
