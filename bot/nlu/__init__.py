"""Rasa NLU components for the assistant (custom graph components named in config.yml).

Keep this package import light: importing `bot.nlu` must not import Rasa. Each component lives in
its own module and is named in config.yml by its full path, e.g.
`bot.nlu.crisis_component.CrisisComponent`.
"""
