"""The settings object every layer reads (``config.settings.Settings``): below flows/ and the CLI, so neither imports upwards."""
