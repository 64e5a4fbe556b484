"""studykit: compile Markdown question-and-answer notes into an Anki deck, a PDF cheat sheet and a study page."""

__version__ = "0.1.0"
