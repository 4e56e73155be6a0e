"""The web UI: ``jobs`` (the work behind each tab, no gradio) and ``app`` (the gradio page,
imported only by ``brushwork serve``)."""
