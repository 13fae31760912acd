"""Serving: a specialist loaded from its folder answers calls in the LLM's format (`specialist`); the router that
sends a task's calls to its champion lands here."""
