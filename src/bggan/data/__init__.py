"""Data: paired photos (EBB! layouts) and synthetic bokeh pairs."""
