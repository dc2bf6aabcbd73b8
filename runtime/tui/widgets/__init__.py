"""Widgets of the app, one per file; each shows something, none calls the engine itself."""
