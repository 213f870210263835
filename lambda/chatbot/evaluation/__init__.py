"""Offline evaluations of the chatbot's parts against labelled data and reference systems."""
