"""The journeys, one locustfile each; loadtest/locustfile.py runs them together in their mix."""
