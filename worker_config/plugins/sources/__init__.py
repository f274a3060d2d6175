"""Built-in input-source plug-ins."""
