"""The app's screens, one per file; each calls the engine only through `app.engine`."""
