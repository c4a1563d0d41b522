"""The command line: the only part of jaki that prints, prompts or exits."""
