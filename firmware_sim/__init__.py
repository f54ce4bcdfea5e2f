"""Simulated field devices speaking real protocols. Imports nothing of wire, edge or central."""
